package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/runners"
)

func runTable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o results.TableOptions
	fs.StringVar(&o.Metric, "metric", results.MetricWikiText2PPL, "the metric in the cells")
	fs.StringVar(&o.Rows, "rows", "method", "what rows stand for: method, model, sparsity or a method option (rho, iters, …)")
	fs.StringVar(&o.Cols, "cols", "sparsity", "what columns stand for: sparsity, model, method or a method option")
	fs.StringVar(&o.Format, "format", "text", "text, markdown or csv")
	pos, err := parseArgs(fs, args, "RESULTS")
	if err != nil {
		return err
	}
	recs, err := readResults(pos[0], stderr)
	if err != nil {
		return err
	}
	o.MethodOrder = runners.MethodNames
	return results.PaperTable(stdout, recs, o)
}

// readResults reads a results file and warns of a torn last line.
func readResults(path string, stderr io.Writer) ([]results.Record, error) {
	recs, torn, err := results.Read(path)
	if err != nil {
		return nil, err
	}
	if torn != "" {
		fmt.Fprintf(stderr, "prunebench: %s\n", torn)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	return recs, nil
}
