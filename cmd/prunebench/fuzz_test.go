package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRun feeds arbitrary command lines (one argument per line) to the CLI.
// The model is forced to a missing path, so no run gets past loading it;
// every outcome must keep the exit-code and one-line-error contract.
func FuzzRun(f *testing.F) {
	for _, s := range []string{
		"ppl\n--seqlen\n513",
		"ppl\n--protocol\nnope",
		"ppl\n--max-windows\n-1",
		"prune\n--method\nadmm1\n--sparsity\n2:4\n--iters\n0",
		"prune\n--method\nwanda\n--sparsity\n1.5",
		"prune\n--method\nadmm-grad\n--sparsity\n60%\n--mask\nwanda",
		"prune\n--sparsity\n0:0\n--method\nmagnitude\n--eval\nppl",
		"zeroshot\n--tasks\nrte,,boolq\n--limit\n3",
		"generate\n--steps\n-5\n--temperature\nNaN",
		"ppl\n-h",
		"nope\n--json",
		"prune\n--per-output=maybe",
	} {
		f.Add(s)
	}
	empty := f.TempDir()
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\n")
		if args[0] == "" {
			return // no verb: the usage text, tested in TestHelp
		}
		args = append(args, "--data-dir", empty, "--model", filepath.Join(empty, "missing"))
		o := cli(t, args...)
		switch o.code {
		case exitOK:
			// Only help gets here, as the model is missing.
			if o.stdout != "" || !strings.Contains(strings.ToLower(o.stderr), "usage") {
				t.Fatalf("%q: exit 0 with stdout %q, stderr %q", args, o.stdout, o.stderr)
			}
		case exitFail, exitUsage:
			if o.stdout != "" || strings.Count(o.stderr, "\n") != 1 || !strings.HasSuffix(o.stderr, "\n") {
				t.Fatalf("%q: exit %d with stdout %q, stderr %q: want nothing and one line", args, o.code, o.stdout, o.stderr)
			}
		default:
			t.Fatalf("%q: exit %d", args, o.code)
		}
	})
}
