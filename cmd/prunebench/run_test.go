package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/runners"
)

// The experiment harness tests (run, table, compare, plot) share one tiny
// config: stories260K, 4 calibration windows of 64 tokens, perplexity on
// the first 2 windows of 128 tokens of WikiText-2, four methods at 0.5 and
// 2:4. Its 9 runs take about a second on an idle machine.

const (
	hMetric    = results.MetricWikiText2PPL
	hTotalRuns = 9 // dense + 4 methods × 2 sparsities
)

// hMethods are the methods of the tiny config, as YAML list items.
var hMethods = []string{"magnitude", "wanda", "sparsegpt", "admm-grad: {iters: 4, steps: 2}"}

// hConfigText is the tiny config with the given method items, writing to
// out.
func hConfigText(out string, methods []string) string {
	var b strings.Builder
	b.WriteString("name: harness-tiny\ntitle: prunebench harness test\nmodels: [stories260K]\n")
	b.WriteString("calibration: {nsamples: 4, seqlen: 64}\nmethods:\n")
	for _, m := range methods {
		fmt.Fprintf(&b, "  - %s\n", m)
	}
	b.WriteString("sparsities: [0.5, \"2:4\"]\n")
	b.WriteString("evaluate:\n  ppl:\n    - {dataset: wikitext2, seqlen: 128, max_windows: 2}\n")
	fmt.Fprintf(&b, "output: %s\n", strconv.Quote(out))
	return b.String()
}

