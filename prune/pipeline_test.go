package prune_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/baselines"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// tinyModel is a random 3-block LLaMA with grouped-query attention.
func tinyModel(t *testing.T, hidden int) *model.Model {
	t.Helper()
	cfg := model.Config{Dim: 16, HiddenDim: hidden, Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 4,
		Vocab: 40, SeqLen: 32, NormEps: 1e-5, RopeBase: 10000}
	rng := rand.New(rand.NewPCG(11, uint64(hidden)))
	randv := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * rng.NormFloat64())
		}
		return v
	}
	lin := func(out, in int) model.Linear {
		return model.Linear{Out: out, In: in, W: randv(out*in, 1/math.Sqrt(float64(in)))}
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1 + float32(0.1*rng.NormFloat64())
		}
		return v
	}
	m := &model.Model{Config: cfg}
	m.Weights.Embed = randv(cfg.Vocab*cfg.Dim, 1)
	m.Weights.Classifier = m.Weights.Embed
	m.Weights.FinalNorm = ones(cfg.Dim)
	for l := 0; l < cfg.Layers; l++ {
		m.Weights.Blocks = append(m.Weights.Blocks, model.Block{
			AttnNorm: ones(cfg.Dim), FFNNorm: ones(cfg.Dim),
			Q: lin(cfg.QDim(), cfg.Dim), K: lin(cfg.KVDim(), cfg.Dim), V: lin(cfg.KVDim(), cfg.Dim),
			O:    lin(cfg.Dim, cfg.QDim()),
			Gate: lin(hidden, cfg.Dim), Up: lin(hidden, cfg.Dim), Down: lin(cfg.Dim, hidden),
		})
	}
	return m
}

func cloneModel(m *model.Model) *model.Model {
	c := *m
	c.Weights.Blocks = make([]model.Block, len(m.Weights.Blocks))
	for l, b := range m.Weights.Blocks {
		nb := b
		for i, lin := range nb.Linears() {
			lin.W = append([]float32(nil), b.Linears()[i].W...)
		}
		c.Weights.Blocks[l] = nb
	}
	return &c
}

func calibration(nseq, T, vocab int) [][]int {
	rng := rand.New(rand.NewPCG(7, 8))
	c := make([][]int, nseq)
	for i := range c {
		c[i] = make([]int, T)
		for j := range c[i] {
			c[i][j] = rng.IntN(vocab)
		}
	}
	return c
}

// recorder wraps a method and keeps a copy of the statistics it was given.
type recorder struct {
	prune.Method
	calls int
	grams [][]float64 // per call, nil when st was nil
}

func (r *recorder) Prune(ctx context.Context, w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	r.calls++
	if st != nil {
		r.grams = append(r.grams, append([]float64(nil), st.Gram...))
	} else {
		r.grams = append(r.grams, nil)
	}
	return r.Method.Prune(ctx, w, st, p)
}

func TestRunExactSparsity(t *testing.T) {
	calib := calibration(3, 12, 40)
	cases := []struct {
		method prune.Method
		p      string
		perRow bool
	}{
		{baselines.Magnitude{}, "0.5", false},
		{baselines.Wanda{}, "0.6", true},
		{baselines.DefaultSparseGPT(), "0.57", false},
		{baselines.DefaultSparseGPT(), "2:4", false},
		{baselines.Wanda{}, "1:4", true},
		{baselines.Magnitude{}, "4:8", false},
	}
	for _, c := range cases {
		t.Run(c.method.Name()+"/"+c.p, func(t *testing.T) {
			m := tinyModel(t, 32)
			p, err := prune.ParsePattern(c.p)
			if err != nil {
				t.Fatal(err)
			}
			res, err := prune.Run(context.Background(), m, calib, c.method, p, prune.PipelineOptions{PerRow: c.perRow})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Blocks) != 3 || res.Samples != 3 || res.SeqLen != 12 {
				t.Fatalf("%d blocks, %d samples of %d tokens", len(res.Blocks), res.Samples, res.SeqLen)
			}
			var wantZeros int
			for l, b := range res.Blocks {
				for i, lr := range b.Linears {
					lin := m.Weights.Blocks[l].Linears()[i]
					k := prune.PruneCount(lin.Out*lin.In, p.Sparsity())
					switch {
					case p.Structured():
						k = lin.Out * lin.In / p.M * (p.M - p.N)
					case c.perRow:
						k = lin.Out * prune.PruneCount(lin.In, p.Ratio)
					}
					// Random weights have no exact zeros of their own.
					if got := prune.Zeros(lin.W); got != k || lr.Zeros != k {
						t.Errorf("block %d %s: %d zeros (reported %d), want exactly %d", l, lr.Name, got, lr.Zeros, k)
					}
					if !(lr.RelError > 0 && lr.RelError < 1.5) {
						t.Errorf("block %d %s: relative error %g", l, lr.Name, lr.RelError)
					}
					wantZeros += k
				}
			}
			if res.Zeros != wantZeros || res.Numel != 3*(2*16*16+2*8*16+3*32*16) {
				t.Errorf("totals: %d zeros of %d", res.Zeros, res.Numel)
			}
			if math.Abs(res.Sparsity-float64(wantZeros)/float64(res.Numel)) > 1e-15 {
				t.Errorf("sparsity %g", res.Sparsity)
			}
		})
	}
}

