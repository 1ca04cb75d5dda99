package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/runners"
)

// Exit codes (ARCHITECTURE.md conventions).
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type verb struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// interrupted says what an interrupted run leaves; default: nothing.
	interrupted string
}

var verbs = []verb{
	{name: "generate", summary: "greedy or sampled text from a model", run: runGenerate},
	{name: "tokenize", summary: "the tokens of a text under a model's or a vocabulary file's tokenizer: ids, pieces, count", run: runTokenize},
	{name: "ppl", summary: "perplexity on WikiText-2 or any text file", run: runPPL},
	{name: "prune", summary: "prune a model layer by layer, optionally evaluate and save it", run: runPrune,
		interrupted: "no model was saved; with --out or --state the finished blocks are kept and the same command resumes"},
	{name: "run", summary: "run an experiment config: every run not yet in its results file, then its table", run: runRun,
		interrupted: "the finished runs are in the results file; the same command runs the others"},
	{name: "slurm", summary: "run an experiment config as a Slurm job array, one shard per task, and a merge job", run: runSlurm},
	{name: "merge", summary: "merge results files (a sharded sweep's) by run ID; conflicting records are an error", run: runMerge},
	{name: "status", summary: "how many runs of a sharded sweep are done, running and missing, from its shards' heartbeats", run: runStatus},
	{name: "table", summary: "print a results file as a paper table (methods × sparsities)", run: runTable},
	{name: "compare", summary: "compare a results file with a baseline; exit 1 when a metric regressed", run: runCompare},
	{name: "plot", summary: "plot a metric against a method option or the sparsity (PNG or SVG)", run: runPlot},
	{name: "bench", summary: "write, load, prune and evaluate a synthetic LLaMA-7B-shaped model: seconds per block, tokens/s, peak RSS", run: runBench},
	{name: "zeroshot", summary: "zero-shot accuracy on BoolQ, RTE, HellaSwag, WinoGrande, ARC, OpenBookQA, PIQA", run: runZeroShot},
	{name: "export", summary: "write a model as GGUF for llama.cpp (F32 or F16)", run: runExport},
	{name: "data", summary: "fetch the data registry's files (data fetch [NAME…]), list them, or fetch a Hugging Face model", run: runData},
}

// usageError marks errors that are the caller's wording, not a failure.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// gcPercent replaces Go's default GOGC of 100 unless GOGC is set: the heap
// is mostly large float slices the collector does not scan, so collecting
// at 20% growth costs little time, and peak memory is about 1.2× the live
// heap instead of 2× (stories260K's 200-window perplexity, `ppl --model
// stories260K --max-windows 200 --seqlen 512` under /usr/bin/time: 53–61 MB
// in 3.1–3.3 s, against 87–89 MB in 2.9 s with GOGC=100).
const gcPercent = 20

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go handleSignals(sigs, cancel, stopGrace, os.Stderr, os.Exit)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// stopGrace is how long a cancelled run may take to stop on its own. The
// work looks at the context about once a second; what cannot (a blocking
// open of a FIFO without a writer, a factorisation inside a library) is cut
// short after this.
const stopGrace = 10 * time.Second

// handleSignals turns the first signal into the cancellation of the work,
// which stops within seconds and cleans up through the usual error path.
// A second signal, or a run still going after grace, removes every
// temporary output and exits at once.
func handleSignals(sigs <-chan os.Signal, cancel context.CancelCauseFunc, grace time.Duration, stderr io.Writer, exit func(int)) {
	first := (<-sigs).(syscall.Signal)
	cancel(interrupted{first})
	select {
	case s := <-sigs:
		atomicfile.RemoveTemps()
		fmt.Fprintf(stderr, "prunebench: %v again: exiting at once\n", s)
		exit(128 + int(s.(syscall.Signal)))
	case <-time.After(grace):
		atomicfile.RemoveTemps()
		fmt.Fprintf(stderr, "prunebench: %v: the run did not stop within %v; exiting\n", first, grace)
		exit(128 + int(first))
	}
}

// interrupted is the cancellation cause of a run stopped by a signal.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.sig.String() }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, v := range verbs {
		if v.name != args[0] {
			continue
		}
		out := &checkedWriter{w: stdout}
		err := v.run(ctx, args[1:], out, stderr)
		if err == nil && out.err != nil {
			// A result that did not reach stdout (a full disk, a closed
			// pipe) is a failure, not a success with nothing printed.
			err = fmt.Errorf("writing results to stdout: %w", out.err)
		}
		var ue usageError
		var sig interrupted
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "prunebench %s: %v\n", v.name, oneLine(err))
			return exitUsage
		case ctx.Err() != nil && errors.As(context.Cause(ctx), &sig):
			left := v.interrupted
			if left == "" {
				left = "nothing was written"
			}
			fmt.Fprintf(stderr, "prunebench %s: %v; %s\n", v.name, sig, left)
			return 128 + int(sig.sig)
		default:
			fmt.Fprintf(stderr, "prunebench %s: %v\n", v.name, oneLine(err))
			return exitFail
		}
	}
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.name
	}
	// One line, like every other error, so that scripts can show it as is.
	fmt.Fprintf(stderr, "prunebench: unknown verb %q: want one of %s (prunebench help)\n", args[0], strings.Join(names, ", "))
	return exitUsage
}

