package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/prunebench/prunebench/results"
)

func runMerge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("prunebench merge", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("o", "", "the merged results file; when it exists, its records are kept and merged with the parts")
	parts, err := parsePositional(flags, args)
	if err != nil {
		return err
	}
	if len(parts) == 0 || *out == "" {
		return usagef("want PARTS... -o RESULTS (%s -h)", flags.Name())
	}
	if slices.Contains(parts, *out) {
		return usagef("-o %s is also a part: it is merged anyway when it exists", *out)
	}
	// A merge never drops a record: what RESULTS holds is one more part.
	if _, err := os.Stat(*out); err == nil {
		parts = append([]string{*out}, parts...)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	recs, torn, err := results.Merge(parts)
	if err != nil {
		return err
	}
	for _, t := range torn {
		fmt.Fprintf(stderr, "prunebench merge: %s\n", t)
	}
	if err := results.Write(*out, recs); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "merge: %d runs from %d files in %s\n", len(recs), len(parts), *out)
	return nil
}
