package results

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rhoGrid is an ablation: admm-grad over rho and iters at two sparsities,
// wanda (no rho) and the dense model.
func rhoGrid() []Record {
	return []Record{
		run("d", "m", "dense", "", 0, ppl(100)),
		run("r10i1", "m", "admm-grad", "0.5", 0, ppl(21), "rho", 10.0, "iters", 10.0),
		run("r1i1", "m", "admm-grad", "0.5", 0, ppl(11), "rho", 0.1, "iters", 10.0),
		run("r1i2", "m", "admm-grad", "0.5", 0, ppl(12), "rho", 0.1, "iters", 20.0),
		run("r10i2", "m", "admm-grad", "0.5", 0, ppl(22), "rho", 10.0, "iters", 20.0),
		run("r1i2s", "m", "admm-grad", "0.5", 1, ppl(14), "rho", 0.1, "iters", 20.0),
		run("r10i2-6", "m", "admm-grad", "0.6", 0, ppl(32), "rho", 10.0, "iters", 20.0),
		run("w", "m", "wanda", "0.5", 0, ppl(50)),
	}
}

// describe prints plotData's result as "label: (x,y) (x,y); …| dense: y".
func describe(series []plotSeries, dense []denseLine) string {
	var b strings.Builder
	for i, s := range series {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s.label + ":")
		for _, p := range s.xys {
			fmt.Fprintf(&b, " (%g,%g)", p.X, p.Y)
		}
	}
	for _, d := range dense {
		fmt.Fprintf(&b, " | %s: %g", d.label, d.y)
	}
	return b.String()
}