// hConfig writes the tiny config (methods default hMethods) to dir/name
// and returns its path.
func hConfig(t *testing.T, dir, name, out string, methods ...string) string {
	t.Helper()
	if len(methods) == 0 {
		methods = hMethods
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(hConfigText(out, methods)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hRef is the results file of one uninterrupted run of the tiny config,
// made once per test binary and kept in memory: every test writes its own
// copy.
var hRef struct {
	once           sync.Once
	data           []byte
	stdout, stderr string
	took           time.Duration
	err            error
}

// hReference returns the reference results file's bytes.
func hReference(t *testing.T) []byte {
	t.Helper()
	dir := datatest.Dir(t)
	hRef.once.Do(func() {
		tmp, err := os.MkdirTemp("", "prunebench-harness-")
		if err != nil {
			hRef.err = err
			return
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, "reference.jsonl")
		cfg := filepath.Join(tmp, "tiny.yaml")
		if hRef.err = os.WriteFile(cfg, []byte(hConfigText(out, hMethods)), 0o644); hRef.err != nil {
			return
		}
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := run(context.Background(), []string{"run", cfg, "--data-dir", dir, "--json"}, &stdout, &stderr)
		hRef.took = time.Since(start)
		hRef.stdout, hRef.stderr = stdout.String(), stderr.String()
		if code != exitOK {
			hRef.err = fmt.Errorf("reference run: exit %d\nstderr:\n%s", code, stderr.String())
			return
		}
		hRef.data, hRef.err = os.ReadFile(out)
	})
	if hRef.err != nil {
		t.Fatal(hRef.err)
	}
	return hRef.data
}

// hWriteRef writes the reference results file to dir/name.
func hWriteRef(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, hReference(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hRefRecords are the reference's records, in file (= plan) order.
func hRefRecords(t *testing.T) []results.Record {
	t.Helper()
	recs, _ := hRead(t, hWriteRef(t, t.TempDir(), "reference.jsonl"))
	return recs
}

// hRead reads a results file, failing the test on any error.
func hRead(t *testing.T, path string) ([]results.Record, string) {
	t.Helper()
	recs, torn, err := results.Read(path)
	if err != nil {
		t.Fatalf("results.Read: %v", err)
	}
	return recs, torn
}

// hLines splits a results file into its lines, newlines kept.
func hLines(b []byte) [][]byte {
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

// hCompleteLines counts the newline-terminated lines of the file at path.
func hCompleteLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// hLabel names a record for messages and sub-test names.
func hLabel(r results.Record) string {
	if r.Pattern == "" {
		return r.Method.Name
	}
	return r.Method.Name + " " + r.Pattern
}

// hIDs lists the IDs of recs in order.
func hIDs(recs []results.Record) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// hSameRuns checks that got holds exactly the runs of want: the same IDs,
// and per ID the same method, pattern and metrics, floats compared exactly
// (same machine, same code).
func hSameRuns(t *testing.T, got, want []results.Record) {
	t.Helper()
	byID := map[string]results.Record{}
	for _, r := range got {
		byID[r.ID] = r
	}
	for _, w := range want {
		g, ok := byID[w.ID]
		if !ok {
			t.Errorf("run %s (%s) missing", w.ID, hLabel(w))
			continue
		}
		delete(byID, w.ID)
		if g.Method.Name != w.Method.Name || g.Pattern != w.Pattern || !reflect.DeepEqual(g.Method.Options, w.Method.Options) {
			t.Errorf("run %s: method %v pattern %q, want %v %q", w.ID, g.Method, g.Pattern, w.Method, w.Pattern)
		}
		if !maps.Equal(g.Metrics, w.Metrics) {
			t.Errorf("run %s (%s): metrics %v, want exactly %v", w.ID, hLabel(w), g.Metrics, w.Metrics)
		}
	}
	for id, r := range byID {
		t.Errorf("unexpected run %s (%s)", id, hLabel(r))
	}
}

var (
	// hSummary is run's last progress line.
	hSummary = regexp.MustCompile(`(?m)^run: (\d+) runs done now, (\d+) found in (.*)$`)
	// hStarted matches the progress lines of a run the sweep executes.
	hStarted = regexp.MustCompile(`(?m)^run ([0-9a-f]{16}): `)
)

// hResumed checks the stderr of a completed run: its summary says ran runs
// done now and found found in out, and the runs it executed are exactly
// those of want not in had.
func hResumed(t *testing.T, stderr, out string, want []results.Record, had []results.Record) {
	t.Helper()
	m := hSummary.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no \"run: N runs done now, M found\" line on stderr:\n%s", stderr)
	}
	ran, _ := strconv.Atoi(m[1])
	found, _ := strconv.Atoi(m[2])
	if found != len(had) || ran+found != len(want) || m[3] != out {
		t.Errorf("summary %q: want %d runs done now, %d found in %s", m[0], len(want)-len(had), len(had), out)
	}
	executed := map[string]bool{}
	for _, s := range hStarted.FindAllStringSubmatch(stderr, -1) {
		executed[s[1]] = true
	}
	skip := results.IDs(had)
	var missing []string
	for _, r := range want {
		if !skip[r.ID] {
			missing = append(missing, r.ID)
		}
	}
	if got := slices.Sorted(maps.Keys(executed)); !slices.Equal(got, slices.Sorted(slices.Values(missing))) {
		t.Errorf("executed runs %v, want the missing ones %v", got, missing)
	}
}

// hJSONRecords decodes run --json's stdout: one record per line.
func hJSONRecords(t *testing.T, stdout string) []results.Record {
	t.Helper()
	var recs []results.Record
	dec := json.NewDecoder(strings.NewReader(stdout))
	for dec.More() {
		var r results.Record
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("run --json stdout: %v\n%s", err, stdout)
		}
		recs = append(recs, r)
	}
	return recs
}

// hInterrupt starts `prunebench args…` in dir, waits until the results
// file out holds at least two complete records, sends sig and waits for
// the process to end. lost tells that the run completed before the signal
// reached it (a poll delayed on a loaded machine): the caller tries again.
func hInterrupt(t *testing.T, dir, out string, sig syscall.Signal, args ...string) (ws syscall.WaitStatus, stderr string, lost bool) {
	t.Helper()
	ch := startChild(t, dir, nil, args...)
	done := make(chan struct{})
	go func() {
		ch.cmd.Wait()
		close(done)
	}()
	exited := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	if !waitFor(context.Background(), 3*time.Minute, func() bool { return exited() || hCompleteLines(out) >= 2 }) {
		ch.cmd.Process.Kill()
		<-done
		t.Fatalf("no two records in %s after 3 minutes; stderr:\n%s", out, ch.stderr.String())
	}
	if !exited() {
		ch.cmd.Process.Signal(sig) // an error means it has just exited
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		ch.cmd.Process.Kill()
		<-done
		t.Fatalf("still running 2 minutes after %v; stderr:\n%s", sig, ch.stderr.String())
	}
	ws = ch.cmd.ProcessState.Sys().(syscall.WaitStatus)
	stderr = ch.stderr.String()
	if ws.Exited() && ws.ExitStatus() == exitOK && hCompleteLines(out) == hTotalRuns {
		return ws, stderr, true
	}
	return ws, stderr, false
}

// TestRunResume is the harness's must-show: a run stopped by SIGINT or
// SIGKILL leaves complete records only, and running the config again does
// the missing runs alone and ends with the same runs and the same numbers,
// to the bit, as an uninterrupted run.
func TestRunResume(t *testing.T) {
	dir := datatest.Dir(t)
	ref := hRefRecords(t)

	t.Run("reference", func(t *testing.T) {
		t.Logf("uninterrupted run of %d runs took %v", len(ref), hRef.took.Round(time.Millisecond))
		if len(ref) != hTotalRuns || bytes.Count(hReference(t), []byte("\n")) != hTotalRuns {
			t.Fatalf("%d records in %d lines, want %d", len(ref), bytes.Count(hReference(t), []byte("\n")), hTotalRuns)
		}
		if ref[0].Method.Name != results.MethodDense || ref[0].Pattern != "" || ref[0].Calibration != nil {
			t.Errorf("first run %s, want the dense one without pattern or calibration", hLabel(ref[0]))
		}
		for _, r := range ref {
			if v, ok := r.Metrics[hMetric]; !ok || !finite(v) || v <= 1 || r.Config != "harness-tiny" {
				t.Errorf("run %s (%s): config %q, metrics %v", r.ID, hLabel(r), r.Config, r.Metrics)
			}
			if len(r.PPL) != 1 || r.PPL[0].SeqLen != 128 || r.PPL[0].MaxWindows != 2 || r.PPL[0].Windows != 2 || r.PPL[0].PPL != r.Metrics[hMetric] {
				t.Errorf("run %s (%s): ppl details %+v", r.ID, hLabel(r), r.PPL)
			}
			if c := r.Calibration; r.Pattern != "" && (c == nil || c.NSamples != 4 || c.SeqLen != 64 || c.Tokens < 4*64) {
				t.Errorf("run %s (%s): calibration %+v, want 4×64", r.ID, hLabel(r), c)
			}
		}
		if !strings.Contains(hRef.stderr, fmt.Sprintf("run: %d runs done now, 0 found in ", hTotalRuns)) {
			t.Errorf("stderr lacks the summary:\n%s", hRef.stderr)
		}
		// --json prints the records as the file holds them.
		hSameRuns(t, hJSONRecords(t, hRef.stdout), ref)
	})

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGKILL: "SIGKILL"}[sig]
		t.Run(name, func(t *testing.T) {
			work := t.TempDir()
			// The config's own output, not --out: that is where both runs
			// write.
			out := filepath.Join(work, "results.jsonl")
			cfg := hConfig(t, work, "tiny.yaml", out)
			args := []string{"run", cfg, "--data-dir", dir}
			var ws syscall.WaitStatus
			var stderr string
			for attempt := 1; ; attempt++ {
				os.Remove(out)
				var lost bool
				ws, stderr, lost = hInterrupt(t, work, out, sig, args...)
				if !lost {
					break
				}
				if attempt == 3 {
					t.Fatalf("the run completed before the %s reached it, %d times; stderr:\n%s", name, attempt, stderr)
				}
				t.Logf("attempt %d: the run completed before the signal; again", attempt)
			}
			switch sig {
			case syscall.SIGINT:
				if !ws.Exited() || ws.ExitStatus() != 130 {
					t.Errorf("wait status %v, want exit 130; stderr:\n%s", ws, stderr)
				}
				// The finished runs were written: the line must not say that
				// nothing was.
				if last := lastLine(stderr); !strings.Contains(last, "interrupted by interrupt") || strings.Contains(last, "nothing was written") {
					t.Errorf("last stderr line %q: want the interruption, and that the finished runs are kept", last)
				}
			case syscall.SIGKILL:
				if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Errorf("wait status %v, want killed by SIGKILL", ws)
				}
			}
			had, torn := hRead(t, out)
			raw, _ := os.ReadFile(out)
			t.Logf("%s left %d records in %d bytes", name, len(had), len(raw))
			if torn != "" {
				if sig != syscall.SIGKILL {
					t.Errorf("%s left a torn line: %s", name, torn)
				}
				t.Logf("torn line: %s", torn)
			} else if len(raw) > 0 && raw[len(raw)-1] != '\n' {
				t.Errorf("the file ends without a newline")
			}
			if len(had) < 2 {
				t.Fatalf("%d records, want at least 2", len(had))
			}
			// What was recorded before the signal is already final.
			refByID := map[string]results.Record{}
			for _, r := range ref {
				refByID[r.ID] = r
			}
			for _, r := range had {
				if w, ok := refByID[r.ID]; !ok || !maps.Equal(r.Metrics, w.Metrics) {
					t.Errorf("record %s (%s) %v is not the reference's %v", r.ID, hLabel(r), r.Metrics, w.Metrics)
				}
			}
			if sig == syscall.SIGINT {
				es, _ := os.ReadDir(work)
				for _, e := range es {
					if e.Name() != "tiny.yaml" && e.Name() != "results.jsonl" {
						t.Errorf("left %s behind", e.Name())
					}
				}
			}

			o := runChild(t, work, append(args, "--json")...)
			if o.code != exitOK {
				t.Fatalf("resumed run: exit %d\nstderr:\n%s", o.code, o.stderr)
			}
			hResumed(t, o.stderr, out, ref, had)
			if torn != "" && !strings.Contains(o.stderr, "torn last line") {
				t.Errorf("the resumed run did not report the torn line:\n%s", o.stderr)
			}
			hSameRuns(t, hJSONRecords(t, o.stdout), ref)
			final, torn := hRead(t, out)
			if torn != "" {
				t.Errorf("torn line after the resumed run: %s", torn)
			}
			if n := hCompleteLines(out); n != hTotalRuns {
				t.Errorf("%d lines after the resumed run, want %d", n, hTotalRuns)
			}
			hSameRuns(t, final, ref)
		})
	}

	// Torn and unterminated last lines, made by hand: a SIGKILL lands
	// inside the one write of a record too rarely to rely on.
	refBytes := hReference(t)
	lines := hLines(refBytes)
	var magnitude [][]byte // the magnitude runs' lines
	var rest []byte        // the file without them
	for i, l := range lines {
		if ref[i].Method.Name == "magnitude" {
			magnitude = append(magnitude, l)
		} else {
			rest = append(rest, l...)
		}
	}
	if len(magnitude) != 2 {
		t.Fatalf("%d magnitude runs, want 2", len(magnitude))
	}
	half := magnitude[0][:len(magnitude[0])/2]
	cases := []struct {
		name    string
		content []byte
		ran     int
		torn    bool
	}{
		// Nothing is appended, so the torn line stays; it is reported.
		{"torn line after every run", append(slices.Clone(refBytes), half...), 0, true},
		// The next append cuts it off.
		{"torn line of a missing run", append(slices.Clone(rest), half...), 2, true},
		// A whole record without its newline counts; the next append
		// gives it one.
		{"record without its newline", bytes.TrimSuffix(rest, []byte("\n")), 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			out := filepath.Join(work, "torn.jsonl")
			if err := os.WriteFile(out, c.content, 0o644); err != nil {
				t.Fatal(err)
			}
			had, torn := hRead(t, out)
			if (torn != "") != c.torn || len(had) != hTotalRuns-c.ran {
				t.Fatalf("before: %d records, torn %q", len(had), torn)
			}
			cfg := hConfig(t, work, "tiny.yaml", filepath.Join(work, "unused.jsonl"))
			o := runChild(t, work, "run", cfg, "--data-dir", dir, "--out", out)
			if o.code != exitOK {
				t.Fatalf("exit %d\nstderr:\n%s", o.code, o.stderr)
			}
			if strings.Contains(o.stderr, "torn last line") != c.torn {
				t.Errorf("torn line reported: %v, want %v; stderr:\n%s", !c.torn, c.torn, o.stderr)
			}
			hResumed(t, o.stderr, out, ref, had)
			final, torn := hRead(t, out)
			hSameRuns(t, final, ref)
			if c.ran > 0 {
				b, _ := os.ReadFile(out)
				if torn != "" || len(b) == 0 || b[len(b)-1] != '\n' || bytes.Count(b, []byte("\n")) != hTotalRuns {
					t.Errorf("after appending: %d lines, torn %q, last byte %q; want %d complete lines", bytes.Count(b, []byte("\n")), torn, b[len(b)-1:], hTotalRuns)
				}
			}
			if !strings.Contains(o.stdout, "magnitude") {
				t.Errorf("no table on stdout:\n%s", o.stdout)
			}
			if _, err := os.Stat(filepath.Join(work, "unused.jsonl")); err == nil {
				t.Errorf("--out did not replace the config's output")
			}
		})
	}
}

