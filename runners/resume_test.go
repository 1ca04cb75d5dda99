package runners_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
)

// errKilled stands for a kill after a block's state is on disk.
var errKilled = errors.New("killed (test)")

// killAfter makes the pruning runs stop right after block k's state is
// committed, until the test ends.
func killAfter(t *testing.T, k int) {
	t.Helper()
	restore := runners.SetStateHook(func(block int) error {
		if block == k {
			return errKilled
		}
		return nil
	})
	t.Cleanup(restore)
}

// weights copies the 7·L linears of m.
func weights(m *model.Model) [][]float32 {
	var out [][]float32
	for l := range m.Weights.Blocks {
		for _, lin := range m.Weights.Blocks[l].Linears() {
			out = append(out, append([]float32(nil), lin.W...))
		}
	}
	return out
}

// sameBits reports the first weight whose bits differ.
func sameBits(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	for i := range want {
		for j := range want[i] {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				t.Errorf("%s: block %d %s weight %d is %v, uninterrupted %v", what, i/7, model.LinearNames[i%7], j, got[i][j], want[i][j])
				return
			}
		}
	}
}

// sameResult compares the numbers of two pipeline results, times aside.
func sameResult(t *testing.T, what string, got, want *prune.Result) {
	t.Helper()
	strip := func(r *prune.Result) prune.Result {
		c := *r
		c.Seconds, c.PruneSeconds = 0, 0
		c.Blocks = nil
		for _, b := range r.Blocks {
			b.Seconds, b.PruneSeconds = 0, 0
			ls := append([]prune.LinearResult(nil), b.Linears...)
			for i := range ls {
				ls[i].Seconds = 0
			}
			b.Linears = ls
			c.Blocks = append(c.Blocks, b)
		}
		return c
	}
	if g, w := strip(got), strip(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s: result differs from the uninterrupted run's:\n got %+v\nwant %+v", what, g, w)
	}
}

type resumeCase struct {
	method  runners.MethodSpec
	pattern prune.Pattern
	calib   data.CalibSpec
}

func (c resumeCase) spec(state string, progress *bytes.Buffer) runners.PruneSpec {
	s := runners.PruneSpec{Method: c.method, Pattern: c.pattern, Calib: c.calib, State: state}
	if progress != nil {
		s.Progress = progress
	}
	return s
}

// reference prunes a fresh model without a state.
func (c resumeCase) reference(t *testing.T) ([][]float32, *prune.Result) {
	t.Helper()
	m := loadStories(t)
	o, err := runners.Prune(context.Background(), m, c.spec("", nil))
	if err != nil {
		t.Fatal(err)
	}
	return weights(m), o.Result
}

// interrupt prunes a fresh model with state until block k is kept.
func (c resumeCase) interrupt(t *testing.T, state string, k int) {
	t.Helper()
	killAfter(t, k)
	var progress bytes.Buffer
	_, err := runners.Prune(context.Background(), loadStories(t), c.spec(state, &progress))
	if !errors.Is(err, errKilled) {
		t.Fatalf("run stopped after block %d: %v, want the kill", k, err)
	}
	if want := fmt.Sprintf("blocks 1–%d of 5 are kept in %s", k+1, state); k < 4 && !strings.Contains(progress.String(), want) {
		t.Errorf("progress lacks %q:\n%s", want, progress.String())
	}
	runners.SetStateHook(nil)
}

// resume prunes a fresh model with the state and checks it against the
// uninterrupted run: same weights bit for bit, same results, the blocks
// resumed from, and the state gone.
func (c resumeCase) resume(t *testing.T, state string, wantResumed int, wantW [][]float32, wantR *prune.Result) string {
	t.Helper()
	m := loadStories(t)
	var progress bytes.Buffer
	o, err := runners.Prune(context.Background(), m, c.spec(state, &progress))
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, progress.String())
	}
	if o.Resumed != wantResumed {
		t.Errorf("resumed %d blocks, want %d\n%s", o.Resumed, wantResumed, progress.String())
	}
	sameBits(t, "resumed", weights(m), wantW)
	sameResult(t, "resumed", o.Result, wantR)
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state after success: %v, want it removed", err)
	}
	return progress.String()
}

func stories(t *testing.T) data.CalibSpec {
	return data.CalibSpec{Source: calibFile(t), NSamples: 4, SeqLen: 64}
}

