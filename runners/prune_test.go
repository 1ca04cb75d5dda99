package runners_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prunebench/prunebench/admm"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/internal/sysmem"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
)

// calibFile writes a few thousand tokens of story text, enough for four
// windows of the full 512-token context.
func calibFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "calib.txt")
	text := strings.Repeat("The little dog ran to the park. It saw a big red ball and played all day with Tom.\n", 150)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadStories(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.Load(datatest.Path(t, "models/stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func zeros(m *model.Model) (z, n int) {
	for l := range m.Weights.Blocks {
		for _, lin := range m.Weights.Blocks[l].Linears() {
			for _, w := range lin.W {
				if w == 0 {
					z++
				}
			}
			n += len(lin.W)
		}
	}
	return z, n
}

func TestPrune(t *testing.T) {
	calib := calibFile(t)
	half := prune.Pattern{Ratio: 0.5}
	for _, c := range []struct {
		name           string
		method         string
		pattern        prune.Pattern
		seqlen, wantT  int
		perRowVerified bool
	}{
		{"magnitude full context", "magnitude", half, 0, 512, false},
		{"wanda 2:4", "wanda", prune.Pattern{N: 2, M: 4}, 32, 32, true},
		{"sparsegpt", "sparsegpt", half, 32, 32, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := loadStories(t)
			var progress bytes.Buffer
			res, err := runners.Prune(context.Background(), m, runners.PruneSpec{
				Method:   spec(c.method),
				Pattern:  c.pattern,
				Calib:    data.CalibSpec{Source: calib, NSamples: 4, SeqLen: c.seqlen},
				Progress: &progress,
			})
			if err != nil {
				t.Fatal(err)
			}
			r := res.Result
			if r.Method != c.method || len(r.Blocks) != 5 || r.Samples != 4 || r.SeqLen != c.wantT {
				t.Errorf("result %s, %d blocks, %d×%d calibration; want %s, 5 blocks, 4×%d", r.Method, len(r.Blocks), r.Samples, r.SeqLen, c.method, c.wantT)
			}
			if res.Calib.Source != calib || res.Calib.NSamples != 4 || res.Calib.SeqLen != c.wantT || res.Calib.Mode != data.ModeContiguous {
				t.Errorf("provenance %+v: want %s, contiguous 4×%d", res.Calib, calib, c.wantT)
			}
			z, n := zeros(m)
			if z != n/2 || r.Zeros != z || r.Numel != n || r.Sparsity != 0.5 {
				t.Errorf("model has %d of %d weights zero; result says %d of %d (%g); want half", z, n, r.Zeros, r.Numel, r.Sparsity)
			}
			if !strings.Contains(progress.String(), calib) {
				t.Errorf("progress does not name the calibration file:\n%s", progress.String())
			}
		})
	}
}

func TestPruneErrors(t *testing.T) {
	calib := calibFile(t)
	m := loadStories(t)
	// A missing calibration source would fail too: the errors below must
	// come first, before any calibration work.
	missing := data.CalibSpec{Source: filepath.Join(t.TempDir(), "missing.txt"), NSamples: 4, SeqLen: 32}
	cases := []struct {
		name string
		spec runners.PruneSpec
		want string
	}{
		{"unknown method", runners.PruneSpec{Method: spec("obs"), Pattern: prune.Pattern{Ratio: 0.5}, Calib: missing}, `method "obs"`},
		{"option the method lacks", runners.PruneSpec{Method: spec("wanda", "iters", 3), Pattern: prune.Pattern{Ratio: 0.5}, Calib: missing}, "no option iters"},
		{"invalid pattern", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 1.5}, Calib: missing}, "1.5"},
		{"zero pattern", runners.PruneSpec{Method: spec("wanda"), Calib: missing}, "sparsity"},
		{"4:8 on width 172", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{N: 4, M: 8}, Calib: missing}, "block 0 down_proj (64×172)"},
		{"seqlen above context", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5},
			Calib: data.CalibSpec{Source: missing.Source, NSamples: 4, SeqLen: 513}}, "--seqlen 513: must be 2..512 (the model's context length)"},
		{"seqlen 1", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5},
			Calib: data.CalibSpec{Source: missing.Source, NSamples: 4, SeqLen: 1}}, "--seqlen 1: must be 2..512 (the model's context length)"},
		{"seqlen negative", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5},
			Calib: data.CalibSpec{Source: missing.Source, NSamples: 4, SeqLen: -64}}, "--seqlen -64: must be 2..512 (the model's context length)"},
		{"nsamples 0", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5},
			Calib: data.CalibSpec{Source: missing.Source, NSamples: 0, SeqLen: 32}}, "--nsamples 0: must be ≥ 1"},
		{"nsamples negative", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5},
			Calib: data.CalibSpec{Source: missing.Source, NSamples: -1, SeqLen: 32}}, "--nsamples -1: must be ≥ 1"},
		{"nsamples beyond addressing", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5},
			Calib: data.CalibSpec{Source: missing.Source, NSamples: math.MaxInt / 2, SeqLen: 64}}, "cannot be addressed"},
		{"chunk negative", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5}, Calib: missing, ChunkSeqs: -2},
			"--chunk -2: must be ≥ 0 (0 = all sequences at once)"},
		{"admm-grad steps 0", runners.PruneSpec{Method: spec("admm-grad", "steps", 0), Pattern: prune.Pattern{Ratio: 0.5}, Calib: missing},
			"admm-grad: --steps 0: must be ≥ 1"},
		{"missing source", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5}, Calib: missing}, "missing.txt"},
		{"short source", runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5},
			Calib: data.CalibSpec{Source: calib, NSamples: 1000, SeqLen: 512}}, calib},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := zeros(m)
			_, err := runners.Prune(context.Background(), m, c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if after, _ := zeros(m); after != before {
				t.Errorf("a failed run changed the model: %d zeros before, %d after", before, after)
			}
		})
	}
}

