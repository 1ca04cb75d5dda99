package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prunebench/prunebench/internal/datatest"
)

// resumePrune is the must-show command of issue 9: ADMM-Grad on 8×128
// calibration tokens of stories260K, saved to out (about 0.15 s a block).
func resumePrune(dir, out string, more ...string) []string {
	return append([]string{"prune", "--data-dir", dir, "--model", "stories260K", "--method", "admm-grad", "--sparsity", "0.5",
		"--nsamples", "8", "--seqlen", "128", "--out", out, "--json"}, more...)
}

// blocksDone reads how many blocks the state beside out holds (-1: none
// yet or unreadable).
func blocksDone(out string) int {
	raw, err := os.ReadFile(filepath.Join(out+".prune-state", "manifest.json"))
	if err != nil {
		return -1
	}
	var env struct {
		State struct {
			Done int `json:"blocks_done"`
		} `json:"state"`
	}
	if json.Unmarshal(raw, &env) != nil {
		return -1
	}
	return env.State.Done
}

// killWait sends sig to the child and waits for it to end, by that signal
// or (it finished first) on its own; it returns the exit code, 128+signal
// for a signal.
func killWait(t *testing.T, ch *child, sig syscall.Signal) int {
	t.Helper()
	ch.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- ch.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		ch.cmd.Process.Kill()
		<-done
		t.Fatalf("still running a minute after %v\nstderr:\n%s", sig, ch.stderr.String())
	}
	if ws, ok := ch.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ch.cmd.ProcessState.ExitCode()
}

// sameFiles checks that every file of the saved model want is in got, byte
// for byte, and nothing else.
func sameFiles(t *testing.T, got, want string) {
	t.Helper()
	names := func(dir string) []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	if g, w := names(got), names(want); !slices.Equal(g, w) {
		t.Fatalf("%s holds %v, the uninterrupted run's %v", got, g, w)
	}
	for _, n := range names(want) {
		a, errA := os.ReadFile(filepath.Join(want, n))
		b, errB := os.ReadFile(filepath.Join(got, n))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from the uninterrupted run's (%d and %d bytes; %v, %v)", filepath.Join(got, n), len(b), len(a), errA, errB)
		}
	}
}

type resumeReport struct {
	Achieved     float64 `json:"achieved_sparsity"`
	MeanRelError float64 `json:"mean_rel_error"`
	Resumed      int     `json:"resumed_blocks"`
}

func parseReport(t *testing.T, o proc) resumeReport {
	t.Helper()
	var r resumeReport
	if err := json.Unmarshal([]byte(o.stdout), &r); err != nil {
		t.Fatalf("report %q: %v\nstderr:\n%s", o.stdout, err, o.stderr)
	}
	return r
}

// reference runs the command uninterrupted.
func resumeReference(t *testing.T, dir, work string) (string, resumeReport) {
	t.Helper()
	ref := filepath.Join(work, "ref")
	o := runChild(t, work, resumePrune(dir, ref)...)
	if o.code != exitOK {
		t.Fatalf("uninterrupted run: exit %d\n%s", o.code, o.stderr)
	}
	return ref, parseReport(t, o)
}

