package results

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	if err := Table(&buf, []string{"method", "ppl"}, [][]string{{"wanda", "183.56"}, {"admm-grad", "168.62"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	// Border, header, separator, two rows, border.
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6:\n%s", len(lines), buf.String())
	}
	for i, want := range [][]string{{"METHOD", "PPL"}, {"wanda", "183.56"}, {"admm-grad", "168.62"}} {
		line := lines[[]int{1, 3, 4}[i]]
		for _, cell := range want {
			if !strings.Contains(line, cell) {
				t.Errorf("line %q lacks %q", line, cell)
			}
		}
	}
}

// run builds a record for the table, compare and plot tests. opts
// alternates option names and values, in order.
func run(id, model, method, pattern string, seed uint64, metrics map[string]float64, opts ...any) Record {
	r := Record{ID: id, Model: ModelRef{Name: model}, Method: Method{Name: method, Options: map[string]any{}},
		Pattern: pattern, Metrics: metrics}
	for i := 0; i < len(opts); i += 2 {
		k := opts[i].(string)
		r.Method.Options[k] = opts[i+1]
		r.Method.Keys = append(r.Method.Keys, k)
	}
	if method != MethodDense {
		r.Calibration = &Calibration{Source: "wikitext2-valid", Mode: "contiguous", NSamples: 128, SeqLen: 256, Seed: seed}
	}
	for _, m := range []string{"wikitext2_ppl", "c4_ppl"} {
		if _, ok := metrics[m]; ok {
			r.PPL = append(r.PPL, PPL{Metric: m, Dataset: strings.TrimSuffix(m, "_ppl"), Protocol: "wanda", SeqLen: 256, MaxWindows: 64, Windows: 64})
		}
	}
	return r
}

func ppl(v float64) map[string]float64 { return map[string]float64{"wikitext2_ppl": v} }

var paperOrder = []string{"magnitude", "wanda", "sparsegpt", "admm1", "admm-grad"}

// paperRuns is one model's sweep: dense, two baselines in the wrong order,
// a method unknown to the order, patterns out of order, two seeds of wanda
// at 50% and a grid over admm-grad's rho.
func paperRuns(model string) []Record {
	return []Record{
		run(model+"w5", model, "wanda", "0.5", 0, ppl(183.56)),
		run(model+"w5s1", model, "wanda", "0.5", 1, ppl(185.56)),
		run(model+"m48", model, "magnitude", "4:8", 0, ppl(400.1)),
		run(model+"m24", model, "magnitude", "2:4", 0, ppl(455.52)),
		run(model+"m5", model, "magnitude", "0.5", 0, ppl(313.25)),
		run(model+"m7", model, "magnitude", "0.7", 0, ppl(1113.7)),
		run(model+"d", model, "dense", "", 0, ppl(122.33)),
		run(model+"z5", model, "zeta", "0.5", 0, ppl(1.23449)),
		run(model+"b5", model, "beta", "0.5", 0, ppl(150)),
		run(model+"a10", model, "admm-grad", "0.5", 0, ppl(168.62), "rho", 1.0, "iters", 20.0),
		run(model+"a01", model, "admm-grad", "0.5", 0, ppl(170), "rho", 0.1, "iters", 20.0),
		run(model+"a10-7", model, "admm-grad", "0.7", 0, ppl(600), "rho", 1.0, "iters", 20.0),
		run(model+"a10-24", model, "admm-grad", "1:4", 0, ppl(900), "rho", 1, "iters", 20),
	}
}

func TestPaperTable(t *testing.T) {
	two := append(paperRuns("A"), run("B-d", "B", "dense", "", 0, ppl(50)), run("B-w", "B", "wanda", "0.5", 0, ppl(60)))
	acc := []Record{
		run("d", "m", "dense", "", 0, map[string]float64{"boolq_acc": 0.62, "kld": 0}),
		run("w", "m", "wanda", "0.5", 0, map[string]float64{"boolq_acc": 0.5, "kld": 1.23456}),
		run("w1", "m", "wanda", "0.5", 1, map[string]float64{"boolq_acc": 0.6, "kld": 0.5}),
		run("w2", "m", "wanda", "0.5", 2, map[string]float64{"boolq_acc": 0.7, "kld": 0.25}),
		run("s", "m", "sparsegpt", "0.5", 0, map[string]float64{"boolq_acc": 0.55, "kld": 0.05}),
		run("s1", "m", "sparsegpt", "0.5", 1, map[string]float64{"boolq_acc": 0.56, "kld": 0.07}),
	}
	grid := []Record{
		run("d", "m", "dense", "", 0, ppl(100)),
		run("r1i1", "m", "admm-grad", "0.5", 0, ppl(11), "rho", 0.1, "iters", 10.0),
		run("r1i2", "m", "admm-grad", "0.5", 0, ppl(12), "rho", 0.1, "iters", 20.0),
		run("r2i1", "m", "admm-grad", "0.5", 0, ppl(21), "rho", 10.0, "iters", 10.0),
		run("r2i2", "m", "admm-grad", "0.5", 0, ppl(22), "rho", 10.0, "iters", 20.0),
		run("r2i2-6", "m", "admm-grad", "0.6", 0, ppl(32), "rho", 10.0, "iters", 20.0),
		run("w", "m", "wanda", "0.5", 0, ppl(50)),
	}
	calib := []Record{
		run("w", "m", "wanda", "0.5", 0, ppl(50)),
		run("w64", "m", "wanda", "0.5", 0, ppl(55)),
		run("s", "m", "sparsegpt", "0.5", 0, ppl(40)),
	}
	calib[1].Calibration.NSamples = 64
	for _, tc := range []struct {
		name string
		recs []Record
		o    TableOptions
		want string
	}{
		{"paper layout", paperRuns("A"), TableOptions{Format: "csv", MethodOrder: paperOrder}, `method,50%,70%,1:4,2:4,4:8
dense,122.33,,,,
magnitude,313.25,1113.70,,455.52,400.10
wanda,184.56 ± 1.41,,,,
admm-grad ρ=0.1,170.00,,,,
admm-grad ρ=1,168.62,600.00,900.00,,
beta,150.00,,,,
zeta,1.234,,,,
`},
		{"no order: dense first, the rest by name", paperRuns("A")[:8], TableOptions{Format: "csv"}, `method,50%,70%,2:4,4:8
dense,122.33,,,
magnitude,313.25,1113.70,455.52,400.10
wanda,184.56 ± 1.41,,,
zeta,1.234,,,
`},
		{"duplicate IDs count once", append(paperRuns("A")[:2], paperRuns("A")[:2]...), TableOptions{Format: "csv"}, `method,50%
wanda,184.56 ± 1.41
`},
		{"several models: a model column in csv", two, TableOptions{Format: "csv", MethodOrder: paperOrder}, `model,method,50%,70%,1:4,2:4,4:8
A,dense,122.33,,,,
A,magnitude,313.25,1113.70,,455.52,400.10
A,wanda,184.56 ± 1.41,,,,
A,admm-grad ρ=0.1,170.00,,,,
A,admm-grad ρ=1,168.62,600.00,900.00,,
A,beta,150.00,,,,
A,zeta,1.234,,,,
B,dense,50.00
B,wanda,60.00
`},
		{"models as rows", two, TableOptions{Format: "csv", Rows: "model", MethodOrder: paperOrder}, `model,50%,70%,1:4,2:4,4:8
A dense,122.33,,,,
A magnitude,313.25,1113.70,,455.52,400.10
A wanda,184.56 ± 1.41,,,,
A admm-grad ρ=0.1,170.00,,,,
A admm-grad ρ=1,168.62,600.00,900.00,,
A beta,150.00,,,,
A zeta,1.234,,,,
B dense,50.00,,,,
B wanda,60.00,,,,
`},
		{"models as columns", two, TableOptions{Format: "csv", Cols: "model", MethodOrder: paperOrder}, `method,A,B
dense,122.33,50.00
magnitude 50%,313.25,
magnitude 70%,1113.70,
magnitude 2:4,455.52,
magnitude 4:8,400.10,
wanda,184.56 ± 1.41,60.00
admm-grad 50% ρ=0.1,170.00,
admm-grad 50% ρ=1,168.62,
admm-grad 70% ρ=1,600.00,
admm-grad 1:4 ρ=1,900.00,
beta,150.00,
zeta,1.234,
`},
		{"option rows and columns", grid, TableOptions{Format: "csv", Rows: "rho", Cols: "iters"}, `ρ,iters=10,iters=20
dense,100.00,
0.1 50%,11.00,12.00
10 50%,21.00,22.00
10 60%,,32.00
`},
		{"option columns", grid, TableOptions{Format: "csv", Cols: "iters", MethodOrder: paperOrder}, `method,iters=10,iters=20
dense,100.00,
admm-grad 50% ρ=0.1,11.00,12.00
admm-grad 50% ρ=10,21.00,22.00
admm-grad 60% ρ=10,,32.00
`},
		{"grid options in labels", grid, TableOptions{Format: "csv", MethodOrder: paperOrder}, `method,50%,60%
dense,100.00,
wanda,50.00,
admm-grad ρ=0.1 iters=10,11.00,
admm-grad ρ=0.1 iters=20,12.00,
admm-grad ρ=10 iters=10,21.00,
admm-grad ρ=10 iters=20,22.00,32.00
`},
		{"calibration differences in labels", calib, TableOptions{Format: "csv", MethodOrder: paperOrder}, `method,50%
wanda nsamples=64,55.00
wanda nsamples=128,50.00
sparsegpt,40.00
`},
		{"accuracy in percent, counts when they differ", acc, TableOptions{Format: "csv", Metric: "boolq_acc", MethodOrder: paperOrder}, `method,50%
dense,62.00
wanda,60.00 ± 10.00 (n=3)
sparsegpt,55.50 ± 0.71 (n=2)
`},
		{"small values with 4 digits", acc, TableOptions{Format: "csv", Metric: "kld", MethodOrder: paperOrder}, `method,50%
dense,0
wanda,0.6615 ± 0.51 (n=3)
sparsegpt,0.06 ± 0.014 (n=2)
`},
		{"only dense", paperRuns("A")[6:7], TableOptions{Format: "csv"}, `method,wikitext2_ppl
dense,122.33
`},
		{"markdown", paperRuns("A")[:7], TableOptions{Format: "markdown", MethodOrder: paperOrder},
			"WikiText-2 perplexity — A, calibration wikitext2-valid 128×256, 2 seeds, first 64 windows of 256 tokens\n\n" +
				`| method    | 50%           | 70%     | 2:4    | 4:8    |
|:----------|:--------------|:--------|:-------|:-------|
| dense     | 122.33        |         |        |        |
| magnitude | 313.25        | 1113.70 | 455.52 | 400.10 |
| wanda     | 184.56 ± 1.41 |         |        |        |
`},
		{"markdown, one table per model, given caption", []Record{two[1], two[len(two)-2], two[len(two)-1]}, TableOptions{Format: "markdown", Caption: "Table 1"},
			"Table 1 (A)\n\n" + `| method | 50%    |
|:-------|:-------|
| wanda  | 185.56 |
` + "\nTable 1 (B)\n\n" + `| method | 50%   |
|:-------|:------|
| dense  | 50.00 |
| wanda  | 60.00 |
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := PaperTable(&buf, tc.recs, tc.o); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", buf.String(), tc.want)
			}
		})
	}
}

func TestPaperTableText(t *testing.T) {
	var buf bytes.Buffer
	recs := append(paperRuns("A")[:7], run("B-w", "B", "wanda", "0.5", 0, ppl(60)))
	if err := PaperTable(&buf, recs, TableOptions{MethodOrder: paperOrder}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	tables := strings.Split(out, "\n\nWikiText-2")
	if len(tables) != 2 {
		t.Fatalf("want two tables, each after its caption:\n%s", out)
	}
	for i, want := range [][]string{
		{"WikiText-2 perplexity — A, calibration wikitext2-valid 128×256, 2 seeds, first 64 windows of 256 tokens",
			"", "┌", "│ method    │ 50%           │ 70%     │ 2:4    │ 4:8    │", "├",
			"│ dense     │ 122.33        │         │        │        │",
			"│ magnitude │ 313.25        │ 1113.70 │ 455.52 │ 400.10 │",
			"│ wanda     │ 184.56 ± 1.41 │         │        │        │", "└"},
		{" perplexity — B, calibration wikitext2-valid 128×256, first 64 windows of 256 tokens",
			"", "┌", "│ method │ 50%   │", "├", "│ wanda  │ 60.00 │", "└"},
	} {
		lines := strings.Split(strings.TrimSuffix(tables[i], "\n"), "\n")
		if len(lines) != len(want) {
			t.Fatalf("table %d: %d lines, want %d:\n%s", i, len(lines), len(want), tables[i])
		}
		for j, w := range want {
			if len(w) <= 3 && w != "" && !strings.HasPrefix(lines[j], w) || len(w) > 3 && lines[j] != w || w == "" && lines[j] != "" {
				t.Errorf("table %d line %d:\n%s\nwant:\n%s", i, j, lines[j], w)
			}
		}
	}
}

func TestPaperTableErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		recs []Record
		o    TableOptions
		want string
	}{
		{"unknown metric", []Record{run("a", "m", "wanda", "0.5", 0, map[string]float64{"kld": 1, "c4_ppl": 2}),
			run("b", "m", "wanda", "0.6", 0, map[string]float64{"boolq_acc": 1})},
			TableOptions{}, "no run has metric wikitext2_ppl; the runs have boolq_acc, c4_ppl, kld"},
		{"no metrics at all", []Record{run("a", "m", "wanda", "0.5", 0, map[string]float64{})}, TableOptions{Metric: "kld"},
			"no run has metric kld (the runs have no metrics)"},
		{"format", paperRuns("A"), TableOptions{Format: "html"}, `table format "html": want text, markdown or csv`},
		{"rows = cols", paperRuns("A"), TableOptions{Rows: "sparsity"}, "table rows and columns are both sparsity"},
		{"nothing to place", paperRuns("A")[:2], TableOptions{Rows: "rho"}, "no run has option rho and a sparsity together with wikitext2_ppl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := PaperTable(io.Discard, tc.recs, tc.o)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCaption(t *testing.T) {
	llama := run("l", "m", "wanda", "0.5", 0, map[string]float64{"wikitext2_ppl_llamacpp": 9})
	llama.PPL = []PPL{{Metric: "wikitext2_ppl_llamacpp", Dataset: "wikitext2", Protocol: "llamacpp", SeqLen: 512, MaxWindows: 0, Windows: 70}}
	few := run("f", "n", "wanda", "0.5", 0, ppl(9))
	few.PPL[0].MaxWindows, few.PPL[0].Windows = 1000, 40 // the corpus ran out first
	random := run("r", "m", "sparsegpt", "0.5", 0, map[string]float64{"kld": 1, "same_top": 0.4, "boolq_acc": 0.5, "mean_acc_paper7": 0.3})
	random.Calibration.Mode = "random"
	random.KLD = &KLD{Dataset: "wikitext2", SeqLen: 512, MaxWindows: 64, Windows: 64}
	random.ZeroShot = map[string]TaskScore{"boolq": {Docs: 200, Limit: 200}, "rte": {Docs: 277, Limit: 200}}
	for _, tc := range []struct {
		name   string
		recs   []Record
		metric string
		want   string
	}{
		{"paper", paperRuns("stories260K"), "wikitext2_ppl",
			"WikiText-2 perplexity — stories260K, calibration wikitext2-valid 128×256, 2 seeds, first 64 windows of 256 tokens"},
		{"dense only", paperRuns("A")[6:7], "wikitext2_ppl", "WikiText-2 perplexity — A, first 64 windows of 256 tokens"},
		{"all windows, llama.cpp", []Record{llama}, "wikitext2_ppl_llamacpp",
			"WikiText-2 perplexity — m, calibration wikitext2-valid 128×256, all 70 windows of 512 tokens, llama.cpp protocol"},
		{"cap above the corpus; settings that differ", []Record{paperRuns("A")[0], few}, "wikitext2_ppl",
			"WikiText-2 perplexity — A, n, calibration wikitext2-valid 128×256, first 64 windows of 256 tokens; all 40 windows of 256 tokens"},
		{"records without the metric do not count", []Record{paperRuns("A")[0], llama}, "wikitext2_ppl",
			"WikiText-2 perplexity — A, calibration wikitext2-valid 128×256, first 64 windows of 256 tokens"},
		{"kld", []Record{random}, "kld", "KL divergence from the dense model (nats per token) — m, calibration wikitext2-valid 128×256 random, WikiText-2 first 64 windows of 512 tokens"},
		{"same top", []Record{random}, "same_top", "top-1 agreement with the dense model (%) — m, calibration wikitext2-valid 128×256 random, WikiText-2 first 64 windows of 512 tokens"},
		{"task", []Record{random}, "boolq_acc", "boolq accuracy (%) — m, calibration wikitext2-valid 128×256 random, first 200 documents"},
		{"mean acc", []Record{random}, "mean_acc_paper7", "mean zero-shot accuracy over the 7 paper tasks (%) — m, calibration wikitext2-valid 128×256 random, at most 200 documents per task"},
		{"unknown", []Record{run("x", "m", "dense", "", 0, map[string]float64{"foo": 1})}, "foo", "foo — m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Caption(tc.recs, tc.metric); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