// hDryRun runs `run CONFIG --dry-run --json` and decodes its array,
// checking the keys of every element.
func hDryRun(t *testing.T, args ...string) []dryRun {
	t.Helper()
	o := mustRun(t, append([]string{"run"}, append(args, "--dry-run", "--json")...)...)
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(o.stdout), &raw); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, o.stdout)
	}
	for i, r := range raw {
		want := []string{"id", "model", "method", "done"}
		if i > 0 {
			want = append(want, "pattern")
		}
		for _, k := range want {
			if _, ok := r[k]; !ok {
				t.Errorf("run %d lacks %q: %v", i, k, r)
			}
		}
	}
	var runs []dryRun
	if err := json.Unmarshal([]byte(o.stdout), &runs); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(o.stderr, "runs done now") {
		t.Errorf("a dry run ran:\n%s", o.stderr)
	}
	return runs
}

// TestRunDryRun checks run --dry-run: the runs' IDs are those the run
// records, every resolved option (defaults included) is listed, an option
// spelled out at its default changes no ID, and one that matters changes
// the ID of its runs only.
func TestRunDryRun(t *testing.T) {
	dir := datatest.Dir(t)
	ref := hRefRecords(t)
	work := t.TempDir()
	refPath := hWriteRef(t, work, "reference.jsonl")
	cfg := hConfig(t, work, "tiny.yaml", refPath)

	runs := hDryRun(t, cfg, "--data-dir", dir)
	if b, _ := os.ReadFile(refPath); !bytes.Equal(b, hReference(t)) {
		t.Errorf("a dry run changed the results file")
	}
	if got, want := hIDs(hRecordsOf(runs)), hIDs(ref); !slices.Equal(got, want) {
		t.Fatalf("dry-run IDs %v, want the recorded ones %v", got, want)
	}
	for i, r := range runs {
		w := ref[i]
		if !r.Done || r.Model != "stories260K" || r.Method.Name != w.Method.Name || r.Pattern != w.Pattern {
			t.Errorf("run %d: %+v, want done, stories260K, %s", i, r, hLabel(w))
		}
		// The listed options are those the record holds, defaults included.
		if !reflect.DeepEqual(r.Method.Options, w.Method.Options) || !slices.Equal(r.Method.Keys, w.Method.Keys) {
			t.Errorf("run %d (%s): options %v %v, recorded %v %v", i, hLabel(w), r.Method.Keys, r.Method.Options, w.Method.Keys, w.Method.Options)
		}
		if (r.Seed == nil) != (r.Method.Name == results.MethodDense) {
			t.Errorf("run %d (%s): seed %v", i, hLabel(w), r.Seed)
		}
		given := map[string]any{}
		switch r.Method.Name {
		case results.MethodDense, "magnitude", "wanda":
			if len(r.Method.Options) != 0 {
				t.Errorf("%s has options %v", r.Method.Name, r.Method.Options)
			}
			continue
		case "sparsegpt":
			if r.Method.Options["percdamp"] != 0.01 || r.Method.Options["blocksize"] != 128.0 {
				t.Errorf("sparsegpt options %v, want percdamp 0.01 and blocksize 128", r.Method.Options)
			}
		case "admm-grad":
			given = map[string]any{"iters": 4, "steps": 2}
		}
		opts, err := runners.MethodOptions(r.Method.Name)
		if err != nil {
			t.Fatal(err)
		}
		// Every option, but those at their neutral value (relax 1).
		recorded := 0
		for _, o := range opts {
			want, ok := given[o.Name]
			if !ok {
				want = o.Default
			}
			got, in := r.Method.Options[o.JSONKey()]
			if o.Neutral != nil && want == o.Neutral {
				if in {
					t.Errorf("%s %s: %v recorded at its neutral value", r.Method.Name, o.JSONKey(), got)
				}
				continue
			}
			recorded++
			if runners.FormatValue(got) != runners.FormatValue(want) {
				t.Errorf("%s %s: %v, want %v", r.Method.Name, o.JSONKey(), got, want)
			}
		}
		if len(r.Method.Options) != recorded {
			t.Errorf("%s: %d options %v, want %d", r.Method.Name, len(r.Method.Options), r.Method.Options, recorded)
		}
	}

	t.Run("fresh results file", func(t *testing.T) {
		fresh := filepath.Join(t.TempDir(), "fresh.jsonl")
		for i, r := range hDryRun(t, cfg, "--data-dir", dir, "--out", fresh) {
			if r.Done || r.ID != ref[i].ID {
				t.Errorf("run %d: %+v, want not done, ID %s", i, r, ref[i].ID)
			}
		}
		if _, err := os.Stat(fresh); err == nil {
			t.Errorf("a dry run created %s", fresh)
		}
	})

	t.Run("table", func(t *testing.T) {
		o := mustRun(t, "run", cfg, "--data-dir", dir, "--dry-run")
		upper := strings.ToUpper(o.stdout)
		for _, h := range []string{"ID", "MODEL", "METHOD", "PATTERN", "OPTIONS", "RECORDED", "PERCDAMP=0.01", "BLOCKSIZE=128"} {
			if !strings.Contains(upper, h) {
				t.Errorf("dry-run table lacks %q:\n%s", h, o.stdout)
			}
		}
		for _, r := range ref {
			if !strings.Contains(o.stdout, r.ID) {
				t.Errorf("dry-run table lacks %s", r.ID)
			}
		}
		if n := strings.Count(o.stdout, "done"); n != hTotalRuns {
			t.Errorf("%d runs marked done, want %d:\n%s", n, hTotalRuns, o.stdout)
		}
	})

	t.Run("defaults spelled out", func(t *testing.T) {
		c := hConfig(t, t.TempDir(), "defaults.yaml", refPath, "magnitude", "wanda",
			"sparsegpt: {blocksize: 128, percdamp: 0.01}", "admm-grad: {iters: 4, steps: 2, rho: 1, schedule: cubic}")
		if got := hIDs(hRecordsOf(hDryRun(t, c, "--data-dir", dir))); !slices.Equal(got, hIDs(ref)) {
			t.Errorf("IDs %v, want %v", got, hIDs(ref))
		}
	})

	t.Run("blocksize 64", func(t *testing.T) {
		c := hConfig(t, t.TempDir(), "bs64.yaml", refPath, "magnitude", "wanda", "sparsegpt: {blocksize: 64}", hMethods[3])
		got := hDryRun(t, c, "--data-dir", dir)
		if len(got) != len(ref) {
			t.Fatalf("%d runs, want %d", len(got), len(ref))
		}
		seen := map[string]bool{}
		for i, r := range got {
			sg := ref[i].Method.Name == "sparsegpt"
			if (r.ID != ref[i].ID) != sg || r.Done == sg || seen[r.ID] {
				t.Errorf("run %d (%s): ID %s done %v, reference %s", i, hLabel(ref[i]), r.ID, r.Done, ref[i].ID)
			}
			seen[r.ID] = true
			if sg && r.Method.Options["blocksize"] != 64.0 {
				t.Errorf("sparsegpt options %v, want blocksize 64", r.Method.Options)
			}
		}
	})
}

