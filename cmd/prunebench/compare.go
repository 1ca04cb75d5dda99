package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/runners"
)

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tol := fs.String("tolerance", "2%", "relative change a metric may worsen by: 2% or 0.02")
	metrics := fs.String("metric", "", "comma-separated metrics to compare (default: every metric both runs have)")
	pos, err := parseArgs(fs, args, "BASE", "NEW")
	if err != nil {
		return err
	}
	var o results.CompareOptions
	if o.Tolerance, err = parseTolerance(*tol); err != nil {
		return usageError{err}
	}
	if *metrics != "" {
		for _, m := range strings.Split(*metrics, ",") {
			o.Metrics = append(o.Metrics, strings.TrimSpace(m))
		}
	}
	base, err := readResults(pos[0], stderr)
	if err != nil {
		return err
	}
	newer, err := readResults(pos[1], stderr)
	if err != nil {
		return err
	}
	c, err := results.Compare(base, newer, o)
	if err != nil {
		return usageError{err}
	}
	if err := c.Print(stdout); err != nil {
		return err
	}
	if c.Regressions > 0 {
		var worst []string
		for _, r := range c.Rows {
			if r.Regressed && len(worst) < 3 {
				worst = append(worst, fmt.Sprintf("%s %s %+.1f%%", r.Run, r.Metric, 100*r.Change))
			}
		}
		noun := "regressions"
		if c.Regressions == 1 {
			noun = "regression"
		}
		return fmt.Errorf("%d %s beyond %s in %s against %s: %s", c.Regressions, noun, *tol, pos[1], pos[0], strings.Join(worst, "; "))
	}
	return nil
}

// parseTolerance reads "2%" or "0.02".
func parseTolerance(s string) (float64, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if strings.HasSuffix(t, "%") {
		t, scale = strings.TrimSuffix(t, "%"), 0.01
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v != v || v*scale > 1e6 {
		return 0, fmt.Errorf("--tolerance %q: want a non-negative relative change such as 2%% or 0.02", s)
	}
	return v * scale, nil
}

func runPlot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o results.PlotOptions
	fs.StringVar(&o.X, "x", "", "x axis: a method option (rho, iters, steps) or sparsity")
	fs.StringVar(&o.Y, "y", results.MetricWikiText2PPL, "y axis: a metric")
	fs.StringVar(&o.Series, "series", "method", "one line per: method, sparsity, model or a method option")
	fs.BoolVar(&o.LogX, "logx", false, "logarithmic x axis")
	fs.StringVar(&o.Title, "title", "", "title (default: the experiment's name)")
	fs.StringVar(&o.Path, "o", "", "output file, .png or .svg")
	pos, err := parseArgs(fs, args, "RESULTS")
	if err != nil {
		return err
	}
	if o.X == "" || o.Path == "" {
		return usagef("--x and -o are required")
	}
	recs, err := readResults(pos[0], stderr)
	if err != nil {
		return err
	}
	if o.Title == "" {
		o.Title = recs[len(recs)-1].Config
	}
	o.MethodOrder = runners.MethodNames
	if err := results.Plot(recs, o); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "plot: wrote %s\n", o.Path)
	return nil
}
