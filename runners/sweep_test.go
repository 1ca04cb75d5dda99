package runners_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/runners"
)

// sweepSpecs are a few cheap runs of stories260K: the dense model, then
// methods in an order where each must start from restored dense weights.
func sweepSpecs(t *testing.T) []runners.RunSpec {
	t.Helper()
	calib := data.CalibSpec{Source: data.CorpusWikiText2Valid, NSamples: 4, SeqLen: 64, Mode: data.ModeContiguous}
	ev := runners.EvalSpec{
		PPL: []runners.PPLSpec{{Dataset: "wikitext2", SeqLen: 128, MaxWindows: 2}},
		KLD: &runners.KLDSpec{Dataset: "wikitext2", SeqLen: 128, MaxWindows: 1},
	}
	dir := datatest.Dir(t)
	base := runners.RunSpec{Config: "sweep-test", Model: "stories260K", DataDir: dir, Calib: calib, Eval: ev}
	var specs []runners.RunSpec
	add := func(m runners.MethodSpec, p prune.Pattern) {
		s := base
		s.Method, s.Pattern = m, p
		specs = append(specs, s)
	}
	add(runners.MethodSpec{Name: runners.Dense}, prune.Pattern{})
	add(spec("magnitude"), prune.Pattern{Ratio: 0.5})
	add(spec("sparsegpt"), prune.Pattern{N: 2, M: 4})
	add(spec("wanda"), prune.Pattern{Ratio: 0.6})
	add(spec("admm1", "iters", 5), prune.Pattern{Ratio: 0.5})
	return specs
}

func metricsByID(recs []results.Record) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, r := range recs {
		out[r.ID] = r.Metrics
	}
	return out
}

