package admm_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/admm"
	"github.com/prunebench/prunebench/internal/goldentest"
	"github.com/prunebench/prunebench/prune"
)

// TestRelaxCurve prints the reconstruction error against the number of
// iterations on the golden layers at 60%, for plain ADMM (relax 1, the
// default) and over-relaxed ADMM (Boyd et al. §3.4.3): ADMM1 on its fixed
// mask, and ADMM-Grad with steps = ⌈3T/4⌉ of T iterations (the default's
// 15 of 20). For each α it reports the fewest iterations that reach the
// default's error (20 plain iterations). It checks only that relax 1 is
// the default's result and that every run is exactly sparse; the curves
// are for the reader (go test -run RelaxCurve -v ./admm/).
func TestRelaxCurve(t *testing.T) {
	alphas := []float64{1, 1.3, 1.5, 1.7, 1.9}
	iters := []int{2, 4, 6, 8, 10, 12, 14, 16, 20, 30, 40}
	p := prune.Pattern{Ratio: 0.6}
	for _, file := range goldentest.Files {
		g := goldentest.Load(t, file)
		for _, grad := range []bool{false, true} {
			name := "admm1"
			if grad {
				name = "admm-grad"
			}
			run := func(alpha float64, n int) float64 {
				o := admm.ADMM1Defaults()
				newM := admm.NewADMM1
				if grad {
					o, newM = admm.ADMMGradDefaults(), admm.NewADMMGrad
					o.Steps = (3*n + 3) / 4
				}
				o.Iters, o.OverRelax = n, alpha-1
				m, err := newM(o)
				if err != nil {
					t.Fatal(err)
				}
				w := g.Clone()
				mask, _, err := m.Prune(context.Background(), w, g.St, p)
				if err != nil {
					t.Fatal(err)
				}
				if err := prune.Verify(mask, w, p, false); err != nil {
					t.Fatal(err)
				}
				return prune.RelError(g.W.W, w.W, w.Out, w.In, g.St)
			}
			def := run(1, 20)
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s 60%%: default (20 plain iterations) error %.6g\n  α \\ T", file, name, def)
			for _, n := range iters {
				fmt.Fprintf(&b, " %9d", n)
			}
			b.WriteString("  fewest T reaching the default\n")
			for _, a := range alphas {
				fmt.Fprintf(&b, "  %.1f  ", a)
				reach := "—"
				for _, n := range iters {
					e := run(a, n)
					fmt.Fprintf(&b, " %9.4g", e/def)
					if reach == "—" && e <= def {
						reach = fmt.Sprint(n)
					}
				}
				fmt.Fprintf(&b, "  %s\n", reach)
			}
			b.WriteString("  (errors relative to the default's)")
			t.Log(b.String())
		}
	}
}
