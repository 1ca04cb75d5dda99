package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/prunebench/prunebench/experiments"
	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/runners"
)

// dryRun is the JSON shape of one run in run --dry-run --json.
type dryRun struct {
	ID      string         `json:"id"`
	Model   string         `json:"model"`
	Method  results.Method `json:"method"`
	Pattern string         `json:"pattern,omitempty"`
	Seed    *uint64        `json:"seed,omitempty"`
	Done    bool           `json:"done"`
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "data directory (default $PRUNEBENCH_DATA or ../shared/data)")
	out := fs.String("out", "", "results file (default: the config's output)")
	dry := fs.Bool("dry-run", false, "list the runs, their IDs and whether the results file has them; run nothing")
	asJSON := fs.Bool("json", false, "print JSON instead of a table: the records (one per line), or with --dry-run an array of runs")
	format := fs.String("format", "text", "table format: text, markdown or csv")
	var maxMemory memoryFlag
	fs.Var(&maxMemory, "max-memory", memoryUsage)
	metric := fs.String("metric", "", "the table's metric (default: the first perplexity the config evaluates)")
	shardFlag := fs.String("shard", "", "run one slice of the runs, recorded in RESULTS.shard-I-of-N.jsonl: I/N (0 ≤ I < N), auto (the Slurm array task) or auto/N (the Slurm array task or Kubernetes Indexed Job pod, of N)")
	pos, err := parseArgs(fs, args, "CONFIG")
	if err != nil {
		return err
	}
	var shard *runners.Shard
	if *shardFlag != "" {
		sh, err := runners.ParseShard(*shardFlag, os.Getenv)
		if err != nil {
			return usageError{err}
		}
		shard = &sh
	}
	if *format != "text" && *format != "markdown" && *format != "csv" {
		return usagef("--format %q: want text, markdown or csv", *format) // before hours of runs, not after
	}
	exp, err := experiments.Load(pos[0])
	if err != nil {
		return usageError{err}
	}
	if *out == "" {
		*out = exp.Output
	}
	if names := runners.EvalMetrics(exp.Eval); *metric != "" && !slices.Contains(names, *metric) {
		return usagef("--metric %q: the config evaluates %s", *metric, strings.Join(names, ", "))
	}
	o := runners.SweepOptions{Out: *out, DataDir: *dataDir, Progress: stderr, DryRun: *dry, MaxMemory: uint64(maxMemory)}
	if f, ok := stderr.(*os.File); ok && !*dry && term.IsTerminal(int(f.Fd())) {
		o.Bar = &terminalBar{w: stderr}
	}
	specs := exp.Runs
	if shard != nil {
		if specs, err = shard.Slice(specs, &o); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "run: shard %s: %d of the %d runs, recorded in %s\n", shard, len(specs), len(exp.Runs), o.Out)
		if !*dry {
			if o.Heartbeat, err = runners.StartHeartbeat(*out, exp.Name, *shard, len(exp.Runs)); err != nil {
				return err
			}
		}
	}
	res, err := runners.Sweep(ctx, specs, o)
	if hbErr := o.Heartbeat.Close(ctx, err); hbErr != nil {
		fmt.Fprintf(stderr, "prunebench run: %v\n", hbErr) // the runs matter more than their heartbeat
	}
	if o.Bar != nil {
		fmt.Fprintln(stderr) // end the bar's line
	}
	if err != nil {
		return err
	}
	if res.Torn != "" {
		fmt.Fprintf(stderr, "prunebench run: %s\n", res.Torn)
	}
	if *dry {
		return printDryRun(stdout, res.Runs, *asJSON)
	}
	where := o.Out
	if len(o.Recorded) > 0 {
		where += " or the sweep's other results files"
	}
	fmt.Fprintf(stderr, "run: %d runs done now, %d found in %s\n", res.Ran, res.Reused, where)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range res.Records {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	m := *metric
	if m == "" {
		m = defaultMetric(exp)
	}
	if len(res.Records) > 0 && !*asJSON {
		if err := results.PaperTable(stdout, res.Records, results.TableOptions{
			Metric: m, Format: *format, MethodOrder: runners.MethodNames, Caption: tableCaption(exp, res.Records, m),
		}); err != nil {
			return err
		}
	}
	if n := len(res.Failed); n > 0 {
		for _, f := range res.Failed {
			fmt.Fprintf(stderr, "run failed: %s\n", oneLine(errors.New(f)))
		}
		return fmt.Errorf("%d of %d runs failed (listed above); the others are in %s", n, len(res.Runs), o.Out)
	}
	return nil
}

// defaultMetric is what a config's table shows: its first perplexity, else
// the zero-shot mean, else the KLD.
func defaultMetric(exp *experiments.Experiment) string {
	switch {
	case len(exp.Eval.PPL) > 0:
		return runners.PPLMetricNames(exp.Eval.PPL)[0]
	case exp.Eval.ZeroShot != nil:
		return results.MetricMeanAccPaper7
	}
	return results.MetricKLD
}

func tableCaption(exp *experiments.Experiment, recs []results.Record, metric string) string {
	c := results.Caption(recs, metric)
	if exp.Title != "" && exp.Title != exp.Name {
		return exp.Title + ": " + c
	}
	return c
}

func printDryRun(w io.Writer, runs []runners.Planned, asJSON bool) error {
	list := make([]dryRun, len(runs))
	rows := make([][]string, len(runs))
	for i, p := range runs {
		d := dryRun{ID: p.ID, Model: p.Spec.Model, Method: p.Method.Record(), Done: p.Done}
		if p.Spec.Method.Name != runners.Dense {
			d.Pattern = p.Spec.Pattern.String()
			seed := p.Spec.Calib.Seed
			d.Seed = &seed
		}
		list[i] = d
		var opts []string
		for _, k := range d.Method.Keys {
			opts = append(opts, k+"="+runners.FormatValue(d.Method.Options[k]))
		}
		done := ""
		if p.Done {
			done = "done"
		}
		seed := ""
		if d.Seed != nil {
			seed = fmt.Sprint(*d.Seed)
		}
		rows[i] = []string{p.ID, d.Model, d.Method.Name, d.Pattern, seed, strings.Join(opts, " "), done}
	}
	if asJSON {
		return json.NewEncoder(w).Encode(list)
	}
	return printTable(w, []string{"id", "model", "method", "pattern", "seed", "options", "recorded"}, rows)
}

// terminalBar is the sweep's progress bar on a terminal.
type terminalBar struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (t *terminalBar) Start(total, done int) {
	t.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(t.w),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetDescription("runs"),
	)
	_ = t.bar.Set(done)
}

func (t *terminalBar) Run(label string) { t.bar.Describe(label) }

func (t *terminalBar) Finish(string) { _ = t.bar.Add(1) }

// parseArgs parses flags given before, between or after the positional
// arguments named by want, which must all be present.
func parseArgs(fs *flag.FlagSet, args []string, want ...string) ([]string, error) {
	pos, err := parsePositional(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(want) {
		return nil, usagef("want %s, got %d arguments (%s -h)", strings.Join(want, " "), len(pos), fs.Name())
	}
	return pos, nil
}

// parsePositional parses flags given before, between or after positional
// arguments, and returns those.
func parsePositional(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