// TestSweepMatchesRun checks the sharing a sweep does (one model opened,
// the pruned blocks forgotten between runs, calibration windows sampled
// once) against running each spec alone in a fresh process state, number
// for number.
func TestSweepMatchesRun(t *testing.T) {
	specs := sweepSpecs(t)
	alone := map[string]*runners.Outcome{}
	for _, s := range specs {
		o, err := runners.Run(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		alone[o.Record.ID] = o
	}
	out := filepath.Join(t.TempDir(), "r.jsonl")
	res, err := runners.Sweep(context.Background(), specs, runners.SweepOptions{Out: out, DataDir: specs[0].DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ran != len(specs) || len(res.Records) != len(specs) {
		t.Fatalf("ran %d, %d records, want %d", res.Ran, len(res.Records), len(specs))
	}
	for _, r := range res.Records {
		a, ok := alone[r.ID]
		if !ok {
			t.Fatalf("sweep record %s (%s %s) has no twin run alone", r.ID, r.Method.Name, r.Pattern)
		}
		if !reflect.DeepEqual(r.Metrics, a.Record.Metrics) {
			t.Errorf("%s %s: sweep metrics %v, alone %v", r.Method.Name, r.Pattern, r.Metrics, a.Record.Metrics)
		}
		if r.Method.Name != runners.Dense && *r.Achieved != *a.Record.Achieved {
			t.Errorf("%s %s: sparsity %v in the sweep, %v alone", r.Method.Name, r.Pattern, *r.Achieved, *a.Record.Achieved)
		}
	}
	stored, torn, err := results.Read(out)
	if err != nil || torn != "" {
		t.Fatalf("reading %s: %v %q", out, err, torn)
	}
	if !reflect.DeepEqual(metricsByID(stored), metricsByID(res.Records)) {
		t.Error("the file's records differ from those returned")
	}
}

// TestSweepKLD: the dense run's KLD against itself is exactly 0 with every
// top token the same; a pruned run's is positive.
func TestSweepKLD(t *testing.T) {
	specs := sweepSpecs(t)[:2]
	res, err := runners.Sweep(context.Background(), specs, runners.SweepOptions{DataDir: specs[0].DataDir})
	if err != nil {
		t.Fatal(err)
	}
	d, p := res.Records[0], res.Records[1]
	if d.Metrics[results.MetricKLD] != 0 || d.Metrics[results.MetricSameTop] != 1 || d.Metrics[results.MetricPPLRatio] != 1 {
		t.Errorf("dense KLD metrics %v: want kld 0, same_top 1, ppl_ratio 1 exactly", d.Metrics)
	}
	if !(p.Metrics[results.MetricKLD] > 0) || !(p.Metrics[results.MetricPPLRatio] > 1) {
		t.Errorf("pruned KLD metrics %v: want kld > 0 and a ppl ratio above 1", p.Metrics)
	}
}

// TestSweepResume: a second sweep over a file holding some of the runs
// runs only the others, and the file ends with every record once.
func TestSweepResume(t *testing.T) {
	specs := sweepSpecs(t)
	out := filepath.Join(t.TempDir(), "r.jsonl")
	full, err := runners.Sweep(context.Background(), specs, runners.SweepOptions{Out: out, DataDir: specs[0].DataDir})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	// Keep two records and half of a third, as a killed writer leaves it.
	kept := lines[0] + lines[1] + lines[2][:len(lines[2])/2]
	if err := os.WriteFile(out, []byte(kept), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := runners.Sweep(context.Background(), specs, runners.SweepOptions{Out: out, DataDir: specs[0].DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if again.Reused != 2 || again.Ran != len(specs)-2 || again.Torn == "" {
		t.Errorf("resumed sweep reused %d, ran %d, torn %q: want 2, %d and a torn line reported", again.Reused, again.Ran, again.Torn, len(specs)-2)
	}
	stored, torn, err := results.Read(out)
	if err != nil || torn != "" {
		t.Fatalf("reading %s: %v %q", out, err, torn)
	}
	if !reflect.DeepEqual(metricsByID(stored), metricsByID(full.Records)) {
		t.Errorf("resumed file %v, want %v", metricsByID(stored), metricsByID(full.Records))
	}
	dry, err := runners.Sweep(context.Background(), specs, runners.SweepOptions{Out: out, DataDir: specs[0].DataDir, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dry.Runs {
		if !p.Done {
			t.Errorf("dry run: %s not recorded", p.ID)
		}
	}
}

// TestRunIDDefaults: an option spelled out at its default gives the same
// run ID as leaving it out, and the record holds every option but those at
// their neutral value either way; a value that changes the numbers changes
// the ID.
func TestRunIDDefaults(t *testing.T) {
	base := sweepSpecs(t)[1]
	base.Method = spec("admm-grad")
	explicit := base
	explicit.Method = spec("admm-grad", "rho", 1, "iters", 20, "steps", 15, "schedule", "cubic", "percdamp", 0.1, "per-output", false, "relax", 1.0)
	explicit.Method.Options["rho"] = 1.0
	other := base
	other.Method = spec("admm-grad", "rho", 0.5)
	relaxed := base
	relaxed.Method = spec("admm-grad", "relax", 1.9)
	res, err := runners.Sweep(context.Background(), []runners.RunSpec{base, other, relaxed}, runners.SweepOptions{DataDir: base.DataDir, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := runners.Sweep(context.Background(), []runners.RunSpec{explicit}, runners.SweepOptions{DataDir: base.DataDir, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Runs[0].ID != res2.Runs[0].ID {
		t.Errorf("spelled-out defaults changed the ID: %s vs %s", res.Runs[0].ID, res2.Runs[0].ID)
	}
	if res.Runs[0].ID == res.Runs[1].ID {
		t.Error("rho 0.5 has the ID of rho 1")
	}
	if res.Runs[0].ID == res.Runs[2].ID {
		t.Error("relax 1.9 has the ID of relax 1")
	}
	// relax joined the table after run IDs existed: at its neutral 1 the
	// record (and so the ID) holds what it held before, every other option.
	rec := res.Runs[0].Method.Record()
	if want := []string{"rho", "iters", "steps", "schedule", "percdamp", "per_output"}; !reflect.DeepEqual(rec.Keys, want) {
		t.Errorf("record options %v, want every option but relax %v", rec.Keys, want)
	}
	if rec := res.Runs[2].Method.Record(); rec.Options["relax"] != 1.9 {
		t.Errorf("relax 1.9 run's record options %v, want relax 1.9", rec.Options)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestSweepGoesOnAfterAFailure: a run that fails (here its zero-shot
// samples cannot be written) leaves no record and is reported, and the
// runs after it still run, from restored dense weights.
func TestSweepGoesOnAfterAFailure(t *testing.T) {
	specs := sweepSpecs(t)[:4]
	for i := range specs {
		specs[i].Eval.KLD = nil
	}
	specs[2].Eval.ZeroShot = &runners.ZeroShotSpec{Tasks: []string{"rte"}, Limit: 2}
	specs[2].Samples = failingWriter{}
	out := filepath.Join(t.TempDir(), "r.jsonl")
	res, err := runners.Sweep(context.Background(), specs, runners.SweepOptions{Out: out, DataDir: specs[0].DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || !strings.Contains(res.Failed[0], "disk full") || res.Ran != 3 || len(res.Records) != 3 {
		t.Fatalf("failed %q, ran %d, %d records: want the one failure and 3 runs", res.Failed, res.Ran, len(res.Records))
	}
	alone, err := runners.Run(context.Background(), specs[3])
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Records[2]; got.ID != alone.Record.ID || !reflect.DeepEqual(got.Metrics, alone.Record.Metrics) {
		t.Errorf("the run after the failure: %s %v, alone %s %v", got.ID, got.Metrics, alone.Record.ID, alone.Record.Metrics)
	}
}

// TestRunMaxMemory: a budget that forces fewer calibration sequences per
// block forward and smaller evaluation batches gives the numbers of
// an unbounded run.
func TestRunMaxMemory(t *testing.T) {
	s := sweepSpecs(t)[3] // wanda
	big, err := runners.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	s.MaxMemory, s.Progress = 1e6, &progress
	small, err := runners.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), " of 4 calibration sequences per block forward") {
		t.Errorf("no chunking reported:\n%s", progress.String())
	}
	if small.Record.ID != big.Record.ID || small.Record.Metrics["wikitext2_ppl"] != big.Record.Metrics["wikitext2_ppl"] {
		t.Errorf("1 MB budget: %s %v; unbounded: %s %v", small.Record.ID, small.Record.Metrics, big.Record.ID, big.Record.Metrics)
	}
}