// TestRunSequentialInputs checks §2: block l's statistics are those of the
// still-dense block l on the outputs of the already-pruned blocks 0..l−1.
func TestRunSequentialInputs(t *testing.T) {
	dense := tinyModel(t, 32)
	m := cloneModel(dense)
	calib := calibration(2, 10, 40)
	rec := &recorder{Method: baselines.DefaultSparseGPT()}
	p := prune.Pattern{Ratio: 0.5}
	if _, err := prune.Run(context.Background(), m, calib, rec, p, prune.PipelineOptions{}); err != nil {
		t.Fatal(err)
	}
	if rec.calls != 21 {
		t.Fatalf("%d Prune calls, want 21", rec.calls)
	}
	var flat []int
	for _, w := range calib {
		flat = append(flat, w...)
	}
	x, err := m.Embed(flat)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &m.Config
	for l := 0; l < cfg.Layers; l++ {
		stats := map[model.Input]*prune.Stats{}
		probe := append([]float32(nil), x...)
		model.BlockForward(cfg, &dense.Weights.Blocks[l], probe, 2, 10, func(in model.Input, a []float32, rows, cols int) {
			st := prune.NewStats(cols)
			if err := st.Add(a, rows, 2); err != nil {
				t.Fatal(err)
			}
			stats[in] = st
		})
		inputs := []model.Input{model.AttnIn, model.AttnIn, model.AttnIn, model.AttnOut, model.MLPIn, model.MLPIn, model.DownIn}
		for i, in := range inputs {
			got, want := rec.grams[7*l+i], stats[in].Gram
			for j := range want {
				if math.Abs(got[j]-want[j]) > 1e-9*(1+math.Abs(want[j])) {
					t.Fatalf("block %d %s: Gram[%d] = %g, dense block on pruned prefix gives %g", l, model.LinearNames[i], j, got[j], want[j])
				}
			}
		}
		// The next inputs come from the pruned block.
		model.BlockForward(cfg, &m.Weights.Blocks[l], x, 2, 10, nil)
	}
}

func TestRunWithoutData(t *testing.T) {
	m := tinyModel(t, 32)
	want := cloneModel(m)
	p := prune.Pattern{Ratio: 0.5}
	res, err := prune.Run(context.Background(), m, nil, baselines.Magnitude{}, p, prune.PipelineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(res.MeanRelError) || !math.IsNaN(res.Blocks[0].Linears[0].RelError) {
		t.Errorf("relative error %g without data, want NaN", res.MeanRelError)
	}
	for l := range want.Weights.Blocks {
		for i, lin := range want.Weights.Blocks[l].Linears() {
			if _, _, err := (baselines.Magnitude{}).Prune(context.Background(), lin, nil, p); err != nil {
				t.Fatal(err)
			}
			got := m.Weights.Blocks[l].Linears()[i].W
			for j := range lin.W {
				if got[j] != lin.W[j] {
					t.Fatalf("block %d %s differs from magnitude on the layer alone", l, model.LinearNames[i])
				}
			}
		}
	}
	if _, err := prune.Run(context.Background(), tinyModel(t, 32), nil, baselines.Wanda{}, p, prune.PipelineOptions{}); err == nil || !strings.Contains(err.Error(), "statistics") {
		t.Errorf("Wanda without data: error %v, want one about missing statistics", err)
	}
}

func TestRunChunkedEqualsUnchunked(t *testing.T) {
	calib := calibration(5, 8, 40)
	p := prune.Pattern{Ratio: 0.5}
	var ref *model.Model
	var refRes *prune.Result
	for _, chunk := range []int{0, 2, 1, 5, 9} {
		m := tinyModel(t, 32)
		res, err := prune.Run(context.Background(), m, calib, baselines.DefaultSparseGPT(), p, prune.PipelineOptions{ChunkSeqs: chunk})
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref, refRes = m, res
			continue
		}
		for l := range m.Weights.Blocks {
			for i, lin := range m.Weights.Blocks[l].Linears() {
				rw := ref.Weights.Blocks[l].Linears()[i].W
				for j := range rw {
					if (rw[j] == 0) != (lin.W[j] == 0) || math.Abs(float64(rw[j]-lin.W[j])) > 1e-4 {
						t.Fatalf("chunk %d: block %d %s [%d] = %g, unchunked %g", chunk, l, model.LinearNames[i], j, lin.W[j], rw[j])
					}
				}
				if a, b := res.Blocks[l].Linears[i].RelError, refRes.Blocks[l].Linears[i].RelError; math.Abs(a-b) > 1e-6*b {
					t.Errorf("chunk %d: block %d %s error %g, unchunked %g", chunk, l, model.LinearNames[i], a, b)
				}
			}
		}
	}
}

