package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/prunebench/prunebench/data"
)

const dataUsage = `usage: prunebench data fetch [NAME…] [--data-dir DIR] [--json]
       prunebench data list [--data-dir DIR] [--json]
       prunebench data hub ORG/NAME[@REVISION]

fetch  downloads the data registry's files (models, tokenizers, WikiText-2,
       task files) from their pinned upstream URLs, checks each against its
       recorded size and sha256 (after the registry's transform, such as CR
       stripping) and puts it under DIR: --data-dir, else $PRUNEBENCH_DATA,
       else ~/.cache/prunebench ($XDG_CACHE_HOME/prunebench), the data
       directory used when there is no ../shared/data. NAME picks entries: a
       path or folder (models/stories260K, wikitext-2, tasks/rte), a folder
       name (stories260K, rte, llama2) or a corpus name (wikitext2); none
       means all. Files already present with the right sha256 are skipped;
       an interrupted download resumes from its .part file.
list   prints every registry entry with its status in the data directory
       (present, missing, wrong).
hub    downloads a Hugging Face model's files into the hub cache (as
       --download does) and prints its snapshot folder. HF_TOKEN is sent to
       huggingface.co for gated models.
`

// registryURL is where data fetch downloads an entry from; tests point it
// at a local server.
var registryURL = func(e data.Entry) string { return e.URL }

// hubEndpoint is the hub --download and data hub use; tests point it at a
// local server.
var hubEndpoint = data.HFEndpoint

// newFetcher makes the downloaders of the data verb and --download; tests
// shorten its retry pauses.
var newFetcher = data.NewFetcher

func runData(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: fetch, list or hub (prunebench data -h)")
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stderr, dataUsage)
		return flag.ErrHelp
	case "fetch":
		return runDataFetch(ctx, args[1:], stdout, stderr)
	case "list":
		return runDataList(args[1:], stdout, stderr)
	case "hub":
		return runDataHub(ctx, args[1:], stdout, stderr)
	}
	return usagef("unknown subcommand %q: want fetch, list or hub (prunebench data -h)", args[0])
}

// parseAll parses flags given before, between or after any number of
// positional arguments.
func parseAll(fs *flag.FlagSet, args []string) ([]string, error) {
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

// fetchDir is where data fetch writes: --data-dir, else $PRUNEBENCH_DATA,
// else the cache directory; never ../shared/data, which is read-only.
func fetchDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv(data.EnvVar); env != "" {
		return env
	}
	return data.CacheDir()
}

func runDataFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench data fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "where to put the files (default $"+data.EnvVar+", else ~/.cache/prunebench)")
	asJSON := fs.Bool("json", false, "print one JSON object to stdout instead of a table")
	names, err := parseAll(fs, args)
	if err != nil {
		return err
	}
	entries, err := data.Select(names)
	if err != nil {
		return usageError{err}
	}
	dir := fetchDir(*dataDir)
	if dir == "" {
		return usagef("no directory to fetch into: pass --data-dir or set %s", data.EnvVar)
	}
	fmt.Fprintf(stderr, "fetch: %d registered files into %s\n", len(entries), dir)
	f := newFetcher(stderr)
	type row struct {
		File   string `json:"file"`
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
		Status string `json:"status"` // fetched or present
	}
	var rows []row
	var failed []error
	for _, e := range entries {
		e.URL = registryURL(e)
		fetched, err := data.FetchEntry(ctx, f, dir, e)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// The others may still come: report this one and go on.
			fmt.Fprintf(stderr, "fetch %s: failed: %s\n", e.Rel, oneLine(err))
			failed = append(failed, err)
			continue
		}
		st := "present"
		if fetched {
			st = "fetched"
		}
		rows = append(rows, row{e.Rel, e.Size, e.SHA256, st})
	}
	switch len(failed) {
	case 0:
	case 1:
		return failed[0]
	default:
		return fmt.Errorf("%d of %d files failed (above); the first: %w", len(failed), len(entries), failed[0])
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Dir   string `json:"data_dir"`
			Files []row  `json:"files"`
		}{dir, rows})
	}
	table := make([][]string, len(rows))
	for i, r := range rows {
		table[i] = []string{r.File, fmt.Sprint(r.Bytes), r.Status}
	}
	return printTable(stdout, []string{"file", "bytes", "status"}, table)
}

