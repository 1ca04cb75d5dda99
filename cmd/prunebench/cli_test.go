package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
)

// outcome is one in-process run of the CLI.
type outcome struct {
	code           int
	stdout, stderr string
}

func cli(t *testing.T, args ...string) outcome {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return outcome{code, stdout.String(), stderr.String()}
}

// mustRun runs the CLI and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) outcome {
	t.Helper()
	o := cli(t, args...)
	if o.code != exitOK {
		t.Fatalf("prunebench %s: exit %d\nstderr:\n%s", strings.Join(args, " "), o.code, o.stderr)
	}
	return o
}

// decodeJSON decodes the single JSON object on stdout into v after checking
// that every key in want is present, so that a renamed field fails here
// rather than decoding as a zero value.
func decodeJSON(t *testing.T, stdout string, v any, want ...string) {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &keys); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	for _, k := range want {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON output lacks %q: %s", k, stdout)
		}
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("decoding %T: %v", v, err)
	}
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func TestGenerateGolden(t *testing.T) {
	dir := datatest.Dir(t)
	want, err := os.ReadFile(datatest.Golden(t, "stories260K-greedy.txt"))
	if err != nil {
		t.Fatal(err)
	}
	o := mustRun(t, "generate", "--data-dir", dir, "--model", "stories260K", "--steps", "256", "--temperature", "0")
	if o.stdout != string(want) {
		t.Errorf("greedy text differs from the golden file\ngot:\n%q\nwant:\n%q", o.stdout, want)
	}
}

// storyText is a text file for --dataset: plain TinyStories-like prose, on
// which stories260K should do far better than on WikiText-2.
func storyText(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for i := range 40 {
		b.WriteString("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. ")
		if i%5 == 4 {
			b.WriteString("\n")
		}
	}
	p := filepath.Join(t.TempDir(), "story.txt")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPPLJSON(t *testing.T) {
	dir := datatest.Dir(t)
	story := storyText(t)
	cases := []struct {
		name, dataset, protocol string
		seqlen, maxWindows      int
		args                    []string
	}{
		{"wanda", "wikitext2", "wanda", 512, 4, []string{"--max-windows", "4"}},
		{"llamacpp", "wikitext2", "llamacpp", 512, 4, []string{"--protocol", "llamacpp", "--max-windows", "4"}},
		{"text file", story, "wanda", 64, 0, []string{"--dataset", story, "--seqlen", "64"}},
		{"text file llamacpp", story, "llamacpp", 64, 0, []string{"--dataset", story, "--seqlen", "64", "--protocol", "llamacpp"}},
	}
	ppl := map[string]float64{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"ppl", "--data-dir", dir, "--model", "stories260K", "--json"}, c.args...)
			o := mustRun(t, args...)
			var rep pplReport
			decodeJSON(t, o.stdout, &rep, "model", "dataset", "protocol", "seqlen", "windows", "tokens", "ppl", "seconds")
			if rep.Model != "stories260K" || rep.Dataset != c.dataset || rep.Protocol != c.protocol || rep.SeqLen != c.seqlen {
				t.Errorf("got model %q dataset %q protocol %q seqlen %d, want stories260K %q %q %d",
					rep.Model, rep.Dataset, rep.Protocol, rep.SeqLen, c.dataset, c.protocol, c.seqlen)
			}
			if !finite(rep.PPL) || rep.PPL <= 1 {
				t.Errorf("ppl %g: want finite and > 1", rep.PPL)
			}
			if !(rep.Seconds > 0) {
				t.Errorf("seconds %g: want > 0", rep.Seconds)
			}
			// The wanda protocol's window count follows from the token count:
			// non-overlapping windows, every shifted position scored.
			windows := rep.Tokens / rep.SeqLen
			if c.maxWindows > 0 {
				windows = min(windows, c.maxWindows)
			}
			if c.protocol == "wanda" {
				if rep.Windows != windows || rep.Scored != windows*(rep.SeqLen-1) {
					t.Errorf("%d tokens, seqlen %d: got %d windows %d scored, want %d and %d",
						rep.Tokens, rep.SeqLen, rep.Windows, rep.Scored, windows, windows*(rep.SeqLen-1))
				}
			} else if rep.Windows < 1 || rep.Windows > windows {
				t.Errorf("llamacpp: %d windows from %d tokens of seqlen %d", rep.Windows, rep.Tokens, rep.SeqLen)
			}
			if c.dataset == story {
				if rep.Path != story {
					t.Errorf("dataset_path %q, want %q", rep.Path, story)
				}
				if rep.Tokens < 10*64 {
					t.Errorf("story file gave only %d tokens", rep.Tokens)
				}
			}
			ppl[c.name] = rep.PPL
		})
	}
	// A repeated child's story is much easier than WikiText-2 for a model
	// trained on TinyStories; equal numbers would mean --dataset was ignored.
	if ppl["text file"] >= ppl["wanda"] || ppl["wanda"] == ppl["llamacpp"] {
		t.Errorf("perplexities %v: want text file < wikitext2, and the two protocols to differ", ppl)
	}
}

func TestPPLTable(t *testing.T) {
	dir := datatest.Dir(t)
	o := mustRun(t, "ppl", "--data-dir", dir, "--model", "stories260K", "--max-windows", "1")
	upper := strings.ToUpper(o.stdout)
	for _, h := range []string{"MODEL", "DATASET", "PROTOCOL", "SEQLEN", "WINDOWS", "TOKENS", "PPL", "SECONDS", "STORIES260K", "WIKITEXT2"} {
		if !strings.Contains(upper, h) {
			t.Errorf("table lacks %q:\n%s", h, o.stdout)
		}
	}
	if strings.HasPrefix(strings.TrimSpace(o.stdout), "{") {
		t.Errorf("table output looks like JSON:\n%s", o.stdout)
	}
	if !strings.Contains(o.stderr, "windows") {
		t.Errorf("no progress on stderr:\n%s", o.stderr)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"ppl", "-h"}, {"prune", "--help"}} {
		o := cli(t, args...)
		if o.code != exitOK || o.stdout != "" || !strings.Contains(strings.ToLower(o.stderr), "usage") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want 0, nothing, a usage text", args, o.code, o.stdout, o.stderr)
		}
	}
	if o := cli(t); o.code != exitUsage || !strings.Contains(o.stderr, "verbs:") {
		t.Errorf("no arguments: exit %d, stderr %q: want 2 and the verb list", o.code, o.stderr)
	}
}