// hRecordsOf turns dry-run entries into records holding their IDs.
func hRecordsOf(runs []dryRun) []results.Record {
	recs := make([]results.Record, len(runs))
	for i, r := range runs {
		recs[i] = results.Record{ID: r.ID, Method: r.Method, Pattern: r.Pattern}
	}
	return recs
}

// TestRunMatchesPrune checks that every number of the sweep equals what
// the single-run verbs give for the same settings and windows: prune
// --eval ppl for each pruned run, ppl for the dense one. The sweep prunes
// one loaded model again and again (restoring the dense weights) and
// shares the calibration windows; a verb loads and calibrates afresh.
func TestRunMatchesPrune(t *testing.T) {
	dir := datatest.Dir(t)
	for _, r := range hRefRecords(t) {
		t.Run(hLabel(r), func(t *testing.T) {
			want := r.Metrics[hMetric]
			if r.Method.Name == results.MethodDense {
				o := mustRun(t, "ppl", "--data-dir", dir, "--model", "stories260K", "--seqlen", "128", "--max-windows", "2", "--json")
				var rep pplReport
				decodeJSON(t, o.stdout, &rep, "ppl", "windows", "scored")
				if rep.PPL != want || rep.Windows != r.PPL[0].Windows || rep.Scored != r.PPL[0].Scored {
					t.Errorf("ppl %v over %d windows (%d scored); the sweep's dense run: %v over %d (%d)",
						rep.PPL, rep.Windows, rep.Scored, want, r.PPL[0].Windows, r.PPL[0].Scored)
				}
				return
			}
			args := []string{"prune", "--data-dir", dir, "--model", "stories260K", "--method", r.Method.Name}
			for _, k := range slices.Sorted(maps.Keys(r.Method.Options)) {
				args = append(args, "--"+strings.ReplaceAll(k, "_", "-")+"="+runners.FormatValue(r.Method.Options[k]))
			}
			args = append(args, "--sparsity", r.Pattern, "--nsamples", "4", "--seqlen", "64",
				"--eval", "ppl", "--eval-seqlen", "128", "--max-windows", "2", "--json")
			o := mustRun(t, args...)
			var rep pruneReport
			decodeJSON(t, o.stdout, &rep, "method", "achieved_sparsity", "mean_rel_error", "ppl")
			if rep.PPL == nil {
				t.Fatalf("no ppl in %s", o.stdout)
			}
			if rep.PPL.PPL != want {
				t.Errorf("prune %s: ppl %v, the sweep recorded %v (differs by %g)", strings.Join(args[5:], " "), rep.PPL.PPL, want, rep.PPL.PPL-want)
			}
			if rep.Achieved != *r.Achieved || rep.MeanRelError != r.Layers.MeanRelError {
				t.Errorf("sparsity %v, mean rel. error %v; the sweep recorded %v, %v", rep.Achieved, rep.MeanRelError, *r.Achieved, r.Layers.MeanRelError)
			}
			if !reflect.DeepEqual(rep.Method.Options, r.Method.Options) || rep.Sparsity != r.Pattern {
				t.Errorf("prune resolved %v %s, the sweep %v %s", rep.Method, rep.Sparsity, r.Method, r.Pattern)
			}
			if rep.Calib.Tokens != r.Calibration.Tokens {
				t.Errorf("calibration of %d tokens, the sweep's %d", rep.Calib.Tokens, r.Calibration.Tokens)
			}
		})
	}
}

