package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/runners"
	"github.com/prunebench/prunebench/slurm"
)

// runCLI runs prunebench in this process.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// TestShardsMerge runs the tiny config as three shards, one of them
// twice, then merges them: the merged file holds exactly the runs of one
// uninterrupted run, and status says the sweep is done.
func TestShardsMerge(t *testing.T) {
	data := datatest.Dir(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "sweep", "r.jsonl")
	cfg := hConfig(t, dir, "tiny.yaml", out)
	want := hRefRecords(t)

	if err := os.MkdirAll(filepath.Join(dir, "sweep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("status", filepath.Join(dir, "sweep")); code != exitFail || !strings.Contains(stderr, "no shard heartbeat") {
		t.Errorf("status before any shard: exit %d, want 1 saying there is no shard heartbeat\n%s", code, stderr)
	}
	for _, shard := range []string{"2/3", "0/3", "1/3", "1/3"} {
		code, _, stderr := runCLI("run", cfg, "--shard", shard, "--data-dir", data)
		if code != exitOK {
			t.Fatalf("run --shard %s: exit %d\n%s", shard, code, stderr)
		}
	}
	for k := range 3 {
		sh := runners.Shard{Index: k, Count: 3}
		recs, _ := hRead(t, sh.Path(out))
		if n := len(sh.Runs(hTotalRuns)); len(recs) != n {
			t.Errorf("shard %v: %d records, want %d (once each, the second run of 1/3 resumed)", sh, len(recs), n)
		}
		hb, err := runners.ReadHeartbeat(sh.HeartbeatPath(out))
		if err != nil {
			t.Fatal(err)
		}
		if hb.State != runners.StateFinished || hb.Done != hb.ShardRuns || hb.Runs != hTotalRuns || hb.Config != "harness-tiny" {
			t.Errorf("shard %v heartbeat: %+v", sh, hb)
		}
	}
	// The dense run is the config's first: shard 0 records it.
	if recs, _ := hRead(t, runners.Shard{Index: 0, Count: 3}.Path(out)); recs[0].Method.Name != runners.Dense {
		t.Errorf("shard 0/3 starts with %s, want the dense run", hLabel(recs[0]))
	}

	parts, err := filepath.Glob(filepath.Join(dir, "sweep", "r.shard-*.jsonl"))
	if err != nil || len(parts) != 3 {
		t.Fatalf("parts %v, %v", parts, err)
	}
	if code, _, stderr := runCLI(append(append([]string{"merge"}, parts...), "-o", out)...); code != exitOK {
		t.Fatalf("merge: exit %d\n%s", code, stderr)
	}
	got, _ := hRead(t, out)
	hSameRuns(t, got, want)

	code, stdout, stderr := runCLI("status", filepath.Join(dir, "sweep"))
	if code != exitOK || !strings.Contains(stdout, "harness-tiny: 9 runs: 9 done, 0 running, 0 missing") {
		t.Errorf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	// Split another way, the sweep has nothing left to do: every run is
	// recorded in a file of the sweep.
	code, _, stderr = runCLI("run", cfg, "--shard", "1/2", "--data-dir", data)
	if code != exitOK || !strings.Contains(stderr, "run: 0 runs done now, 4 found in") {
		t.Errorf("run --shard 1/2 after the 3 shards: exit %d\n%s", code, stderr)
	}
	// status reads the results files beside the heartbeats, wherever the
	// directory is now (copied from a cluster, mounted elsewhere).
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(filepath.Join(dir, "sweep"), moved); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI("status", moved)
	if code != exitOK || !strings.Contains(stdout, "9 done, 0 running, 0 missing (results file "+filepath.Join(moved, "r.jsonl")+")") {
		t.Errorf("status of the moved sweep: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestMergeCLI: overlapping parts with the same records merge; a run
// recorded with other metrics is an error naming it; -o's own records are
// kept.
func TestMergeCLI(t *testing.T) {
	refs := hRefRecords(t)
	dir := t.TempDir()
	write := func(name string, recs ...results.Record) string {
		p := filepath.Join(dir, name)
		for _, r := range recs {
			if err := results.Append(p, r); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	a := write("a.jsonl", refs[:5]...)
	b := write("b.jsonl", refs[3:]...)
	conflict := refs[4]
	conflict.Metrics = map[string]float64{hMetric: conflict.Metrics[hMetric] * (1 + 1e-15)}
	c := write("c.jsonl", conflict)
	out := filepath.Join(dir, "merged.jsonl")
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		message string // in stderr
	}{
		{"overlapping identical", []string{a, b, "-o", out}, exitOK, "merge: 9 runs from 2 files in " + out},
		{"again, -o kept", []string{a, "-o", out}, exitOK, "merge: 9 runs from 2 files in " + out},
		{"conflict", []string{a, c, "-o", filepath.Join(dir, "x.jsonl")}, exitFail, "prunebench merge: run " + conflict.ID + " is recorded with different metrics in " + a + " and " + c},
		{"conflict with -o", []string{c, "-o", out}, exitFail, "run " + conflict.ID + " is recorded with different metrics in " + out + " and " + c},
		{"no -o", []string{a}, exitUsage, "want PARTS... -o RESULTS"},
		{"no parts", []string{"-o", out}, exitUsage, "want PARTS... -o RESULTS"},
		{"-o among parts", []string{a, out, "-o", out}, exitUsage, "is also a part"},
		{"missing part", []string{filepath.Join(dir, "none.jsonl"), "-o", out}, exitFail, "none.jsonl: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(out)
			code, stdout, stderr := runCLI(append([]string{"merge"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.message) || stdout != "" {
				t.Fatalf("merge %q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, stdout, stderr, tc.code, tc.message)
			}
			if code != exitOK {
				if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
					t.Errorf("a failed merge changed %s", out)
				}
				return
			}
			got, _ := hRead(t, out)
			hSameRuns(t, got, refs)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.jsonl")); err == nil {
		t.Error("a conflicting merge wrote its output")
	}
}

// TestStatusRunning: a live shard's run counts as running, a shard whose
// heartbeat stopped as lost, with its runs missing.
func TestStatusRunning(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	refs := hRefRecords(t)
	write := func(sh runners.Shard, hb runners.Heartbeat) {
		hb.Config, hb.Out, hb.Index, hb.Count, hb.Runs, hb.ShardRuns = "harness-tiny", out, sh.Index, sh.Count, hTotalRuns, 3
		b, err := json.Marshal(hb)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sh.HeartbeatPath(out), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	s0, s1 := runners.Shard{Index: 0, Count: 3}, runners.Shard{Index: 1, Count: 3}
	for _, r := range refs[:2] {
		if err := results.Append(s0.Path(out), r); err != nil {
			t.Fatal(err)
		}
	}
	write(s0, runners.Heartbeat{State: runners.StateRunning, Host: "n1", Started: now, Updated: now,
		Run: &runners.HeartbeatRun{ID: refs[2].ID, Label: "stories260K x", Since: now}})
	write(s1, runners.Heartbeat{State: runners.StateRunning, Host: "n2", Started: now, Updated: now.Add(-runners.HeartbeatStale - 1e9),
		Run: &runners.HeartbeatRun{ID: refs[3].ID, Label: "stories260K y", Since: now}})
	// Finished long ago is finished, not lost.
	write(runners.Shard{Index: 2, Count: 3}, runners.Heartbeat{State: runners.StateFinished, Done: 3, Host: "n3",
		Started: now.Add(-time.Hour), Updated: now.Add(-time.Hour)})
	// A sweep of prunebench slurm: status tells how to rerun the lost task.
	if err := os.WriteFile(filepath.Join(dir, slurm.ArrayScript), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("status", dir)
	if code != exitFail || !strings.Contains(stderr, "7 of 9 runs not recorded yet") {
		t.Errorf("status: exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"harness-tiny: 9 runs: 2 done, 1 running, 6 missing", "0/3", "running", "lost", "finished", "3/3",
		"rerun: J=$(sbatch --parsable --array=1 " + filepath.Join(dir, slurm.ArrayScript) + ") && sbatch --dependency=afterany:$J " + filepath.Join(dir, slurm.MergeScript)} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
}