// TestPruneResume kills a pruning after block k (just after its state is
// on disk) and resumes it: the weights are bit-identical to an
// uninterrupted run's, for k = 0, L−2 and L−1 (every block pruned, the
// kill before the run's end), with wanda and admm-grad.
func TestPruneResume(t *testing.T) {
	for _, c := range []resumeCase{
		{spec("wanda"), prune.Pattern{Ratio: 0.5}, stories(t)},
		{spec("admm-grad"), prune.Pattern{Ratio: 0.5}, stories(t)},
		{spec("admm-grad", "iters", 5, "steps", 3), prune.Pattern{N: 2, M: 4}, stories(t)},
	} {
		wantW, wantR := c.reference(t)
		// The same settings twice give the same bits: what resuming is
		// compared with is reproducible.
		againW, againR := c.reference(t)
		sameBits(t, c.method.Name+" twice", againW, wantW)
		sameResult(t, c.method.Name+" twice", againR, wantR)
		for _, k := range []int{0, 3, 4} {
			t.Run(fmt.Sprintf("%s %s k=%d", c.method.Name, c.pattern, k), func(t *testing.T) {
				state := filepath.Join(t.TempDir(), "out"+runners.StateSuffix)
				c.interrupt(t, state, k)
				progress := c.resume(t, state, k+1, wantW, wantR)
				want := fmt.Sprintf("blocks 1–%d of 5 pruned already, going on with block %d", k+1, k+2)
				if k == 4 {
					want = "all 5 blocks were pruned already"
				}
				if !strings.Contains(progress, want) {
					t.Errorf("progress lacks %q:\n%s", want, progress)
				}
			})
		}
	}
}