// TestRunFailedRuns runs a config whose second model's perplexity
// overflows: its runs fail and are listed, the first model's runs are
// recorded and tabulated, the exit status is 1 with or without --json,
// and a second run retries only the failed runs.
func TestRunFailedRuns(t *testing.T) {
	dir := datatest.Dir(t)
	overflow := hfCopy(t)
	mapTensor(t, overflow, "model.embed_tokens.weight", func(v []float32) {
		for i := range v {
			v[i] *= 1e6
		}
	})
	work := t.TempDir()
	out := filepath.Join(work, "results.jsonl")
	text := strings.Replace(hConfigText(out, []string{"magnitude"}), "models: [stories260K]",
		"models: [stories260K, "+strconv.Quote(overflow)+"]", 1)
	text = strings.Replace(text, `sparsities: [0.5, "2:4"]`, "sparsities: [0.5]", 1)
	cfg := filepath.Join(work, "two-models.yaml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, o proc, ran, found int) {
		t.Helper()
		if o.code != exitFail {
			t.Errorf("exit %d, want 1", o.code)
		}
		if last := lastLine(o.stderr); !strings.Contains(last, "2 of 4 runs failed") || !strings.Contains(last, out) {
			t.Errorf("last stderr line %q, want 2 of 4 runs failed and the results file", last)
		}
		if n := strings.Count(o.stderr, "\nrun failed: "); n != 2 || !strings.Contains(o.stderr, "overflows") {
			t.Errorf("%d \"run failed\" lines, want 2 naming the overflow:\n%s", n, o.stderr)
		}
		if !strings.Contains(o.stderr, fmt.Sprintf("run: %d runs done now, %d found in %s", ran, found, out)) {
			t.Errorf("summary: want %d runs done now, %d found:\n%s", ran, found, o.stderr)
		}
		recs, torn := hRead(t, out)
		if len(recs) != 2 || torn != "" || hCompleteLines(out) != 2 {
			t.Fatalf("%d records (torn %q), want the 2 of stories260K", len(recs), torn)
		}
		for _, r := range recs {
			if r.Model.Name != "stories260K" {
				t.Errorf("record of %s", r.Model.Name)
			}
		}
	}
	o := runChild(t, work, "run", cfg, "--data-dir", dir)
	check(t, o, 2, 0)
	if !strings.Contains(o.stdout, "dense") || !strings.Contains(o.stdout, "magnitude") {
		t.Errorf("no table of the recorded runs:\n%s", o.stdout)
	}
	failed := map[string]bool{}
	for _, m := range regexp.MustCompile(`run ([0-9a-f]{16}): failed`).FindAllStringSubmatch(o.stderr, -1) {
		failed[m[1]] = true
	}

	t.Run("again with --json", func(t *testing.T) {
		o := runChild(t, work, "run", cfg, "--data-dir", dir, "--json")
		check(t, o, 0, 2)
		if recs := hJSONRecords(t, o.stdout); len(recs) != 2 {
			t.Errorf("%d records on stdout, want 2", len(recs))
		}
		executed := map[string]bool{}
		for _, s := range hStarted.FindAllStringSubmatch(o.stderr, -1) {
			executed[s[1]] = true
		}
		if len(failed) != 2 || !maps.Equal(executed, failed) {
			t.Errorf("retried %v, want the failed runs %v", executed, failed)
		}
	})
}