func TestPlotData(t *testing.T) {
	sweep := []Record{
		run("d", "m", "dense", "", 0, ppl(10)),
		run("w7", "m", "wanda", "0.7", 0, ppl(70)),
		run("w5", "m", "wanda", "0.5", 0, ppl(50)),
		run("w5s", "m", "wanda", "0.5", 1, ppl(54)),
		run("w24", "m", "wanda", "2:4", 0, ppl(60)),
		run("m6", "m", "magnitude", "0.6", 0, ppl(90)),
		run("k", "m", "magnitude", "0.6", 0, map[string]float64{"kld": 1}), // no Y
	}
	twoModels := []Record{
		run("da", "A", "dense", "", 0, ppl(10)),
		run("db", "B", "dense", "", 0, ppl(20)),
		run("wa", "A", "wanda", "0.5", 0, ppl(30)),
		run("wb", "B", "wanda", "0.5", 0, ppl(40)),
	}
	for _, tc := range []struct {
		name  string
		recs  []Record
		o     PlotOptions
		xName string
		want  string
	}{
		{"rho, grid split by iters and sparsity, seeds averaged", rhoGrid(), PlotOptions{X: "rho", Y: "wikitext2_ppl"}, "ρ",
			"admm-grad 50% iters=10: (0.1,11) (10,21); admm-grad 50% iters=20: (0.1,13) (10,22); admm-grad 60% iters=20: (10,32) | dense: 100"},
		{"iters, series by rho", rhoGrid(), PlotOptions{X: "iters", Y: "wikitext2_ppl", Series: "rho"}, "iters",
			"ρ=0.1 50%: (10,11) (20,13); ρ=10 50%: (10,21) (20,22); ρ=10 60%: (20,32) | dense: 100"},
		{"sparsity, N:M left out, methods in order", sweep, PlotOptions{X: "sparsity", Y: "wikitext2_ppl", MethodOrder: paperOrder}, "sparsity",
			"magnitude: (0.6,90); wanda: (0.5,52) (0.7,70) | dense: 10"},
		{"series by sparsity", rhoGrid(), PlotOptions{X: "rho", Y: "wikitext2_ppl", Series: "sparsity"}, "ρ",
			"50% iters=10: (0.1,11) (10,21); 50% iters=20: (0.1,13) (10,22); 60% iters=20: (10,32) | dense: 100"},
		{"models", twoModels, PlotOptions{X: "sparsity", Y: "wikitext2_ppl"}, "sparsity",
			"A wanda: (0.5,30); B wanda: (0.5,40) | dense A: 10 | dense B: 20"},
		{"series by model", twoModels, PlotOptions{X: "sparsity", Y: "wikitext2_ppl", Series: "model"}, "sparsity",
			"A: (0.5,30); B: (0.5,40) | dense A: 10 | dense B: 20"},
		{"dense without Y draws no line", sweep[1:], PlotOptions{X: "sparsity", Y: "wikitext2_ppl", MethodOrder: paperOrder}, "sparsity",
			"magnitude: (0.6,90); wanda: (0.5,52) (0.7,70)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xName, series, dense, err := plotData(tc.recs, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if xName != tc.xName {
				t.Errorf("x axis %q, want %q", xName, tc.xName)
			}
			if got := describe(series, dense); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestPlotFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		o    PlotOptions
	}{
		{"png", "rho.png", PlotOptions{X: "rho", Y: "wikitext2_ppl"}},
		{"png upper case, log X", "rho.PNG", PlotOptions{X: "rho", Y: "wikitext2_ppl", LogX: true, Title: "ρ ablation"}},
		{"svg", "rho.svg", PlotOptions{X: "iters", Y: "wikitext2_ppl", Series: "rho"}},
		{"svg in a new directory", "plots/sub/rho.svg", PlotOptions{X: "rho", Y: "wikitext2_ppl", LogX: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.o.Path = filepath.Join(dir, tc.file)
			if err := Plot(rhoGrid(), tc.o); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(tc.o.Path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(strings.ToLower(tc.file), ".png") {
				img, err := png.Decode(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				// 6×4 inches at vg's default 96 dpi.
				if b := img.Bounds(); b.Dx() != 576 || b.Dy() != 384 {
					t.Errorf("image is %v, want 576×384", b)
				}
			} else if !bytes.Contains(data, []byte("<svg")) || !bytes.Contains(data, []byte("</svg>")) {
				t.Errorf("not an SVG document: %.200s", data)
			}
			entries, _ := os.ReadDir(filepath.Dir(tc.o.Path))
			if len(entries) != 1 {
				t.Errorf("%d files beside the plot, want none: %v", len(entries)-1, entries)
			}
		})
	}
}

func TestPlotErrors(t *testing.T) {
	nm := []Record{run("a", "m", "wanda", "2:4", 0, ppl(1)), run("b", "m", "wanda", "4:8", 0, ppl(2))}
	zero := append(rhoGrid(), run("r0", "m", "admm-grad", "0.5", 0, ppl(9), "rho", 0.0, "iters", 10.0))
	sched := []Record{run("a", "m", "admm-grad", "0.5", 0, ppl(1), "schedule", "cubic")}
	for _, tc := range []struct {
		name string
		recs []Record
		o    PlotOptions
		want string
	}{
		{"extension", rhoGrid(), PlotOptions{X: "rho", Y: "wikitext2_ppl", Path: "p.pdf"}, "want a .png or .svg file"},
		{"no extension", rhoGrid(), PlotOptions{X: "rho", Y: "wikitext2_ppl", Path: "p"}, "want a .png or .svg file"},
		{"no X", rhoGrid(), PlotOptions{Y: "wikitext2_ppl"}, "plot: X and Y must be given"},
		{"X a method", rhoGrid(), PlotOptions{X: "method", Y: "wikitext2_ppl"}, "plot X method: want sparsity or a method option"},
		{"X = series", rhoGrid(), PlotOptions{X: "rho", Series: "rho", Y: "wikitext2_ppl"}, "plot X and series are both rho"},
		{"unknown metric", rhoGrid(), PlotOptions{X: "rho", Y: "kld"}, "plot: no run has metric kld; the runs have wikitext2_ppl"},
		{"no points", rhoGrid(), PlotOptions{X: "steps", Y: "wikitext2_ppl"}, "plot: no run has option steps, a method and wikitext2_ppl"},
		{"only N:M", nm, PlotOptions{X: "sparsity", Y: "wikitext2_ppl"},
			"plot: no run has a sparsity, a method and wikitext2_ppl (2 N:M runs left out: they have no sparsity ratio)"},
		{"log X at zero", zero, PlotOptions{X: "rho", Y: "wikitext2_ppl", LogX: true}, "plot: log scale for rho, but a run has rho 0"},
		{"X not a number", sched, PlotOptions{X: "schedule", Y: "wikitext2_ppl"}, "plot X schedule: run a has schedule cubic, not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			old := filepath.Join(dir, "p.png")
			if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.o.Path == "" {
				tc.o.Path = old
			} else {
				tc.o.Path = filepath.Join(dir, tc.o.Path)
			}
			err := Plot(tc.recs, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			if data, _ := os.ReadFile(old); len(entries) != 1 || string(data) != "old" {
				t.Errorf("a failed plot touched the directory: %v, %q", entries, data)
			}
		})
	}
}

func TestPlotLongLabels(t *testing.T) {
	long := strings.Repeat("x", 120)
	recs := []Record{run("a", "m", long, "0.5", 0, ppl(1)), run("b", "m", long, "0.6", 0, ppl(2))}
	path := filepath.Join(t.TempDir(), "p.svg")
	if err := Plot(recs, PlotOptions{X: "sparsity", Y: "wikitext2_ppl", Path: path}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !bytes.Contains(data, []byte(long)) {
		t.Error("the legend lacks the label")
	}
}

// TestPlotNeutralOption: a record without an option that has a neutral
// value ran with that value, so an ablation over it plots that point too
// (records leave relax out at 1).
func TestPlotNeutralOption(t *testing.T) {
	SetNeutral("admm-x", "relax", 1.0)
	t.Cleanup(func() { delete(neutral, "admm-x") })
	recs := []Record{
		run("plain", "m", "admm-x", "0.5", 0, ppl(20)),
		run("relaxed", "m", "admm-x", "0.5", 0, ppl(19), "relax", 1.9),
	}
	_, series, dense, err := plotData(recs, PlotOptions{X: "relax", Y: "wikitext2_ppl"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := describe(series, dense), "admm-x: (1,20) (1.9,19)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