// TestPruneResumeChunk: the calibration chunk changes the last bits of the
// block forward, so a run resumes with the chunk its state was written
// with when that needs no more memory (a run that sized its chunk from the
// memory free at the time may get another one on restart), and says when
// it cannot.
func TestPruneResumeChunk(t *testing.T) {
	c := resumeCase{spec("admm-grad", "iters", 5, "steps", 3), prune.Pattern{Ratio: 0.5}, stories(t)}
	chunked := func(state string, chunk int, progress *bytes.Buffer) runners.PruneSpec {
		s := c.spec(state, progress)
		s.ChunkSeqs = chunk
		return s
	}
	m := loadStories(t)
	ref, err := runners.Prune(context.Background(), m, chunked("", 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	wantW := weights(m)
	state := filepath.Join(t.TempDir(), "state")
	killAfter(t, 1)
	if _, err := runners.Prune(context.Background(), loadStories(t), chunked(state, 1, nil)); !errors.Is(err, errKilled) {
		t.Fatalf("first run: %v", err)
	}
	runners.SetStateHook(nil)
	m = loadStories(t)
	var progress bytes.Buffer
	o, err := runners.Prune(context.Background(), m, chunked(state, 0, &progress))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "1 of 4 calibration sequences per block forward, as the state was written with") {
		t.Errorf("progress:\n%s", progress.String())
	}
	sameBits(t, "chunk 1 resumed with 0", weights(m), wantW)
	sameResult(t, "chunk 1 resumed with 0", o.Result, ref.Result)

	// The other way round the run keeps its smaller chunk, and says so.
	killAfter(t, 1)
	if _, err := runners.Prune(context.Background(), loadStories(t), chunked(state, 0, nil)); !errors.Is(err, errKilled) {
		t.Fatalf("first run: %v", err)
	}
	runners.SetStateHook(nil)
	progress.Reset()
	if _, err := runners.Prune(context.Background(), loadStories(t), chunked(state, 2, &progress)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "note: the state was written with 4 calibration sequences per block forward, more than this run's 2") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// TestPruneStateOtherSettings: a state left by a run of other settings is
// refused, and kept; --fresh discards it.
func TestPruneStateOtherSettings(t *testing.T) {
	c := resumeCase{spec("wanda"), prune.Pattern{Ratio: 0.5}, stories(t)}
	state := filepath.Join(t.TempDir(), "state")
	c.interrupt(t, state, 1)
	before := listState(t, state)
	other := []resumeCase{
		{spec("wanda"), prune.Pattern{Ratio: 0.6}, c.calib},
		{spec("admm-grad"), c.pattern, c.calib},
		{c.method, c.pattern, data.CalibSpec{Source: c.calib.Source, NSamples: 3, SeqLen: 64}},
		{c.method, c.pattern, data.CalibSpec{Source: c.calib.Source, NSamples: 4, SeqLen: 64, Mode: data.ModeRandom, Seed: 1}},
	}
	for _, o := range other {
		_, err := runners.Prune(context.Background(), loadStories(t), o.spec(state, nil))
		if err == nil || !strings.Contains(err.Error(), "--state "+state+" holds blocks 1–2 of another run (wanda 0.5 of") || !strings.Contains(err.Error(), "--fresh") {
			t.Errorf("%s %s %+v: %v, want the state refused", o.method.Name, o.pattern, o.calib, err)
		}
		if after := listState(t, state); !reflect.DeepEqual(after, before) {
			t.Errorf("refused state changed: %v, was %v", after, before)
		}
	}
	// A run of the same settings spelled differently is the same run.
	same := resumeCase{spec("wanda"), prune.Pattern{Ratio: 0.5}, data.CalibSpec{Source: c.calib.Source, NSamples: 4, SeqLen: 64, Mode: data.ModeContiguous, Seed: 7}}
	o := other[0]
	wantW, wantR := o.reference(t)
	var progress bytes.Buffer
	s := o.spec(state, &progress)
	s.FreshState = true
	m := loadStories(t)
	res, err := runners.Prune(context.Background(), m, s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 0 || !strings.Contains(progress.String(), "--fresh: discarding the state in "+state+" of another run") {
		t.Errorf("--fresh: resumed %d blocks; progress:\n%s", res.Resumed, progress.String())
	}
	sameBits(t, "--fresh", weights(m), wantW)
	sameResult(t, "--fresh", res.Result, wantR)
	c.interrupt(t, state, 2)
	wantW, wantR = c.reference(t)
	same.resume(t, state, 3, wantW, wantR)
}

func listState(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, e := range es {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fi.Size()
	}
	return out
}

// TestPruneStateDamaged damages the state of a run killed after block 2
// in several ways: each is detected, named, and the run resumes from the
// last valid block (the next block's inputs recomputed) or from block 1,
// with the uninterrupted run's weights either way.
func TestPruneStateDamaged(t *testing.T) {
	c := resumeCase{spec("admm-grad", "iters", 5, "steps", 3), prune.Pattern{Ratio: 0.5}, stories(t)}
	wantW, wantR := c.reference(t)
	flip := func(name string, at int64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := []byte{0}
			if _, err := f.ReadAt(b, at); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x10
			if _, err := f.WriteAt(b, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	truncate := func(name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, name), 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	edit := func(name, old, new string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(b, []byte(old)) {
				t.Fatalf("%s: %v; holds %s", name, err, b)
			}
			if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	fifo := func(name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}
	}
	link := func(name, target string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			os.Remove(p)
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	write := func(name, content string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range []struct {
		name    string
		damage  func(t *testing.T, dir string)
		resumed int
		message string
	}{
		{"block 2 bit flip", flip("block-001.bin", 1234), 1, "block-001.bin: sha256"},
		{"block 3 torn", truncate("block-002.bin"), 2, "block-002.bin: 100 bytes, the manifest gives"},
		{"block 1 missing", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "block-000.bin")) }, 0, "block-000.bin: no such file"},
		{"inputs bit flip", flip("inputs-003.bin", 40000), 3, "inputs-003.bin: sha256"},
		{"manifest edited", edit("manifest.json", `"blocks_done":3`, `"blocks_done":2`), 0, "manifest.json is damaged (checksum mismatch)"},
		{"manifest torn", truncate("manifest.json"), 0, "manifest.json is damaged (not a manifest"},
		{"manifest gone", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "manifest.json")) }, 0, ""},
		{"temporaries of a killed write", write(".inputs-004.bin.tmp-12345", "half"), 3, ""},
		{"inputs a FIFO", fifo("inputs-003.bin"), 3, "inputs-003.bin: not a regular file"},
		{"manifest a link to /dev/zero", link("manifest.json", "/dev/zero"), 0, "manifest.json: not a regular file"},
	} {
		t.Run(d.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			c.interrupt(t, state, 2)
			d.damage(t, state)
			progress := c.resume(t, state, d.resumed, wantW, wantR)
			if !strings.Contains(progress, d.message) {
				t.Errorf("progress lacks %q:\n%s", d.message, progress)
			}
			if d.resumed > 0 && d.message != "" && !strings.Contains(progress, fmt.Sprintf("resuming from block %d, its inputs recomputed through blocks 1–%d", d.resumed+1, d.resumed)) {
				t.Errorf("progress does not say where it resumes:\n%s", progress)
			}
		})
	}
}

