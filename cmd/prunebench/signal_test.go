package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/internal/datatest"
)

// longPrune is a prune of stories260K that takes tens of seconds: ADMM-Grad
// on 128 full-length calibration windows, saved to out.
func longPrune(dir, out string) []string {
	return []string{"prune", "--data-dir", dir, "--model", "stories260K", "--method", "admm-grad", "--sparsity", "0.6",
		"--iters", "200", "--steps", "100", "--out", out}
}

// TestInterrupt checks that one Ctrl-C (or SIGTERM) stops a run within
// seconds, mid-block, with exit 128+signal, one final stderr line and no
// file left behind.
func TestInterrupt(t *testing.T) {
	dir := datatest.Dir(t)
	cases := []struct {
		name  string
		sig   syscall.Signal
		code  int
		limit time.Duration
	}{
		{"SIGINT", syscall.SIGINT, 130, 10 * time.Second},
		{"SIGTERM", syscall.SIGTERM, 143, 10 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			out := filepath.Join(work, "pruned")
			// Without a resume state: what an interruption keeps on purpose
			// (TestResumeAfterSIGINT) is not what this test looks for.
			ch := startChild(t, work, nil, append(longPrune(dir, out), "--resume=false")...)
			// Wait until pruning is under way, inside block 0 (its forward
			// over 128 full windows and ADMM take several seconds).
			if !waitFor(context.Background(), time.Minute, func() bool { return strings.Contains(ch.stderr.String(), "calibration") }) {
				ch.cmd.Process.Kill()
				t.Fatalf("calibration did not finish in a minute; stderr:\n%s", ch.stderr.String())
			}
			time.Sleep(time.Second)
			sent := time.Now()
			ch.cmd.Process.Signal(c.sig)
			o := ch.wait(t, time.Minute)
			took := time.Since(sent)
			t.Logf("exit %d %v after the signal; last line: %s", o.code, took.Round(time.Millisecond), lastLine(o.stderr))
			if o.code != c.code {
				t.Errorf("exit %d, want %d", o.code, c.code)
			}
			if took > c.limit {
				t.Errorf("stopped %v after the signal, want within %v", took, c.limit)
			}
			want := "interrupted by " + c.sig.String()
			if !strings.Contains(lastLine(o.stderr), want) {
				t.Errorf("last stderr line %q, want %q", lastLine(o.stderr), want)
			}
			if o.stdout != "" {
				t.Errorf("stdout: %q", o.stdout)
			}
			if es, _ := os.ReadDir(work); len(es) > 0 {
				t.Errorf("left %q behind", es[0].Name())
			}
		})
	}
}

// TestSignalDuringSave sends SIGTERM around the moment prune --out writes
// its output: the directory appears complete or not at all, and no
// temporary remains; an interrupted run keeps its pruned blocks in the
// state beside the output, from which the same command saves. Whether a
// signal lands mid-save depends on timing; the model package's
// TestSaveHFCancelledAtEveryCheck cancels at every check.
func TestSignalDuringSave(t *testing.T) {
	dir := datatest.Dir(t)
	for _, delay := range []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond} {
		work := t.TempDir()
		out := filepath.Join(work, "pruned")
		args := []string{"prune", "--data-dir", dir, "--model", "stories260K", "--method", "magnitude",
			"--sparsity", "0.5", "--nsamples", "2", "--seqlen", "32", "--out", out}
		ch := startChild(t, work, nil, args...)
		if !waitFor(context.Background(), time.Minute, func() bool { return strings.Contains(ch.stderr.String(), "block 5/5") }) {
			ch.cmd.Process.Kill()
			t.Fatalf("pruning did not finish; stderr:\n%s", ch.stderr.String())
		}
		time.Sleep(delay)
		ch.cmd.Process.Signal(syscall.SIGTERM)
		o := ch.wait(t, time.Minute)
		es, _ := os.ReadDir(work)
		switch o.code {
		case exitOK:
			if len(es) != 1 || es[0].Name() != "pruned" {
				t.Errorf("delay %v: exit 0 but the directory holds %v", delay, es)
			}
			if _, err := os.Stat(filepath.Join(out, "config.json")); err != nil {
				t.Errorf("delay %v: exit 0 but %v", delay, err)
			}
		case 143:
			if len(es) != 1 || es[0].Name() != "pruned.prune-state" {
				t.Errorf("delay %v: interrupted; the directory holds %v, want only the state", delay, es)
			}
			if o := runChild(t, work, args...); o.code != exitOK || !strings.Contains(o.stderr, "all 5 blocks were pruned already") {
				t.Errorf("delay %v: the same command again: exit %d\n%s", delay, o.code, o.stderr)
			}
			if es, _ := os.ReadDir(work); len(es) != 1 || es[0].Name() != "pruned" {
				t.Errorf("delay %v: after the second run the directory holds %v", delay, es)
			}
		default:
			t.Errorf("delay %v: exit %d: %s", delay, o.code, o.stderr)
		}
	}
}

