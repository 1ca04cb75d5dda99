package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/internal/atomicfile"
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
	limit := fs.Int("limit", 0, "score only the first N documents of each task, in file order (0 = all)")
	samples := fs.String("samples", "", "write one JSON line per document with its requests' log-likelihoods")
	hsCtx := fs.String("hellaswag-ctx", eval.HellaSwagCapitalizeTail, "six-line HellaSwag contexts: capitalize-tail or as-is")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit %d: must be ≥ 0", *limit)
	}
	if c.model == "" {
		return usagef("--model is required")
	}
	if *hsCtx != eval.HellaSwagCapitalizeTail && *hsCtx != eval.HellaSwagAsIs {
		return usagef("--hellaswag-ctx %q: want %s or %s", *hsCtx, eval.HellaSwagCapitalizeTail, eval.HellaSwagAsIs)
	}
	names := strings.Split(*tasks, ",")
	seen := map[string]bool{}
	for i, n := range names {
		names[i] = strings.TrimSpace(n)
		switch {
		case names[i] == "":
			return usagef("--tasks %q: empty task name (want a comma-separated list from %s)", *tasks, strings.Join(eval.TaskNames(), ","))
		case seen[names[i]]:
			// Twice the same task would count twice in the mean accuracy.
			return usagef("--tasks %q: %s is named twice", *tasks, names[i])
		}
		seen[names[i]] = true
	}
	if *samples != "" {
		// Refused now rather than when the finished file replaces it.
		if st, err := os.Stat(*samples); err == nil && !st.Mode().IsRegular() {
			return fmt.Errorf("--samples %s: exists and is not a regular file", *samples)
		}
	}
	dir := data.Dir(c.dataDir)
	// Load every task before the model runs, so that a bad file or name
	// fails in a second, not after an hour of scoring.
	loaded := make([]*eval.Task, len(names))
	for i, n := range names {
		t, err := eval.LoadTask(n, dir, eval.LoadOptions{HellaSwagCtx: *hsCtx})
		if errors.Is(err, eval.ErrUnknownTask) {
			return usageError{fmt.Errorf("--tasks: %w", err)}
		}
		if err != nil {
			return err
		}
		loaded[i] = t
	}
	m, err := c.openModel()
	if err != nil {
		return err
	}
	// sw stays a nil interface without --samples. The file appears, complete,
	// only when every task has been scored; an existing one is kept till then.
	var sw io.Writer
	var sf *atomicfile.File
	if *samples != "" {
		if sf, err = atomicfile.Create(*samples); err != nil {
			return fmt.Errorf("--samples %s: %w", *samples, err)
		}
		defer sf.Abort()
		sw = sf
	}
	start := time.Now()
	rep := zeroshotReport{Model: c.model, ModelFiles: c.modelFiles, Tasks: map[string]eval.TaskResult{}}
	var rows [][]string
	for _, t := range loaded {
		fmt.Fprintf(stderr, "zeroshot: %s: %d documents from %s\n", t.Name, len(t.Docs), t.Path)
		r, err := eval.Evaluate(ctx, m, m.Tokenizer, m.Config.SeqLen, t, eval.ZeroShotOptions{
			Limit: *limit, Samples: sw, Progress: stderr,
		})
		if err != nil {
			return err
		}
		rep.Tasks[t.Name] = r
		rep.MeanAcc += r.Acc / float64(len(loaded))
		rows = append(rows, []string{t.Name, fmt.Sprint(r.Docs), pct(r.Acc, r.AccStderr), pctPtr(r.AccNorm, r.AccNormStderr), fmt.Sprintf("%.1f", r.Seconds)})
	}
	rep.Seconds = time.Since(start).Seconds()
	if sf != nil {
		if err := sf.Commit(); err != nil {
			return fmt.Errorf("--samples: %w", err)
		}
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