// TestPruneStateForeign: a --state directory holding anything but a
// state is refused and left alone, as is one another process uses.
func TestPruneStateForeign(t *testing.T) {
	c := resumeCase{spec("wanda"), prune.Pattern{Ratio: 0.5}, stories(t)}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runners.Prune(context.Background(), loadStories(t), c.spec(dir, nil))
	if err == nil || !strings.Contains(err.Error(), "--state "+dir+" holds notes.txt, which is not part of a prune state") {
		t.Errorf("foreign directory: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "mine" {
		t.Errorf("notes.txt now %q", b)
	}
	file := filepath.Join(dir, "notes.txt")
	if _, err := runners.Prune(context.Background(), loadStories(t), c.spec(file, nil)); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("state is a file: %v", err)
	}
	// A state in use: the first run holds the lock while the second starts.
	state := filepath.Join(t.TempDir(), "state")
	started := make(chan error, 1)
	restore := runners.SetStateHook(func(block int) error {
		if block == 1 {
			_, err := runners.Prune(context.Background(), loadStories(t), c.spec(state, nil))
			started <- err
			return errKilled
		}
		return nil
	})
	defer restore()
	if _, err := runners.Prune(context.Background(), loadStories(t), c.spec(state, nil)); !errors.Is(err, errKilled) {
		t.Fatalf("first run: %v", err)
	}
	if err := <-started; err == nil || !strings.Contains(err.Error(), "in use by another prunebench process") {
		t.Errorf("second run on a locked state: %v", err)
	}
}

// TestRunResume runs the whole path of the prune verb: a run with --out
// killed after a block, or after the pruning and before its output is
// saved, resumes with the same saved files, byte for byte, and the same
// record numbers as an uninterrupted run; the state is gone after it.
func TestRunResume(t *testing.T) {
	dir := datatest.Dir(t)
	base := runners.RunSpec{Model: "stories260K", DataDir: dir, Method: spec("admm-grad", "iters", 5, "steps", 3),
		Pattern: prune.Pattern{Ratio: 0.5}, Calib: data.CalibSpec{NSamples: 4, SeqLen: 64, Mode: data.ModeContiguous},
		Eval: runners.EvalSpec{PPL: []runners.PPLSpec{{Dataset: "wikitext2", SeqLen: 128, MaxWindows: 2}}}}
	work := t.TempDir()
	ref := base
	ref.Out = filepath.Join(work, "ref")
	want, err := runners.Run(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{1, 4} {
		t.Run(fmt.Sprint("k=", k), func(t *testing.T) {
			s := base
			s.Out = filepath.Join(t.TempDir(), "pruned")
			s.State = runners.StateDir(s.Out)
			killAfter(t, k)
			if _, err := runners.Run(context.Background(), s); !errors.Is(err, errKilled) {
				t.Fatalf("run: %v, want the kill", err)
			}
			runners.SetStateHook(nil)
			if _, err := os.Stat(s.Out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("killed run left %s: %v", s.Out, err)
			}
			got, err := runners.Run(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Resumed != k+1 {
				t.Errorf("resumed %d blocks, want %d", got.Resumed, k+1)
			}
			for _, name := range []string{"model.safetensors", "config.json"} {
				a, errA := os.ReadFile(filepath.Join(ref.Out, name))
				b, errB := os.ReadFile(filepath.Join(s.Out, name))
				if errA != nil || errB != nil || !bytes.Equal(a, b) {
					t.Errorf("%s differs from the uninterrupted run's (%v, %v)", name, errA, errB)
				}
			}
			if got.Record.ID != want.Record.ID || !reflect.DeepEqual(got.Record.Metrics, want.Record.Metrics) ||
				*got.Record.Achieved != *want.Record.Achieved || !reflect.DeepEqual(got.Record.Layers, want.Record.Layers) {
				gj, _ := json.Marshal(got.Record)
				wj, _ := json.Marshal(want.Record)
				t.Errorf("record differs:\n got %s\nwant %s", gj, wj)
			}
			if _, err := os.Stat(s.State); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state after success: %v", err)
			}
		})
	}
}

// TestPruneResumeSpilled: a run whose block inputs spill to a file, killed
// after block 1 and resumed (its kept inputs read into such a file), gives
// the weights of an uninterrupted run in memory.
func TestPruneResumeSpilled(t *testing.T) {
	c := resumeCase{spec("wanda"), prune.Pattern{Ratio: 0.5}, stories(t)}
	wantW, wantR := c.reference(t)
	state := filepath.Join(t.TempDir(), "out"+runners.StateSuffix)
	s := c.spec(state, nil)
	s.SpillInputs = true
	killAfter(t, 1)
	if _, err := runners.Prune(context.Background(), loadStories(t), s); !errors.Is(err, errKilled) {
		t.Fatalf("run stopped: %v, want the kill", err)
	}
	runners.SetStateHook(nil)
	m := loadStories(t)
	o, err := runners.Prune(context.Background(), m, s)
	if err != nil {
		t.Fatal(err)
	}
	if o.Resumed != 2 {
		t.Errorf("resumed %d blocks, want 2", o.Resumed)
	}
	sameBits(t, "spilled and resumed", weights(m), wantW)
	sameResult(t, "spilled and resumed", o.Result, wantR)
}
