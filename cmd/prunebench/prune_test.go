package main

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
)

var pruneKeys = []string{"model", "method", "sparsity", "calibration", "achieved_sparsity", "mean_rel_error", "prune_seconds", "seconds"}

// pruneJSON runs prune on stories260K with a small calibration set and
// decodes the report.
func pruneJSON(t *testing.T, dir string, extra ...string) pruneReport {
	t.Helper()
	args := append([]string{"prune", "--data-dir", dir, "--model", "stories260K", "--nsamples", "4", "--seqlen", "64", "--json"}, extra...)
	o := mustRun(t, args...)
	var rep pruneReport
	decodeJSON(t, o.stdout, &rep, pruneKeys...)
	// encoding/json matches keys case-insensitively, so decoding alone
	// would accept "Name".
	if !strings.Contains(o.stdout, `"method":{"name":`) {
		t.Errorf("method spec not keyed by name: %s", o.stdout)
	}
	return rep
}

// checkLayers checks the per-linear rows: 5 blocks × the 7 linears in
// pipeline order, each at the target sparsity, with finite errors whose mean
// is the reported mean.
func checkLayers(t *testing.T, rep pruneReport, target float64) {
	t.Helper()
	if len(rep.Layers) != 35 {
		t.Fatalf("%d layer rows, want 35", len(rep.Layers))
	}
	sum := 0.0
	for i, l := range rep.Layers {
		if l.Block != i/7 || l.Name != model.LinearNames[i%7] {
			t.Errorf("row %d is block %d %s, want block %d %s", i, l.Block, l.Name, i/7, model.LinearNames[i%7])
		}
		if math.Abs(l.Sparsity-target) > 1e-3 {
			t.Errorf("block %d %s: sparsity %g, want %g", l.Block, l.Name, l.Sparsity, target)
		}
		if !finite(l.RelError) || l.RelError <= 0 {
			t.Errorf("block %d %s: rel error %g, want finite and > 0", l.Block, l.Name, l.RelError)
		}
		sum += l.RelError
	}
	if math.Abs(rep.Achieved-target) > 1e-3 {
		t.Errorf("achieved sparsity %g, want %g", rep.Achieved, target)
	}
	if !finite(rep.MeanRelError) || math.Abs(rep.MeanRelError-sum/35) > 1e-9*sum {
		t.Errorf("mean_rel_error %g, want the mean of the rows %g", rep.MeanRelError, sum/35)
	}
}

func TestPruneMethods(t *testing.T) {
	dir := datatest.Dir(t)
	for _, method := range runners.MethodNames {
		for _, sp := range []string{"0.5", "2:4"} {
			t.Run(method+"/"+sp, func(t *testing.T) {
				rep := pruneJSON(t, dir, "--method", method, "--sparsity", sp, "--layers")
				if rep.Model != "stories260K" || rep.Method.Name != method || rep.Sparsity != sp {
					t.Errorf("report names model %q method %q sparsity %q", rep.Model, rep.Method.Name, rep.Sparsity)
				}
				if rep.Calib.NSamples != 4 || rep.Calib.SeqLen != 64 {
					t.Errorf("calibration %d×%d, want 4×64", rep.Calib.NSamples, rep.Calib.SeqLen)
				}
				if rep.PPL != nil || rep.Out != "" {
					t.Errorf("ppl or out reported without --eval / --out")
				}
				checkLayers(t, rep, 0.5)
			})
		}
	}
}