// checkedWriter remembers the first write error, which encoders and table
// renderers do not all report.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.err = err
	return n, err
}

// maxErrorLine bounds the error line: names quoted from a hostile file (a
// tensor or key name can be megabytes long) must not make it unreadable.
const maxErrorLine = 2000

// oneLine keeps an error message on the one stderr line scripts read: the
// line breaks some wrapped errors carry (errors.Join) become "; ", and an
// overlong message keeps its start (the file) and its end (the problem).
func oneLine(err error) string {
	s := strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", "; ").Replace(err.Error())
	if len(s) <= maxErrorLine {
		return s
	}
	head, tail := s[:maxErrorLine*2/3], s[len(s)-maxErrorLine/3:]
	// Cut on rune boundaries: drop a rune the cut split in two.
	for len(head) > 0 {
		if r, n := utf8.DecodeLastRuneInString(head); r != utf8.RuneError || n > 1 {
			break
		}
		head = head[:len(head)-1]
	}
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return fmt.Sprintf("%s … (%d bytes left out) … %s", head, len(s)-len(head)-len(tail), tail)
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: prunebench <verb> [flags]   (prunebench <verb> -h for the verb's flags)")
	fmt.Fprintln(w, "verbs:")
	for _, v := range verbs {
		fmt.Fprintf(w, "  %-10s %s\n", v.name, v.summary)
	}
	fmt.Fprintf(w, "The data directory comes from --data-dir, else $%s, else ../shared/data, else ~/.cache/prunebench (prunebench data fetch fills it).\n", data.EnvVar)
}

// common holds the flags every verb shares, and the files of the model
// once opened.
type common struct {
	dataDir   string
	model     string
	json      bool
	maxMemory memoryFlag
	download  bool
	// modelFiles are the checkpoint and vocabulary files the model was
	// loaded from, recorded with every result.
	modelFiles []data.FileRef
}

func newFlags(name string, stderr io.Writer, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet("prunebench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataDir, "data-dir", "", "data directory (default $"+data.EnvVar+", ../shared/data, else ~/.cache/prunebench)")
	fs.StringVar(&c.model, "model", "", "model: a checkpoint file or directory, a short name under <data-dir>/models/ (e.g. stories260K), or a Hugging Face id org/name[@revision] in the hub cache")
	fs.BoolVar(&c.download, "download", false, downloadUsage)
	fs.BoolVar(&c.json, "json", false, "print one JSON object to stdout instead of a table")
	fs.Var(&c.maxMemory, "max-memory", memoryUsage)
	return fs
}

const memoryUsage = "memory for activations, logits and calibration beyond the weights, e.g. 16GB (default: 3/4 of what is available)"

// memoryFlag is a --max-memory value (runners.ParseMemory); 0 = default.
type memoryFlag uint64

func (m *memoryFlag) String() string {
	if m == nil || *m == 0 {
		return ""
	}
	return fmt.Sprint(uint64(*m))
}

func (m *memoryFlag) Set(s string) error {
	v, err := runners.ParseMemory(s)
	*m = memoryFlag(v)
	return err
}

// parse parses flags and refuses stray positional arguments. The flag
// package would print the whole flag list before a bad flag's error; errors
// stay one line (run prints it) and the list is shown for -h only.
func parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return afterParse(fs)
}

// parseFlags parses the flags up to the first positional argument.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return err
		}
		return usagef("%v (%s -h lists the flags)", err, fs.Name())
	}
	return nil
}

// needModel checks that --model was given and, with --download, fetches
// what it lacks.
func (c *common) needModel(ctx context.Context, stderr io.Writer) error {
	if c.model == "" {
		return usagef("--model is required")
	}
	if fetch := c.fetcher(stderr); fetch != nil {
		return fetch(ctx, c.model)
	}
	return nil
}

// openModel fetches (--download) and loads --model (runners.OpenModel)
// and keeps the checksums of its files.
func (c *common) openModel(ctx context.Context, stderr io.Writer) (*model.Model, error) {
	if err := c.needModel(ctx, stderr); err != nil {
		return nil, err
	}
	m, files, err := runners.OpenModel(c.dataDir, c.model)
	c.modelFiles = files
	return m, err
}

func printTable(w io.Writer, header []string, rows [][]string) error {
	return results.Table(w, header, rows)
}