// TestResumeAfterSIGKILL is issue 9's must-show: a prune killed with
// SIGKILL after block k and restarted with the same command saves the
// same safetensors, byte for byte, as an uninterrupted run, and leaves no
// state behind.
func TestResumeAfterSIGKILL(t *testing.T) {
	dir := datatest.Dir(t)
	work := t.TempDir()
	ref, want := resumeReference(t, dir, work)
	for _, k := range []int{0, 2} {
		t.Run(fmt.Sprint("after block ", k+1), func(t *testing.T) {
			out := filepath.Join(work, fmt.Sprint("pruned", k))
			ch := startChild(t, work, nil, resumePrune(dir, out)...)
			if !waitFor(context.Background(), time.Minute, func() bool { return blocksDone(out) >= k+1 }) {
				ch.cmd.Process.Kill()
				t.Fatalf("the state never showed block %d; stderr:\n%s", k+1, ch.stderr.String())
			}
			if code := killWait(t, ch, syscall.SIGKILL); code != 128+int(syscall.SIGKILL) {
				t.Fatalf("exit %d before the kill landed: the run is too fast for this test\nstderr:\n%s", code, ch.stderr.String())
			}
			done := blocksDone(out)
			t.Logf("killed with %d of 5 blocks kept", done)
			if done < k+1 || done > 4 {
				t.Fatalf("killed with %d blocks kept, want %d..4", done, k+1)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("the killed run left %s", out)
			}
			o := runChild(t, work, resumePrune(dir, out)...)
			if o.code != exitOK {
				t.Fatalf("restart: exit %d\n%s", o.code, o.stderr)
			}
			wantLine := fmt.Sprintf("blocks 1–%d of 5 pruned already, going on with block %d", done, done+1)
			if !strings.Contains(o.stderr, wantLine) {
				t.Errorf("restart's stderr lacks %q:\n%s", wantLine, o.stderr)
			}
			got := parseReport(t, o)
			if got.Resumed != done || got.Achieved != want.Achieved || got.MeanRelError != want.MeanRelError {
				t.Errorf("report %+v, uninterrupted %+v; want %d blocks resumed", got, want, done)
			}
			sameFiles(t, out, ref)
			if _, err := os.Stat(out + ".prune-state"); err == nil {
				t.Errorf("the state is still there after success")
			}
		})
	}
}

