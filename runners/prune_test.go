package runners_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
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
				Method:   runners.MethodSpec{Name: c.method},
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
		{"unknown method", runners.PruneSpec{Method: runners.MethodSpec{Name: "obs"}, Pattern: prune.Pattern{Ratio: 0.5}, Calib: missing}, `method "obs"`},
		{"option the method lacks", runners.PruneSpec{Method: runners.MethodSpec{Name: "wanda", Iters: ptr(3)}, Pattern: prune.Pattern{Ratio: 0.5}, Calib: missing}, "no option iters"},
		{"invalid pattern", runners.PruneSpec{Method: runners.MethodSpec{Name: "wanda"}, Pattern: prune.Pattern{Ratio: 1.5}, Calib: missing}, "1.5"},
		{"zero pattern", runners.PruneSpec{Method: runners.MethodSpec{Name: "wanda"}, Calib: missing}, "sparsity"},
		{"4:8 on width 172", runners.PruneSpec{Method: runners.MethodSpec{Name: "wanda"}, Pattern: prune.Pattern{N: 4, M: 8}, Calib: missing}, "block 0 down_proj (64×172)"},
		{"seqlen above context", runners.PruneSpec{Method: runners.MethodSpec{Name: "wanda"}, Pattern: prune.Pattern{Ratio: 0.5},
			Calib: data.CalibSpec{Source: missing.Source, NSamples: 4, SeqLen: 513}}, "seqlen 513 exceeds the model's context length 512"},
		{"missing source", runners.PruneSpec{Method: runners.MethodSpec{Name: "wanda"}, Pattern: prune.Pattern{Ratio: 0.5}, Calib: missing}, "missing.txt"},
		{"short source", runners.PruneSpec{Method: runners.MethodSpec{Name: "wanda"}, Pattern: prune.Pattern{Ratio: 0.5},
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

func TestPruneCancelled(t *testing.T) {
	m := loadStories(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := runners.Prune(ctx, m, runners.PruneSpec{
		Method:  runners.MethodSpec{Name: "magnitude"},
		Pattern: prune.Pattern{Ratio: 0.5},
		Calib:   data.CalibSpec{Source: calibFile(t), NSamples: 2, SeqLen: 32},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	// The pipeline stops between blocks: block 0 is pruned, the rest not.
	z, _ := zeros(m)
	b0 := 0
	for _, lin := range m.Weights.Blocks[0].Linears() {
		b0 += len(lin.W) / 2
	}
	if z != b0 {
		t.Errorf("%d zeros after cancelling, want block 0's %d", z, b0)
	}
}