// TestStdoutFull checks that results that cannot be written fail the run.
func TestStdoutFull(t *testing.T) {
	dir := datatest.Dir(t)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	for _, args := range [][]string{
		{"ppl", "--data-dir", dir, "--model", "stories260K", "--max-windows", "1", "--json"},
		{"ppl", "--data-dir", dir, "--model", "stories260K", "--max-windows", "1"},
		{"generate", "--data-dir", dir, "--model", "stories260K", "--steps", "20"},
	} {
		o := startChild(t, t.TempDir(), full, args...).wait(t, time.Minute)
		if o.code != exitFail || !strings.Contains(lastLine(o.stderr), "stdout") {
			t.Errorf("%q > /dev/full: exit %d, last stderr line %q: want 1 and a line about stdout", args, o.code, lastLine(o.stderr))
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// signalHarness drives handleSignals with a temporary output pending, a
// fake exit and a captured stderr.
type signalHarness struct {
	dir    string // holds the pending temporary
	sigs   chan os.Signal
	ctx    context.Context
	exited chan int
	stderr lockedBuffer
}

func newSignalHarness(t *testing.T, grace time.Duration) *signalHarness {
	t.Helper()
	h := &signalHarness{dir: t.TempDir(), sigs: make(chan os.Signal, 2), exited: make(chan int, 1)}
	tmp, err := atomicfile.Create(filepath.Join(h.dir, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tmp.Close() })
	var cancel context.CancelCauseFunc
	h.ctx, cancel = context.WithCancelCause(context.Background())
	go handleSignals(h.sigs, cancel, grace, &h.stderr, func(code int) { h.exited <- code })
	return h
}

// expectExit waits for the handler's exit and checks its code, its message
// and that the temporary is gone.
func (h *signalHarness) expectExit(t *testing.T, code int, msg string) {
	t.Helper()
	select {
	case got := <-h.exited:
		if got != code {
			t.Errorf("exit %d, want %d", got, code)
		}
	case <-time.After(time.Minute):
		t.Fatal("no exit")
	}
	if !strings.Contains(h.stderr.String(), msg) {
		t.Errorf("stderr %q lacks %q", h.stderr.String(), msg)
	}
	if es, _ := os.ReadDir(h.dir); len(es) != 0 {
		t.Errorf("temporary %q left behind", es[0].Name())
	}
}

// TestSecondSignal checks that a second signal, while the first one's
// cancellation is still under way, removes temporary outputs and exits at
// once with 128+signal. (Two signals sent to a process back to back are
// merged by the kernel, so this drives the handler directly.)
func TestSecondSignal(t *testing.T) {
	h := newSignalHarness(t, time.Hour)
	h.sigs <- syscall.SIGINT
	<-h.ctx.Done()
	var sig interrupted
	if !errors.As(context.Cause(h.ctx), &sig) || sig.sig != syscall.SIGINT {
		t.Errorf("cause %v, want interrupted by SIGINT", context.Cause(h.ctx))
	}
	select {
	case code := <-h.exited:
		t.Fatalf("exited (%d) on the first signal", code)
	case <-time.After(50 * time.Millisecond):
	}
	h.sigs <- syscall.SIGTERM
	h.expectExit(t, 143, "terminated again: exiting at once")
}

// TestInterruptKeepsSamples interrupts a zero-shot run writing --samples
// over an existing file: the file keeps its old content and no temporary
// is left beside it.
func TestInterruptKeepsSamples(t *testing.T) {
	dir := datatest.Dir(t)
	work := t.TempDir()
	samples := filepath.Join(work, "samples.jsonl")
	if err := os.WriteFile(samples, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ch := startChild(t, work, nil, "zeroshot", "--data-dir", dir, "--model", "stories260K", "--tasks", "rte,boolq", "--samples", samples)
	if !waitFor(context.Background(), time.Minute, func() bool { return strings.Contains(ch.stderr.String(), "documents") }) {
		ch.cmd.Process.Kill()
		t.Fatalf("scoring did not start; stderr:\n%s", ch.stderr.String())
	}
	time.Sleep(500 * time.Millisecond)
	ch.cmd.Process.Signal(syscall.SIGINT)
	o := ch.wait(t, time.Minute)
	if o.code != 130 {
		t.Errorf("exit %d, want 130; stderr:\n%s", o.code, o.stderr)
	}
	if b, _ := os.ReadFile(samples); string(b) != "precious\n" {
		t.Errorf("--samples file now holds %d bytes, want the old content", len(b))
	}
	if es, _ := os.ReadDir(work); len(es) != 1 {
		t.Errorf("the directory holds %v, want only samples.jsonl", es)
	}
}

// TestOneLine checks the error line: line breaks joined, and a huge message
// (a megabyte-long name quoted from a hostile file) cut in the middle on
// rune boundaries, keeping the file at the start and the problem at the end.
func TestOneLine(t *testing.T) {
	if got := oneLine(errors.New("a\nb\r\nc")); got != "a; b; c" {
		t.Errorf("joined: %q", got)
	}
	for _, filler := range []string{"x", "é", "\xff", "日本"} {
		msg := "/path/model.gguf: key " + strings.Repeat(filler, 1<<20) + ": not expected"
		got := oneLine(errors.New(msg))
		if len(got) > maxErrorLine+100 || !strings.HasPrefix(got, "/path/model.gguf: key ") || !strings.HasSuffix(got, ": not expected") {
			t.Errorf("filler %q: %d bytes, %q…%q", filler, len(got), got[:40], got[len(got)-40:])
		}
		if filler != "\xff" && !utf8.ValidString(got) {
			t.Errorf("filler %q: a rune was cut", filler)
		}
	}
}

// TestStopGrace checks that a run which does not stop after the first
// signal (blocked where no context reaches) is ended after the grace
// period, with its temporaries removed.
func TestStopGrace(t *testing.T) {
	h := newSignalHarness(t, 50*time.Millisecond)
	h.sigs <- syscall.SIGTERM
	h.expectExit(t, 143, "did not stop within 50ms")
}

// TestInterruptBlockedOpen interrupts a run blocked where no context
// reaches, opening a FIFO that has no writer: it ends after the grace
// period with exit 130.
func TestInterruptBlockedOpen(t *testing.T) {
	dir := datatest.Dir(t)
	work := t.TempDir()
	fifo := filepath.Join(work, "text.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ch := startChild(t, work, nil, "ppl", "--data-dir", dir, "--model", "stories260K", "--dataset", fifo)
	time.Sleep(time.Second)
	ch.cmd.Process.Signal(syscall.SIGINT)
	o := ch.wait(t, time.Minute)
	if o.code != 130 || !strings.Contains(lastLine(o.stderr), "did not stop within") {
		t.Errorf("exit %d, last line %q: want 130 and the grace message", o.code, lastLine(o.stderr))
	}
}
