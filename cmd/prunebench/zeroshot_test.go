package main

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
)

func TestZeroShotJSON(t *testing.T) {
	dir := datatest.Dir(t)
	samples := filepath.Join(t.TempDir(), "samples.jsonl")
	o := mustRun(t, "zeroshot", "--data-dir", dir, "--model", "stories260K", "--tasks", "rte,winogrande",
		"--limit", "5", "--json", "--samples", samples)
	var rep zeroshotReport
	decodeJSON(t, o.stdout, &rep, "model", "tasks", "mean_acc", "seconds")
	if len(rep.Tasks) != 2 {
		t.Fatalf("tasks %v: want rte and winogrande", rep.Tasks)
	}
	mean := 0.0
	for _, name := range []string{"rte", "winogrande"} {
		r, ok := rep.Tasks[name]
		if !ok {
			t.Fatalf("no result for %s", name)
		}
		if r.Docs != 5 || r.Limit != 5 || r.Requests != 10 {
			t.Errorf("%s: %d docs, limit %d, %d requests: want 5, 5 and 10 (two choices each)", name, r.Docs, r.Limit, r.Requests)
		}
		if r.Acc < 0 || r.Acc > 1 || r.AccStderr == nil || !finite(*r.AccStderr) {
			t.Errorf("%s: acc %g ± %v", name, r.Acc, r.AccStderr)
		}
		mean += r.Acc / 2
	}
	if math.Abs(rep.MeanAcc-mean) > 1e-12 {
		t.Errorf("mean_acc %g, want %g", rep.MeanAcc, mean)
	}

	// The samples file has the tasks' documents in order, rte first; each
	// task's acc is the mean of its lines' acc.
	f, err := os.Open(samples)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type sampleLine struct {
		Task string    `json:"task"`
		Doc  int       `json:"doc"`
		LL   []float64 `json:"ll"`
		Acc  *int      `json:"acc"`
	}
	var lines []sampleLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l sampleLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("samples line %d: %v: %s", len(lines)+1, err, sc.Text())
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 10 {
		t.Fatalf("%d sample lines, want 10", len(lines))
	}
	for ti, name := range []string{"rte", "winogrande"} {
		correct := 0
		for i, l := range lines[5*ti : 5*ti+5] {
			if l.Task != name || l.Doc != i || len(l.LL) != 2 || l.Acc == nil || (*l.Acc != 0 && *l.Acc != 1) {
				t.Errorf("%s sample %d: task %q doc %d, ll %v, acc %v", name, i, l.Task, l.Doc, l.LL, l.Acc)
				continue
			}
			for _, ll := range l.LL {
				if !finite(ll) || ll >= 0 {
					t.Errorf("%s sample %d: log-likelihood %g, want finite and < 0", name, i, ll)
				}
			}
			correct += *l.Acc
		}
		if got := float64(correct) / 5; got != rep.Tasks[name].Acc {
			t.Errorf("%s: samples give acc %g, report %g", name, got, rep.Tasks[name].Acc)
		}
	}
}

func TestZeroShotTable(t *testing.T) {
	dir := datatest.Dir(t)
	o := mustRun(t, "zeroshot", "--data-dir", dir, "--model", "stories260K", "--tasks", "arc_easy", "--limit", "3")
	for _, s := range []string{"TASK", "ACC NORM", "arc_easy", "mean acc"} {
		if !strings.Contains(o.stdout, s) {
			t.Errorf("table lacks %q:\n%s", s, o.stdout)
		}
	}
}
