package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/experiments"
	"github.com/prunebench/prunebench/slurm"
)

func runSlurm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench slurm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s slurm.Sweep
	fs.IntVar(&s.Tasks, "tasks", 0, "array tasks, one shard of the runs each (required)")
	fs.StringVar(&s.Partition, "partition", "", "sbatch --partition of every job (default: the cluster's)")
	fs.IntVar(&s.CPUsPerTask, "cpus-per-task", 0, "sbatch --cpus-per-task of each array task (default: the cluster's)")
	fs.StringVar(&s.Mem, "mem", "", "sbatch --mem of every job, e.g. 64G (default: the cluster's)")
	fs.StringVar(&s.Time, "time", "", "sbatch --time of every job, e.g. 1-00:00:00 (default: the partition's)")
	fs.StringVar(&s.Dir, "output-dir", "", "directory for the scripts, the shards' results and heartbeats, the merged results and the logs (default: the config's output without its extension, plus .slurm)")
	submit := fs.Bool("submit", false, "submit the array and its merge job with sbatch and print their job IDs")
	dataDir := fs.String("data-dir", "", "data directory of the jobs (default $PRUNEBENCH_DATA or ../shared/data, as seen here)")
	var maxMemory memoryFlag
	fs.Var(&maxMemory, "max-memory", memoryUsage)
	pos, err := parseArgs(fs, args, "CONFIG")
	if err != nil {
		return err
	}
	if s.Tasks < 1 {
		return usagef("--tasks is required: the number of array tasks, at least 1")
	}
	exp, err := experiments.Load(pos[0])
	if err != nil {
		return usageError{err}
	}
	if n := len(exp.Runs); s.Tasks > n {
		return usagef("--tasks %d: %s has %d runs, one per task at most", s.Tasks, pos[0], n)
	}
	s.Output = exp.Output
	if s.Dir == "" {
		s.Dir = strings.TrimSuffix(exp.Output, filepath.Ext(exp.Output)) + ".slurm"
	}
	// The jobs start elsewhere and later: every path they get is absolute,
	// the data directory the one this command would use.
	if s.Prunebench, err = os.Executable(); err != nil {
		return err
	}
	if s.WorkDir, err = os.Getwd(); err != nil {
		return err
	}
	if s.Config, err = filepath.Abs(pos[0]); err != nil {
		return err
	}
	if s.Dir, err = filepath.Abs(s.Dir); err != nil {
		return err
	}
	dir, err := filepath.Abs(data.Dir(*dataDir))
	if err != nil {
		return err
	}
	s.RunFlags = []string{"--data-dir", dir}
	if maxMemory != 0 {
		s.RunFlags = append(s.RunFlags, "--max-memory", maxMemory.String())
	}
	if err := s.Check(); err != nil {
		return usageError{err}
	}
	if err := s.Write(); err != nil {
		return err
	}
	array, merge := filepath.Join(s.Dir, slurm.ArrayScript), filepath.Join(s.Dir, slurm.MergeScript)
	fmt.Fprintf(stderr, "slurm: wrote %s (%d runs in %d tasks) and %s\n", array, len(exp.Runs), s.Tasks, merge)
	if !*submit {
		fmt.Fprintf(stderr, "slurm: submit with: J=$(sbatch --parsable %s) && sbatch --dependency=afterany:$J %s\n", array, merge)
		return nil
	}
	jobs, err := s.Submit(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "array %s\nmerge %s\n", jobs.Array, jobs.Merge)
	fmt.Fprintf(stderr, "slurm: progress: prunebench status %s; results: %s once job %s ends; a failed task K reruns alone with sbatch --array=K %s, then sbatch %s\n",
		s.Dir, s.Results(), jobs.Merge, array, merge)
	return nil
}