// TestPruneEvalOut checks that --eval ppl scores the pruned model and that
// the --out directory loads back as the same pruned model.
func TestPruneEvalOut(t *testing.T) {
	dir := datatest.Dir(t)
	dense := mustRun(t, "ppl", "--data-dir", dir, "--model", "stories260K", "--max-windows", "2", "--json")
	var denseRep pplReport
	decodeJSON(t, dense.stdout, &denseRep)
	for _, c := range []struct{ method, sparsity string }{{"wanda", "2:4"}, {"admm-grad", "0.5"}} {
		t.Run(c.method, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "pruned")
			rep := pruneJSON(t, dir, "--method", c.method, "--sparsity", c.sparsity, "--eval", "ppl", "--max-windows", "2", "--out", out)
			if rep.PPL == nil || !finite(rep.PPL.PPL) || rep.PPL.PPL <= 1 || rep.PPL.Windows != 2 {
				t.Fatalf("ppl %+v: want 2 windows and a finite ppl > 1", rep.PPL)
			}
			if rep.Out != out {
				t.Errorf("out %q, want %q", rep.Out, out)
			}
			if !(rep.PPL.PPL > denseRep.PPL) {
				t.Errorf("pruned ppl %g not above dense %g", rep.PPL.PPL, denseRep.PPL)
			}

			saved := mustRun(t, "ppl", "--data-dir", dir, "--model", out, "--max-windows", "2", "--json")
			var savedRep pplReport
			decodeJSON(t, saved.stdout, &savedRep)
			if savedRep.PPL != rep.PPL.PPL || savedRep.Tokens != rep.PPL.Tokens {
				t.Errorf("saved model: ppl %v over %d tokens, in-process %v over %d", savedRep.PPL, savedRep.Tokens, rep.PPL.PPL, rep.PPL.Tokens)
			}

			m, err := model.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			p, err := prune.ParsePattern(c.sparsity)
			if err != nil {
				t.Fatal(err)
			}
			for l := range m.Weights.Blocks {
				for i, lin := range m.Weights.Blocks[l].Linears() {
					if err := checkPattern(lin, p); err != nil {
						t.Errorf("saved block %d %s: %v", l, model.LinearNames[i], err)
					}
				}
			}
		})
	}
}

// checkPattern checks the zeros of a saved linear: exactly half of it for
// 0.5, at least M−N zeros in every group of M inputs for N:M.
func checkPattern(lin *model.Linear, p prune.Pattern) error {
	zeros := 0
	for _, w := range lin.W {
		if w == 0 {
			zeros++
		}
	}
	if !p.Structured() {
		if want := prune.PruneCount(len(lin.W), p.Ratio); zeros != want {
			return fmt.Errorf("%d zeros of %d, want %d", zeros, len(lin.W), want)
		}
		return nil
	}
	for r := range lin.Out {
		row := lin.W[r*lin.In : (r+1)*lin.In]
		for g := 0; g < lin.In; g += p.M {
			z := 0
			for _, w := range row[g : g+p.M] {
				if w == 0 {
					z++
				}
			}
			if z < p.M-p.N {
				return fmt.Errorf("row %d inputs %d..%d: %d zeros, want ≥ %d", r, g, g+p.M-1, z, p.M-p.N)
			}
		}
	}
	return nil
}