func TestRunPatternMustFitBeforeWork(t *testing.T) {
	m := tinyModel(t, 36) // down_proj has 36 inputs: 4:8 cannot apply
	before := cloneModel(m)
	rec := &recorder{Method: baselines.Magnitude{}}
	_, err := prune.Run(context.Background(), m, calibration(2, 8, 40), rec, prune.Pattern{N: 4, M: 8}, prune.PipelineOptions{})
	if err == nil || !strings.Contains(err.Error(), "block 0 down_proj") || !strings.Contains(err.Error(), "36") {
		t.Fatalf("error %v, want one naming block 0 down_proj and its width 36", err)
	}
	if rec.calls != 0 {
		t.Errorf("method called %d times before the pattern check failed", rec.calls)
	}
	for l := range m.Weights.Blocks {
		for i, lin := range m.Weights.Blocks[l].Linears() {
			for j, v := range before.Weights.Blocks[l].Linears()[i].W {
				if lin.W[j] != v {
					t.Fatalf("block %d %s changed", l, model.LinearNames[i])
				}
			}
		}
	}
	// 2:4 fits everywhere on the same model.
	if _, err := prune.Run(context.Background(), m, calibration(2, 8, 40), rec, prune.Pattern{N: 2, M: 4}, prune.PipelineOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestRunRejects(t *testing.T) {
	p := prune.Pattern{Ratio: 0.5}
	m := tinyModel(t, 32)
	cases := []struct {
		name  string
		calib [][]int
		p     prune.Pattern
		opts  prune.PipelineOptions
		want  string
	}{
		{"ragged windows", [][]int{{1, 2, 3}, {1, 2}}, p, prune.PipelineOptions{}, "window 1 has 2 tokens"},
		{"too long", calibration(1, 33, 40), p, prune.PipelineOptions{}, "1..32"},
		{"bad token", [][]int{{1, 99}}, p, prune.PipelineOptions{}, "99"},
		{"bad pattern", calibration(1, 4, 40), prune.Pattern{Ratio: 1}, prune.PipelineOptions{}, "(0,1)"},
		{"negative chunk", calibration(1, 4, 40), p, prune.PipelineOptions{ChunkSeqs: -1}, "chunk"},
		{"resume shape", calibration(1, 4, 40), p, prune.PipelineOptions{Resume: &prune.Checkpoint{Block: 1, X: make([]float32, 3)}}, "resume inputs"},
	}
	for _, c := range cases {
		if _, err := prune.Run(context.Background(), m, c.calib, baselines.Magnitude{}, c.p, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	bad := cloneModel(m)
	bad.Weights.Blocks[1].Up.W = bad.Weights.Blocks[1].Up.W[:10]
	if _, err := prune.Run(context.Background(), bad, nil, baselines.Magnitude{}, p, prune.PipelineOptions{}); err == nil || !strings.Contains(err.Error(), "block 1 up_proj") {
		t.Errorf("truncated weight: error %v", err)
	}
}

// undercount prunes one weight too few, which Verify must catch.
type undercount struct{ baselines.Magnitude }

func (u undercount) Prune(ctx context.Context, w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	w0 := append([]float32(nil), w.W...)
	mask, rep, err := u.Magnitude.Prune(ctx, w, st, p)
	for i, m := range mask {
		if m {
			mask[i], w.W[i] = false, w0[i]
			break
		}
	}
	return mask, rep, err
}

func TestRunVerifiesEveryLinear(t *testing.T) {
	_, err := prune.Run(context.Background(), tinyModel(t, 32), nil, undercount{}, prune.Pattern{Ratio: 0.5}, prune.PipelineOptions{})
	if err == nil || !strings.Contains(err.Error(), "block 0 q_proj") || !strings.Contains(err.Error(), "wants exactly") {
		t.Fatalf("error %v, want a verification failure on block 0 q_proj", err)
	}
}

// poison leaves a NaN among the kept weights, as a failed factorisation
// could: the pipeline must name the linear rather than carry it on.
type poison struct{ baselines.Magnitude }

func (poison) Prune(ctx context.Context, w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	mask, rep, err := baselines.Magnitude{}.Prune(ctx, w, st, p)
	for i, m := range mask {
		if !m {
			w.W[i] = float32(math.NaN())
			break
		}
	}
	return mask, rep, err
}

func TestRunRefusesNonFiniteOutput(t *testing.T) {
	_, err := prune.Run(context.Background(), tinyModel(t, 32), calibration(2, 8, 40), poison{}, prune.Pattern{Ratio: 0.5}, prune.PipelineOptions{})
	if err == nil || !strings.Contains(err.Error(), "block 0 q_proj: magnitude left weight [") || !strings.Contains(err.Error(), "is NaN") {
		t.Fatalf("error %v, want block 0 q_proj's NaN weight named", err)
	}
}

// cancelAfter cancels the run's context once it has pruned n linears.
type cancelAfter struct {
	baselines.Magnitude
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Prune(ctx context.Context, w *model.Linear, st *prune.Stats, p prune.Pattern) (prune.Mask, prune.Report, error) {
	mask, rep, err := c.Magnitude.Prune(ctx, w, st, p)
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return mask, rep, err
}

// TestRunCancelled checks that cancellation stops the run inside the
// block, here in the relative error of the linear just pruned, with
// context.Canceled.
func TestRunCancelled(t *testing.T) {
	m := tinyModel(t, 32)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := prune.Run(ctx, m, calibration(2, 8, 40), &cancelAfter{n: 3, cancel: cancel}, prune.Pattern{Ratio: 0.5}, prune.PipelineOptions{})
	if want := "pipeline: block 0 v_proj: relative error: context canceled"; !errors.Is(err, context.Canceled) || err.Error() != want {
		t.Fatalf("error %v, want context.Canceled: %s", err, want)
	}
	for l := range m.Weights.Blocks {
		for i, lin := range m.Weights.Blocks[l].Linears() {
			pruned := prune.Zeros(lin.W) > 0
			if want := l == 0 && i < 3; pruned != want {
				t.Errorf("block %d %s pruned %v, want %v", l, model.LinearNames[i], pruned, want)
			}
		}
	}
}

func TestRunCheckpointResume(t *testing.T) {
	calib := calibration(2, 8, 40)
	p := prune.Pattern{N: 2, M: 4}
	full := tinyModel(t, 32)
	var saved *prune.Checkpoint
	var savedModel *model.Model
	var seen []int
	stop := errors.New("stop")
	_, err := prune.Run(context.Background(), full, calib, baselines.Wanda{}, p, prune.PipelineOptions{OnBlock: func(b prune.BlockResult, _ *model.Block, next prune.Checkpoint) error {
		seen = append(seen, b.Block)
		if next.Block != b.Block+1 {
			t.Errorf("checkpoint for block %d after block %d", next.Block, b.Block)
		}
		if b.Block == 0 {
			saved = &prune.Checkpoint{Block: next.Block, X: append([]float32(nil), next.X...)}
			savedModel = cloneModel(full)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || seen[2] != 2 {
		t.Fatalf("OnBlock saw blocks %v", seen)
	}
	res, err := prune.Run(context.Background(), savedModel, calib, baselines.Wanda{}, p, prune.PipelineOptions{Resume: saved})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 2 || res.Blocks[0].Block != 1 {
		t.Fatalf("resumed run covers %d blocks starting at %d", len(res.Blocks), res.Blocks[0].Block)
	}
	for l := range full.Weights.Blocks {
		for i, lin := range full.Weights.Blocks[l].Linears() {
			for j, v := range savedModel.Weights.Blocks[l].Linears()[i].W {
				if lin.W[j] != v {
					t.Fatalf("resumed block %d %s differs from the uninterrupted run", l, model.LinearNames[i])
				}
			}
		}
	}
	_, err = prune.Run(context.Background(), tinyModel(t, 32), calib, baselines.Wanda{}, p, prune.PipelineOptions{OnBlock: func(prune.BlockResult, *model.Block, prune.Checkpoint) error { return stop }})
	if !errors.Is(err, stop) {
		t.Errorf("OnBlock error not propagated: %v", err)
	}
}
