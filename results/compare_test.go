package results

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestCompareSketch(t *testing.T) {
	base := []Record{
		run("b1", "m", "admm-grad", "0.6", 0, map[string]float64{"wikitext2_ppl": 199.85, "wikitext2_ppl_stderr": 1}, "rho", 1.0, "iters", 20.0),
		run("b2", "m", "admm-grad", "0.6", 0, ppl(210), "rho", 0.1, "iters", 20.0),
		run("b3", "m", "wanda", "2:4", 0, ppl(312.37)),
		run("b4", "m", "sparsegpt", "0.8", 0, ppl(500)),
	}
	new := []Record{
		run("n1", "m", "admm-grad", "0.6", 0, map[string]float64{"wikitext2_ppl": 205.10, "wikitext2_ppl_stderr": 9}, "rho", 1, "iters", 20),
		run("n2", "m", "admm-grad", "0.6", 0, ppl(209), "rho", 0.1, "iters", 20.0),
		run("n3", "m", "wanda", "2:4", 0, ppl(312.37)),
		run("n4", "m", "magnitude", "0.5", 0, ppl(300)),
	}
	// Pairs are found by settings: files, timings and provenance differ.
	new[0].Model.Files = []File{{Path: "other", SHA256: "ff"}}
	new[0].Calibration.Files = []File{{Path: "x"}}
	new[0].Seconds.Total = 99
	new[0].Provenance.Revision = "abc+dirty"
	ach := 0.6
	new[0].Achieved = &ach
	c, err := Compare(base, new, CompareOptions{Tolerance: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	if c.Regressions != 1 {
		t.Errorf("%d regressions, want 1", c.Regressions)
	}
	var buf bytes.Buffer
	if err := c.Print(&buf); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"run                   metric          base     new      change\n" +
		"admm-grad 0.6 ρ=1     wikitext2_ppl   199.85   205.10   +2.6%  REGRESSED\n" +
		"admm-grad 0.6 ρ=0.1   wikitext2_ppl   210.00   209.00   -0.5%\n" +
		"wanda 2:4             wikitext2_ppl   312.37   312.37   0.0%\n" +
		"missing in new: sparsegpt 0.8\n" +
		"missing in base: magnitude 0.5\n" +
		"1 regression beyond 2%\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestCompare(t *testing.T) {
	acc := func(id string, v float64) Record {
		return run(id, "m", "wanda", "0.5", 0, map[string]float64{"boolq_acc": v, "wikitext2_ppl": 100})
	}
	seeded := func(id string, seed uint64, v float64) Record { return run(id, "m", "wanda", "0.5", seed, ppl(v)) }
	for _, tc := range []struct {
		name        string
		base, new   []Record
		o           CompareOptions
		rows        string // "run metric regressed" per row, "; "-separated
		regressions int
		tail        string // the lines after the table
	}{
		{"accuracy falls beyond tolerance", []Record{acc("a", 0.50)}, []Record{acc("b", 0.48)}, CompareOptions{Tolerance: 0.02},
			"wanda 0.5 boolq_acc true; wanda 0.5 wikitext2_ppl false", 1, "1 regression beyond 2%\n"},
		{"accuracy falls within tolerance", []Record{acc("a", 0.50)}, []Record{acc("b", 0.495)}, CompareOptions{Tolerance: 0.02},
			"wanda 0.5 boolq_acc false; wanda 0.5 wikitext2_ppl false", 0, "no regression beyond 2%\n"},
		{"accuracy rises", []Record{acc("a", 0.50)}, []Record{acc("b", 0.9)}, CompareOptions{},
			"wanda 0.5 boolq_acc false; wanda 0.5 wikitext2_ppl false", 0, "no regression beyond 0%\n"},
		{"zero tolerance flags any worsening", []Record{seeded("a", 0, 100)}, []Record{seeded("b", 0, 100.001)}, CompareOptions{},
			"wanda 0.5 wikitext2_ppl true", 1, "1 regression beyond 0%\n"},
		{"exactly the tolerance passes", []Record{seeded("a", 0, 200)}, []Record{seeded("b", 0, 204)}, CompareOptions{Tolerance: 0.02},
			"wanda 0.5 wikitext2_ppl false", 0, "no regression beyond 2%\n"},
		{"perplexity falls", []Record{seeded("a", 0, 200)}, []Record{seeded("b", 0, 100)}, CompareOptions{Tolerance: 0.02},
			"wanda 0.5 wikitext2_ppl false", 0, "no regression beyond 2%\n"},
		{"seeds pair with their own seed", []Record{seeded("a", 0, 100), seeded("b", 1, 100)}, []Record{seeded("c", 1, 150), seeded("d", 2, 100)},
			CompareOptions{Tolerance: 0.1}, "wanda 0.5 seed=1 wikitext2_ppl true", 1,
			"missing in new: wanda 0.5 seed=0\nmissing in base: wanda 0.5 seed=2\n1 regression beyond 10%\n"},
		{"models tell runs apart", []Record{run("a", "A", "wanda", "0.5", 0, ppl(1)), run("b", "B", "wanda", "0.5", 0, ppl(2))},
			[]Record{run("c", "B", "wanda", "0.5", 0, ppl(3))}, CompareOptions{Tolerance: 0.4},
			"B wanda 0.5 wikitext2_ppl true", 1, "missing in new: A wanda 0.5\n1 regression beyond 40%\n"},
		{"calibration tells runs apart", []Record{seeded("a", 0, 1)},
			[]Record{func() Record { r := seeded("b", 0, 1); r.Calibration.NSamples = 64; return r }()}, CompareOptions{},
			"", 0, "missing in new: wanda 0.5 nsamples=128\nmissing in base: wanda 0.5 nsamples=64\nno regression beyond 0%\n"},
		{"dense", []Record{run("a", "m", "dense", "", 0, ppl(50))}, []Record{run("b", "m", "dense", "", 0, ppl(60))}, CompareOptions{Tolerance: 0.1},
			"dense wikitext2_ppl true", 1, "1 regression beyond 10%\n"},
		{"metric missing in new", []Record{acc("a", 0.5)}, []Record{seeded("b", 0, 100)}, CompareOptions{},
			"wanda 0.5 wikitext2_ppl false", 0, "missing in new: boolq_acc of wanda 0.5\nno regression beyond 0%\n"},
		{"metric only in new is ignored", []Record{seeded("b", 0, 100)}, []Record{acc("a", 0.5)}, CompareOptions{},
			"wanda 0.5 wikitext2_ppl false", 0, "no regression beyond 0%\n"},
		{"chosen metrics", []Record{acc("a", 0.5)}, []Record{acc("b", 0.1)}, CompareOptions{Metrics: []string{"wikitext2_ppl"}},
			"wanda 0.5 wikitext2_ppl false", 0, "no regression beyond 0%\n"},
		{"stderr when asked for", []Record{run("a", "m", "wanda", "0.5", 0, map[string]float64{"x_stderr": 1})},
			[]Record{run("b", "m", "wanda", "0.5", 0, map[string]float64{"x_stderr": 2})}, CompareOptions{Metrics: []string{"x_stderr"}},
			"wanda 0.5 x_stderr true", 1, "1 regression beyond 0%\n"},
		{"stderr not by default", []Record{run("a", "m", "wanda", "0.5", 0, map[string]float64{"x_stderr": 1})},
			[]Record{run("b", "m", "wanda", "0.5", 0, map[string]float64{"x_stderr": 2})}, CompareOptions{},
			"", 0, "no regression beyond 0%\n"},
		{"duplicates: the last counts", []Record{seeded("a", 0, 100), seeded("a2", 0, 200)}, []Record{seeded("b", 0, 150)}, CompareOptions{},
			"wanda 0.5 wikitext2_ppl false", 0, "note: base has 2 records of wanda 0.5; the last counts\nno regression beyond 0%\n"},
		{"several regressions", []Record{acc("a", 0.5)}, []Record{func() Record { r := acc("b", 0.4); r.Metrics["wikitext2_ppl"] = 101; return r }()},
			CompareOptions{Tolerance: 0.005}, "wanda 0.5 boolq_acc true; wanda 0.5 wikitext2_ppl true", 2, "2 regressions beyond 0.5%\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compare(tc.base, tc.new, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			var rows []string
			for _, r := range c.Rows {
				rows = append(rows, r.Run+" "+r.Metric+" "+map[bool]string{true: "true", false: "false"}[r.Regressed])
			}
			if got := strings.Join(rows, "; "); got != tc.rows {
				t.Errorf("rows %q, want %q", got, tc.rows)
			}
			if c.Regressions != tc.regressions {
				t.Errorf("%d regressions, want %d", c.Regressions, tc.regressions)
			}
			var buf bytes.Buffer
			if err := c.Print(&buf); err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitAfter(buf.String(), "\n")
			if len(c.Rows) > 0 {
				lines = lines[1+len(c.Rows):] // header and rows
			}
			out := strings.Join(lines, "")
			if out != tc.tail {
				t.Errorf("after the table:\n%s\nwant:\n%s", out, tc.tail)
			}
		})
	}
}

func TestCompareErrors(t *testing.T) {
	recs := []Record{run("a", "m", "wanda", "0.5", 0, ppl(1))}
	for _, tc := range []struct {
		name string
		o    CompareOptions
		want string
	}{
		{"negative tolerance", CompareOptions{Tolerance: -0.1}, "compare tolerance -0.1: want a finite number ≥ 0"},
		{"NaN tolerance", CompareOptions{Tolerance: math.NaN()}, "compare tolerance NaN: want a finite number ≥ 0"},
		{"unknown metric", CompareOptions{Metrics: []string{"wikitext2_ppl", "wikitxt2_ppl"}}, "no run has metric wikitxt2_ppl; the runs have wikitext2_ppl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compare(recs, recs, tc.o)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		metric    string
		base, new float64
		change    float64 // NaN: want NaN
		regressed bool
	}{
		{"wikitext2_ppl", 100, 103, 0.03, true},
		{"wikitext2_ppl", 100, 101, 0.01, false},
		{"wikitext2_ppl", 100, 97, -0.03, false},
		{"wikitext2_ppl", 100, nan, nan, true},
		{"wikitext2_ppl", 100, inf, inf, true},
		{"wikitext2_ppl", 100, -inf, -inf, false},
		{"wikitext2_ppl", nan, 100, nan, false},
		{"wikitext2_ppl", inf, 100, nan, false},
		{"wikitext2_ppl", inf, inf, 0, false},
		{"kld", 0, 0, 0, false},
		{"kld", 0, 0.1, inf, true},
		{"kld", -2, -1, 0.5, true},
		{"boolq_acc", 0.5, 0.45, -0.1, true},
		{"boolq_acc", 0.5, nan, nan, true},
		{"boolq_acc", 0.5, -inf, -inf, true},
		{"boolq_acc", 0.5, inf, inf, false},
		{"same_top", 0.5, 0.6, 0.2, false},
		{"mean_acc_paper7", 0.5, 0.4, -0.2, true},
	} {
		change, reg := judge(tc.metric, tc.base, tc.new, 0.02)
		okChange := math.IsNaN(tc.change) && math.IsNaN(change) || math.Abs(change-tc.change) < 1e-12 || change == tc.change
		if !okChange || reg != tc.regressed {
			t.Errorf("judge(%s, %v, %v) = %v, %v; want %v, %v", tc.metric, tc.base, tc.new, change, reg, tc.change, tc.regressed)
		}
	}
}