// TestResumeKillLoop kills the same prune at random moments — inside a
// block, while the state or the output is being written — and restarts it
// until a run finishes: the saved model is the uninterrupted run's, byte
// for byte.
func TestResumeKillLoop(t *testing.T) {
	dir := datatest.Dir(t)
	work := t.TempDir()
	ref, _ := resumeReference(t, dir, work)
	out := filepath.Join(work, "pruned")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt == 10 {
			t.Fatalf("no run finished in 10 attempts")
		}
		before := blocksDone(out)
		ch := startChild(t, work, nil, resumePrune(dir, out)...)
		// Once the run has kept one more block than it found (so that
		// every attempt gets further, however loaded the machine), a
		// random moment in the next block, the state's writes or the save.
		further := func() bool {
			d := blocksDone(out)
			_, err := os.Stat(out)
			// More blocks kept; or the state gone, the run saved and done.
			return d > before || before >= 0 && d < 0 || err == nil
		}
		if !waitFor(context.Background(), time.Minute, further) {
			ch.cmd.Process.Kill()
			t.Fatalf("no block kept in a minute; stderr:\n%s", ch.stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		code := killWait(t, ch, syscall.SIGKILL)
		if code == exitOK {
			t.Logf("finished after %d kills", kills)
			break
		}
		if code == exitFail && strings.Contains(ch.stderr.String(), "already exists and is not empty") {
			// The one window left: killed after the output was saved and
			// before the state was removed. The output is complete.
			t.Logf("killed between the save and the state's removal")
			break
		}
		if code != 128+int(syscall.SIGKILL) {
			t.Fatalf("exit %d\nstderr:\n%s", code, ch.stderr.String())
		}
		kills++
		t.Logf("kill %d: %d blocks kept (%d at the start)", kills, blocksDone(out), before)
	}
	if kills == 0 {
		t.Log("no kill landed before the end")
	}
	sameFiles(t, out, ref)
	if es, _ := os.ReadDir(work); len(es) != 2 {
		// A kill during the save leaves its temporary directory, which
		// only a signal handler could remove.
		t.Logf("the directory holds %v", es)
	}
}

// TestResumeAfterSIGINT: an interrupted prune keeps its finished blocks
// and says so; the same command finishes it with the same model.
func TestResumeAfterSIGINT(t *testing.T) {
	dir := datatest.Dir(t)
	work := t.TempDir()
	ref, _ := resumeReference(t, dir, work)
	out := filepath.Join(work, "pruned")
	ch := startChild(t, work, nil, resumePrune(dir, out)...)
	if !waitFor(context.Background(), time.Minute, func() bool { return blocksDone(out) >= 2 }) {
		ch.cmd.Process.Kill()
		t.Fatalf("the state never showed block 2; stderr:\n%s", ch.stderr.String())
	}
	if code := killWait(t, ch, syscall.SIGINT); code != 130 {
		t.Fatalf("exit %d, want 130\nstderr:\n%s", code, ch.stderr.String())
	}
	done := blocksDone(out)
	wantLine := fmt.Sprintf("blocks 1–%d of 5 are kept in %s.prune-state; the same command resumes from block %d", done, out, done+1)
	if !strings.Contains(ch.stderr.String(), wantLine) {
		t.Errorf("stderr lacks %q:\n%s", wantLine, ch.stderr.String())
	}
	if !strings.Contains(lastLine(ch.stderr.String()), "interrupted by interrupt") {
		t.Errorf("last line %q", lastLine(ch.stderr.String()))
	}
	if o := runChild(t, work, resumePrune(dir, out)...); o.code != exitOK || parseReport(t, o).Resumed != done {
		t.Fatalf("restart: exit %d\n%s", o.code, o.stderr)
	}
	sameFiles(t, out, ref)
}

// TestResumeFlags: the state flags' usage errors, a state of other
// settings refused with a message naming it and --fresh, and --fresh.
func TestResumeFlags(t *testing.T) {
	dir := datatest.Dir(t)
	work := t.TempDir()
	out := filepath.Join(work, "pruned")
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--resume=false", "--state", filepath.Join(work, "s")}, "--resume=false keeps no state"},
		{[]string{"--resume=false", "--fresh"}, "--resume=false keeps no state"},
		{[]string{"--state", filepath.Join(out, "state")}, "the state directory must lie outside the output directory"},
		{[]string{"--state", out}, "the state directory must lie outside the output directory"},
	} {
		o := runChild(t, work, resumePrune(dir, out, c.args...)...)
		if o.code != exitUsage || !strings.Contains(o.stderr, c.msg) || strings.Count(o.stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q: want 2 and one line with %q", c.args, o.code, o.stderr, c.msg)
		}
	}
	noOut := []string{"prune", "--data-dir", dir, "--model", "stories260K", "--method", "wanda", "--sparsity", "0.5", "--fresh"}
	if o := runChild(t, work, noOut...); o.code != exitUsage || !strings.Contains(o.stderr, "--fresh discards a state: it needs --out or --state") {
		t.Errorf("--fresh alone: exit %d, %q", o.code, o.stderr)
	}
	if es, _ := os.ReadDir(work); len(es) != 0 {
		t.Errorf("usage errors left %v", es)
	}

	// A state of other settings: kill a run after block 1, rerun with
	// another sparsity.
	ch := startChild(t, work, nil, resumePrune(dir, out)...)
	if !waitFor(context.Background(), time.Minute, func() bool { return blocksDone(out) >= 1 }) {
		ch.cmd.Process.Kill()
		t.Fatalf("no state; stderr:\n%s", ch.stderr.String())
	}
	killWait(t, ch, syscall.SIGKILL)
	other := resumePrune(dir, out)
	other[slices.Index(other, "0.5")] = "0.6"
	o := runChild(t, work, other...)
	want := "--state " + out + ".prune-state holds blocks 1–"
	if o.code != exitFail || !strings.Contains(o.stderr, want) || !strings.Contains(o.stderr, "of another run (admm-grad 0.5 of stories260K") ||
		!strings.Contains(o.stderr, "--fresh") || strings.Count(o.stderr, "\n") != 1 {
		t.Errorf("other settings: exit %d, stderr %q: want 1 and one line with %q", o.code, o.stderr, want)
	}
	o = runChild(t, work, append(other, "--fresh")...)
	if o.code != exitOK || parseReport(t, o).Resumed != 0 || !strings.Contains(o.stderr, "--fresh: discarding the state") {
		t.Errorf("--fresh: exit %d\n%s", o.code, o.stderr)
	}
	if es, _ := os.ReadDir(work); len(es) != 1 || es[0].Name() != "pruned" {
		t.Errorf("after --fresh the directory holds %v", es)
	}
}
