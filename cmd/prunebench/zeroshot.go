package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/runners"
)

// zeroshotReport is the JSON shape of a zero-shot run.
type zeroshotReport struct {
	Model      string                     `json:"model"`
	ModelFiles []data.FileRef             `json:"model_files"`
	Tasks      map[string]eval.TaskResult `json:"tasks"`
	MeanAcc    float64                    `json:"mean_acc"`
	Seconds    float64                    `json:"seconds"`
}

func runZeroShot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("zeroshot", stderr, &c)
	tasks := fs.String("tasks", strings.Join(eval.PaperTaskNames(), ","), "comma-separated tasks from "+strings.Join(eval.TaskNames(), ","))
	zs := runners.ZeroShotSpec{}
	fs.IntVar(&zs.Limit, "limit", 0, "score only the first N documents of each task, in file order (0 = all)")
	samples := fs.String("samples", "", "write one JSON line per document with its requests' log-likelihoods")
	fs.StringVar(&zs.HellaSwagCtx, "hellaswag-ctx", eval.HellaSwagCapitalizeTail, "six-line HellaSwag contexts: capitalize-tail or as-is")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, n := range strings.Split(*tasks, ",") {
		zs.Tasks = append(zs.Tasks, strings.TrimSpace(n))
	}
	spec := runners.RunSpec{Model: c.model, DataDir: c.dataDir, Progress: stderr, MaxMemory: uint64(c.maxMemory), Fetch: c.fetcher(stderr),
		Method: runners.MethodSpec{Name: runners.Dense}, Eval: runners.EvalSpec{ZeroShot: &zs}}
	if err := runners.Validate(spec); err != nil {
		return usageError{err}
	}
	if *samples != "" {
		// Refused now rather than when the finished file replaces it.
		if st, err := os.Stat(*samples); err == nil && !st.Mode().IsRegular() {
			return fmt.Errorf("--samples %s: exists and is not a regular file", *samples)
		}
	}
	// The samples file appears, complete, only when every task has been
	// scored; an existing one is kept till then.
	var sf *atomicfile.File
	if *samples != "" {
		var err error
		if sf, err = atomicfile.Create(*samples); err != nil {
			return fmt.Errorf("--samples %s: %w", *samples, err)
		}
		defer sf.Abort()
		spec.Samples = sf
	}
	o, err := runners.Run(ctx, spec)
	if errors.Is(err, eval.ErrUnknownTask) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if sf != nil {
		if err := sf.Commit(); err != nil {
			return fmt.Errorf("--samples: %w", err)
		}
	}
	rep := zeroshotReport{Model: c.model, ModelFiles: o.ModelFiles, Tasks: map[string]eval.TaskResult{}, Seconds: o.Record.Seconds.Eval}
	var rows [][]string
	for _, r := range o.ZeroShot {
		rep.Tasks[r.Task] = r
		rep.MeanAcc += r.Acc / float64(len(o.ZeroShot))
		rows = append(rows, []string{r.Task, fmt.Sprint(r.Docs), pct(r.Acc, r.AccStderr), pctPtr(r.AccNorm, r.AccNormStderr), fmt.Sprintf("%.1f", r.Seconds)})
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(rep)
	}
	rows = append(rows, []string{"mean acc", "", fmt.Sprintf("%.2f", 100*rep.MeanAcc), "", fmt.Sprintf("%.1f", rep.Seconds)})
	return printTable(stdout, []string{"task", "docs", "acc (%)", "acc_norm (%)", "seconds"}, rows)
}

// pct formats an accuracy and its standard error in percent.
func pct(v float64, se *float64) string {
	if se == nil {
		return fmt.Sprintf("%.2f", 100*v)
	}
	return fmt.Sprintf("%.2f ± %.2f", 100*v, 100**se)
}

func pctPtr(v, se *float64) string {
	if v == nil {
		return "-"
	}
	return pct(*v, se)
}
