package slurm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/runners"
)

// Sweep is a config's sweep on Slurm.
type Sweep struct {
	// Prunebench is the binary every job runs: a path the compute nodes see.
	Prunebench string
	// Config is the config file, copied into Dir.
	Config string
	// Output is the config's results file; its base name names the sweep's
	// files in Dir.
	Output string
	// Tasks is the number of array tasks, one shard each.
	Tasks int
	// Dir holds the scripts, the shards' files, the merged results and the
	// logs.
	Dir string
	// WorkDir is where the jobs run (sbatch --chdir): relative paths in
	// the config are relative to it.
	WorkDir string
	// Partition, Mem and Time are sbatch's --partition, --mem and --time
	// for every job, and CPUsPerTask its --cpus-per-task for the array;
	// empty or 0 leaves Slurm's default.
	Partition, Mem, Time string
	CPUsPerTask          int
	// RunFlags are more flags for prunebench run (--data-dir, --max-memory).
	RunFlags []string
}

// Script files in Sweep.Dir.
const (
	ArrayScript = "array.sbatch"
	MergeScript = "merge.sbatch"
	ConfigCopy  = "config.yaml"
)

// Results is the sweep's merged results file; the shards' are named after
// it (runners.Shard.Path).
func (s *Sweep) Results() string {
	return filepath.Join(s.Dir, filepath.Base(s.Output))
}

// Check refuses what would make a broken script: a value a #SBATCH line
// cannot hold (sbatch reads one word per option, and takes % in a path
// for a file name pattern).
func (s *Sweep) Check() error {
	for _, v := range []struct{ flag, value string }{
		{"--output-dir", s.Dir}, {"working directory", s.WorkDir}, {"--partition", s.Partition},
		{"--mem", s.Mem}, {"--time", s.Time},
	} {
		if strings.ContainsFunc(v.value, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '%' }) {
			return fmt.Errorf("%s %q: a #SBATCH line cannot hold spaces, control characters or %%", v.flag, v.value)
		}
	}
	if s.Tasks < 1 {
		return fmt.Errorf("--tasks %d: want at least 1", s.Tasks)
	}
	return nil
}

// header is the #SBATCH lines both scripts share.
func (s *Sweep) header(name, log string) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", name)
	fmt.Fprintf(&b, "#SBATCH --chdir=%s\n", s.WorkDir)
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(s.Dir, "logs", log))
	for _, o := range []struct{ flag, value string }{{"partition", s.Partition}, {"mem", s.Mem}, {"time", s.Time}} {
		if o.value != "" {
			fmt.Fprintf(&b, "#SBATCH --%s=%s\n", o.flag, o.value)
		}
	}
	return b.String()
}

func (s *Sweep) jobName() string {
	return "prunebench-" + strings.TrimSuffix(filepath.Base(s.Output), filepath.Ext(s.Output))
}

// arrayScript runs shard $SLURM_ARRAY_TASK_ID of Tasks. The count is
// written out (auto/N): a task rerun alone is an array of one.
func (s *Sweep) arrayScript() string {
	var b strings.Builder
	b.WriteString(s.header(s.jobName(), "%A_%a.log"))
	fmt.Fprintf(&b, "#SBATCH --array=0-%d\n", s.Tasks-1)
	if s.CPUsPerTask > 0 {
		fmt.Fprintf(&b, "#SBATCH --cpus-per-task=%d\n", s.CPUsPerTask)
	}
	fmt.Fprintf(&b, "# Written by prunebench slurm. Task K runs shard K of %d; rerun it alone with\n", s.Tasks)
	fmt.Fprintf(&b, "#   sbatch --array=K %s\n", filepath.Join(s.Dir, ArrayScript))
	b.WriteString("# (it resumes: runs already recorded are skipped).\n")
	args := append([]string{s.Prunebench, "run", filepath.Join(s.Dir, ConfigCopy),
		"--shard", fmt.Sprintf("auto/%d", s.Tasks), "--out", s.Results()}, s.RunFlags...)
	b.WriteString("exec " + shellWords(args) + "\n")
	return b.String()
}

// mergeScript joins the shards' files and exits 1 when runs are missing.
func (s *Sweep) mergeScript() string {
	var b strings.Builder
	b.WriteString(s.header(s.jobName()+"-merge", "merge-%j.log"))
	b.WriteString("# Written by prunebench slurm: merges the shards' results, then exits 1 when runs are missing.\n")
	b.WriteString("shopt -s nullglob\n")
	ext := filepath.Ext(s.Output)
	stem := strings.TrimSuffix(s.Results(), ext)
	fmt.Fprintf(&b, "parts=(%s%s%s)\n", shellQuote(stem), runners.ShardGlob, shellQuote(ext))
	fmt.Fprintf(&b, "if [ ${#parts[@]} -gt 0 ]; then\n\t%s \"${parts[@]}\" -o %s || exit 1\nfi\n",
		shellWords([]string{s.Prunebench, "merge"}), shellQuote(s.Results()))
	b.WriteString("exec " + shellWords([]string{s.Prunebench, "status", s.Dir}) + "\n")
	return b.String()
}

// Write makes Dir and its logs/ directory, copies the config and writes
// both scripts, each file atomically.
func (s *Sweep) Write() error {
	if err := s.Check(); err != nil {
		return err
	}
	cfg, err := os.ReadFile(s.Config)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "logs"), atomicfile.DirMode()); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ConfigCopy, cfg}, {ArrayScript, []byte(s.arrayScript())}, {MergeScript, []byte(s.mergeScript())}} {
		if err := atomicfile.WriteFile(filepath.Join(s.Dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// Jobs are the IDs sbatch gave the array and the merge job.
type Jobs struct{ Array, Merge string }

// Submit submits the array, then the merge job to start when every array
// task has ended, however it ended (afterany; see the package doc).
func (s *Sweep) Submit(ctx context.Context) (Jobs, error) {
	var j Jobs
	var err error
	if j.Array, err = Sbatch(ctx, filepath.Join(s.Dir, ArrayScript)); err != nil {
		return j, err
	}
	if j.Merge, err = Sbatch(ctx, filepath.Join(s.Dir, MergeScript), "--dependency=afterany:"+j.Array); err != nil {
		return j, fmt.Errorf("array job %s submitted, but not its merge: %w", j.Array, err)
	}
	return j, nil
}

// Sbatch submits script with sbatch --parsable and more options, and
// returns the job ID.
func Sbatch(ctx context.Context, script string, opts ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "sbatch", append(append([]string{"--parsable"}, opts...), script)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("sbatch %s: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	// --parsable prints "ID" or "ID;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(stdout.String()), ";")
	if id == "" || strings.TrimLeft(id, "0123456789") != "" {
		return "", fmt.Errorf("sbatch %s: %q is not a job ID", script, stdout.String())
	}
	return id, nil
}

func shellWords(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// shellQuote quotes s for bash, whatever it holds.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