// TestPruneCancelled: a context cancelled before the run stops it before
// the calibration, with the model untouched.
func TestPruneCancelled(t *testing.T) {
	m := loadStories(t)
	before, _ := zeros(m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := runners.Prune(ctx, m, runners.PruneSpec{
		Method:  spec("magnitude"),
		Pattern: prune.Pattern{Ratio: 0.5},
		Calib:   data.CalibSpec{Source: filepath.Join(t.TempDir(), "missing.txt"), NSamples: 2, SeqLen: 32},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if after, _ := zeros(m); after != before {
		t.Errorf("%d zeros after cancelling, %d before", after, before)
	}
}

// TestPruneRecordsResolved checks that the outcome records every option
// of the method with the values the run used: ADMM1 with iters 7 records
// 7 and prunes exactly as a 7-iteration ADMM1 built directly does.
func TestPruneRecordsResolved(t *testing.T) {
	calib := data.CalibSpec{Source: calibFile(t), NSamples: 2, SeqLen: 32}
	p := prune.Pattern{Ratio: 0.5}
	m := loadStories(t)
	res, err := runners.Prune(context.Background(), m, runners.PruneSpec{
		Method: spec("admm1", "iters", 7), Pattern: p, Calib: calib,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := spec("admm1", "rho", 1.0, "iters", 7, "percdamp", 0.1, "per-output", false, "mask", "normmag", "relax", 1.0)
	if !reflect.DeepEqual(res.Method, want) {
		g, _ := json.Marshal(res.Method)
		w, _ := json.Marshal(want)
		t.Errorf("recorded method %s, want %s", g, w)
	}

	ref := loadStories(t)
	windows, _, err := data.Calibrate("", calib, func(text string) []int { return ref.Tokenizer.Encode(text, true, false) })
	if err != nil {
		t.Fatal(err)
	}
	o := admm.ADMM1Defaults()
	o.Iters = 7
	method, err := admm.NewADMM1(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prune.Run(context.Background(), ref, windows, method, p, prune.PipelineOptions{}); err != nil {
		t.Fatal(err)
	}
	for l := range m.Weights.Blocks {
		got, exp := m.Weights.Blocks[l].Linears(), ref.Weights.Blocks[l].Linears()
		for i := range got {
			if !slices.Equal(got[i].W, exp[i].W) {
				t.Fatalf("block %d %s differs from a direct 7-iteration ADMM1", l, model.LinearNames[i])
			}
		}
	}
}

// TestPruneLayerCancel cancels each costly method partway through a large
// layer (seconds of work without OpenBLAS) and expects it back promptly
// with context.Canceled. The delays aim at the factorisation (0.3 s) and
// at SparseGPT's column sweep or ADMM's iterations (later); on a loaded
// machine they may land elsewhere, which must be as prompt.
func TestPruneLayerCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("prunes 2048×2048 layers")
	}
	for _, c := range []struct {
		method string
		n      int
		after  time.Duration
	}{
		{"sparsegpt", 2048, 300 * time.Millisecond},
		{"sparsegpt", 2048, 1200 * time.Millisecond},
		{"admm1", 2048, 300 * time.Millisecond},
		{"admm-grad", 1024, 1500 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%s/%d/%v", c.method, c.n, c.after), func(t *testing.T) {
			n := c.n
			st := prune.NewStats(n)
			st.Tokens, st.Seqs = 1, 1
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < n; i++ {
				st.Gram[i*n+i] = 1 + rng.Float64()
			}
			w := &model.Linear{Out: n, In: n, W: make([]float32, n*n)}
			for i := range w.W {
				w.W[i] = float32(rng.NormFloat64())
			}
			m, _, err := runners.NewMethod(spec(c.method))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, _, err := m.Prune(ctx, w, st, prune.Pattern{Ratio: 0.5})
				done <- err
			}()
			time.Sleep(c.after)
			cancel()
			cancelled := time.Now()
			select {
			case err := <-done:
				d := time.Since(cancelled)
				if err == nil {
					// With a fast BLAS the layer can be done, or past its
					// last check, before the cancellation lands.
					t.Skipf("finished %v after the cancellation, past its last check: nothing to stop", d)
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("error %v, want context.Canceled", err)
				}
				t.Logf("returned %v after cancelling: %v", d.Round(time.Millisecond), err)
				// context.Canceled shows it stopped rather than finished; the
				// bound, generous for a loaded machine, catches a hang.
				if d > 10*time.Second {
					t.Errorf("returned %v after cancelling, want within 10s", d)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("still running 30s after cancelling")
			}
		})
	}
}

// TestPruneMemory: a calibration whose activations exceed the memory
// available is refused before the calibration (the source is missing, so
// reaching data.Calibrate would fail differently), with the model intact.
func TestPruneMemory(t *testing.T) {
	m := loadStories(t)
	defer runners.SetAvailableMemory(2000e6, sysmem.WhatMemAvailable)()
	missing := filepath.Join(t.TempDir(), "missing.txt")
	for _, c := range []struct {
		nsamples, seqlen, chunk int
		want                    []string
	}{
		{262144, 32, 0, []string{"calibration of 262144 × 32 tokens needs about ", " GB for the activations of a 64-wide model (--chunk 0); only 2.0 GB of memory available: use fewer --nsamples, a smaller --seqlen or a smaller --chunk"}},
		{262144, 32, 64, []string{"calibration of 262144 × 32 tokens needs about ", "(--chunk 64); only 2.0 GB of memory available: use fewer --nsamples or a smaller --seqlen"}},
		{1000000, 8, 64, []string{"calibration of 1000000 × 8 tokens", "use fewer --nsamples or a smaller --seqlen"}},
	} {
		before, _ := zeros(m)
		_, err := runners.Prune(context.Background(), m, runners.PruneSpec{
			Method:    spec("wanda"),
			Pattern:   prune.Pattern{Ratio: 0.5},
			Calib:     data.CalibSpec{Source: missing, Mode: data.ModeRandom, NSamples: c.nsamples, SeqLen: c.seqlen},
			ChunkSeqs: c.chunk,
		})
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%d×%d chunk %d: error %v, want one containing %q", c.nsamples, c.seqlen, c.chunk, err, w)
			}
		}
		if after, _ := zeros(m); after != before {
			t.Errorf("a refused run changed the model")
		}
	}
	// An ordinary run fits.
	_, err := runners.Prune(context.Background(), m, runners.PruneSpec{
		Method:  spec("wanda"),
		Pattern: prune.Pattern{Ratio: 0.5},
		Calib:   data.CalibSpec{Source: calibFile(t), NSamples: 4, SeqLen: 64},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPruneRefusesFullTempDir: a streaming model's pruned blocks (and
// spilled inputs) live in TMPDIR, so a run that would not fit there is
// refused before calibration, naming the directory; a resident model
// needs no room there.
func TestPruneRefusesFullTempDir(t *testing.T) {
	defer runners.SetTempFree(100e3)()
	s := runners.PruneSpec{Method: spec("wanda"), Pattern: prune.Pattern{Ratio: 0.5}, Calib: data.CalibSpec{Source: calibFile(t), NSamples: 4, SeqLen: 64}}
	m, err := model.Open(datatest.Path(t, "models/stories260K"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = runners.Prune(context.Background(), m, s)
	if err == nil || !strings.Contains(err.Error(), os.TempDir()) || !strings.Contains(err.Error(), "TMPDIR") {
		t.Fatalf("error %v, want a refusal naming %s and TMPDIR", err, os.TempDir())
	}
	if _, err := runners.Prune(context.Background(), loadStories(t), s); err != nil {
		t.Errorf("a resident model: %v", err)
	}
}