func runDataList(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench data list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "data directory (default $"+data.EnvVar+", ../shared/data, else ~/.cache/prunebench)")
	asJSON := fs.Bool("json", false, "print one JSON object to stdout instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	dir := data.Dir(*dataDir)
	if dir == "" {
		return usagef("no data directory: pass --data-dir or set %s", data.EnvVar)
	}
	type row struct {
		File   string `json:"file"`
		Bytes  int64  `json:"bytes"`
		Status string `json:"status"`
	}
	var rows []row
	for _, e := range data.Files() {
		rows = append(rows, row{e.Rel, e.Size, data.StatusOf(dir, e).String()})
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Dir   string `json:"data_dir"`
			Files []row  `json:"files"`
		}{dir, rows})
	}
	fmt.Fprintf(stderr, "data directory: %s\n", dir)
	table := make([][]string, len(rows))
	for i, r := range rows {
		table[i] = []string{r.File, fmt.Sprint(r.Bytes), r.Status}
	}
	return printTable(stdout, []string{"file", "bytes", "status"}, table)
}

func runDataHub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench data hub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parseArgs(fs, args, "ORG/NAME[@REVISION]")
	if err != nil {
		return err
	}
	id, err := data.ParseHubID(pos[0])
	if err != nil {
		return usageError{err}
	}
	snap, err := downloadModel(ctx, id, stderr)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, snap)
	return err
}

// downloadModel fetches what the hub model id lacks into the hub cache.
func downloadModel(ctx context.Context, id data.HubID, stderr io.Writer) (string, error) {
	f := newFetcher(stderr)
	if hubEndpoint != data.HFEndpoint {
		if u, err := urlHost(hubEndpoint); err == nil {
			f.TokenHost = u
		}
	}
	h := &data.Hub{Endpoint: hubEndpoint, Fetcher: f}
	return h.Download(ctx, id)
}

const downloadUsage = "fetch the missing files of a Hugging Face --model org/name[@revision] into the hub cache ($HF_HOME/hub; HF_TOKEN for gated models)"

// afterParse checks --download against --model once all flags are
// parsed: the download itself is a step of the run (fetcher), after the
// verb's other checks.
func afterParse(fs *flag.FlagSet) error {
	dl, m := fs.Lookup("download"), fs.Lookup("model")
	if dl == nil || m == nil || dl.Value.String() != "true" {
		return nil
	}
	model := m.Value.String()
	if model == "" {
		return usagef("--download needs --model org/name[@revision]")
	}
	if !data.IsHubID(model) {
		if _, err := data.ParseHubID(model); err != nil || data.IsName(model) {
			return usagef("--download: --model %s is not a Hugging Face model id (org/name[@revision])", model)
		}
		return nil // an existing path of that shape wins: nothing to fetch
	}
	if _, err := data.ParseHubID(model); err != nil {
		return usageError{err}
	}
	return nil
}

// fetcher is the run's download step for --download (runners.RunSpec.Fetch):
// the missing files of a hub model go into the hub cache. Offline, as
// huggingface_hub does, a model already cached is used as it is. nil
// without --download or for a model that is not a hub id.
func (c *common) fetcher(stderr io.Writer) func(ctx context.Context, model string) error {
	if !c.download || !data.IsHubID(c.model) {
		return nil
	}
	return func(ctx context.Context, model string) error {
		id, err := data.ParseHubID(model)
		if err != nil {
			return err
		}
		_, err = downloadModel(ctx, id, stderr)
		if errors.Is(err, data.ErrUnreachable) && ctx.Err() == nil {
			if snap, rerr := data.ResolveHub(data.HubCacheDir(), id); rerr == nil {
				fmt.Fprintf(stderr, "prunebench: --download: %s; using the cached snapshot %s\n", oneLine(err), snap)
				return nil
			}
		}
		return err
	}
}

// urlHost returns the host[:port] of a URL.
func urlHost(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	return u.Host, nil
}