// TestPruneADMMOptions checks that ADMM's option flags reach the method and
// are echoed in the report.
func TestPruneADMMOptions(t *testing.T) {
	dir := datatest.Dir(t)
	base := pruneJSON(t, dir, "--method", "admm1", "--sparsity", "0.5")
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, rep pruneReport)
	}{
		{"admm1 iters 0", []string{"--method", "admm1", "--iters", "0"}, func(t *testing.T, rep pruneReport) {
			if rep.Method.Options["iters"] != 0.0 {
				t.Errorf("method %+v: want iters 0 echoed", rep.Method)
			}
			// No update leaves the masked weights as they were: a worse fit.
			if !(rep.MeanRelError > base.MeanRelError) {
				t.Errorf("rel error with iters 0 %g, default %g: want larger", rep.MeanRelError, base.MeanRelError)
			}
		}},
		{"admm1 mask wanda", []string{"--method", "admm1", "--mask", "wanda"}, func(t *testing.T, rep pruneReport) {
			if rep.Method.Options["mask"] != "wanda" {
				t.Errorf("method %+v: want mask wanda echoed", rep.Method)
			}
			if rep.MeanRelError == base.MeanRelError {
				t.Errorf("rel error %g equals the default mask's", rep.MeanRelError)
			}
		}},
		{"admm1 rho", []string{"--method", "admm1", "--rho", "0.1"}, func(t *testing.T, rep pruneReport) {
			if rep.MeanRelError == base.MeanRelError {
				t.Errorf("rel error %g equals the default rho's", rep.MeanRelError)
			}
		}},
		{"admm-grad reference-full", []string{"--method", "admm-grad", "--schedule", "reference-full"}, func(t *testing.T, rep pruneReport) {
			if rep.Method.Options["schedule"] != "reference-full" {
				t.Errorf("method %+v: want schedule reference-full echoed", rep.Method)
			}
		}},
		{"admm-grad per-output", []string{"--method", "admm-grad", "--per-output", "--steps", "5"}, func(t *testing.T, rep pruneReport) {
			if rep.Method.Options["per_output"] != true || rep.Method.Options["steps"] != 5.0 {
				t.Errorf("method %+v: want per_output and steps 5 echoed", rep.Method)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := pruneJSON(t, dir, append(c.args, "--sparsity", "0.5", "--layers")...)
			checkLayers(t, rep, 0.5)
			c.check(t, rep)
		})
	}
}

// TestPruneTable checks the table output names the run and lists every linear.
func TestPruneTable(t *testing.T) {
	dir := datatest.Dir(t)
	o := mustRun(t, "prune", "--data-dir", dir, "--model", "stories260K", "--nsamples", "4", "--seqlen", "64",
		"--method", "magnitude", "--sparsity", "60%", "--layers")
	// down_proj has 64·172 weights, of which int(0.6·11008) are pruned.
	downSparsity := fmt.Sprintf("%.4f", float64(prune.PruneCount(64*172, 0.6))/(64*172))
	for _, s := range []string{"MEAN REL ERROR", "magnitude", "0.6", "down_proj", "64×172", downSparsity} {
		if !strings.Contains(o.stdout, s) {
			t.Errorf("table lacks %q:\n%s", s, o.stdout)
		}
	}
	// 35 linear rows and one summary row.
	if n := strings.Count(o.stdout, "64×172"); n != 5 {
		t.Errorf("%d down_proj rows, want 5:\n%s", n, o.stdout)
	}
}

// TestPruneOutGGUF prunes the tiny GGUF model, whose vocabulary lives in the
// GGUF file, and saves it: the directory must load and score as the
// in-process model did, with the usual permissions.
func TestPruneOutGGUF(t *testing.T) {
	dir := datatest.Dir(t)
	out := filepath.Join(t.TempDir(), "pruned")
	o := mustRun(t, "prune", "--data-dir", dir, "--model", "llama-2-tiny-random", "--method", "wanda", "--sparsity", "0.5",
		"--nsamples", "2", "--seqlen", "64", "--eval", "ppl", "--max-windows", "2", "--eval-seqlen", "64", "--out", out, "--json")
	var rep pruneReport
	decodeJSON(t, o.stdout, &rep, "out", "ppl")
	saved := mustRun(t, "ppl", "--data-dir", dir, "--model", out, "--max-windows", "2", "--seqlen", "64", "--json")
	var savedRep pplReport
	decodeJSON(t, saved.stdout, &savedRep)
	if rep.PPL == nil || savedRep.PPL != rep.PPL.PPL || savedRep.Tokens != rep.PPL.Tokens {
		t.Errorf("saved model: ppl %v over %d tokens, in-process %+v", savedRep.PPL, savedRep.Tokens, rep.PPL)
	}
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o666 &^ umask)
		if d.IsDir() {
			want = fs.FileMode(0o777 &^ umask)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "tokenizer.model")); err != nil {
		t.Errorf("no tokenizer.model in the saved directory: %v", err)
	}
}
