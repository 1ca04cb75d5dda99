package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prunebench/prunebench/runners"
	"github.com/prunebench/prunebench/slurm"
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prunebench status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the sweeps' status as JSON")
	pos, err := parseArgs(fs, args, "RESULTS-DIR")
	if err != nil {
		return err
	}
	now := time.Now()
	sweeps, err := runners.Status(pos[0], now)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(sweeps); err != nil {
			return err
		}
	} else {
		for _, s := range sweeps {
			if err := printStatus(stdout, s, now); err != nil {
				return err
			}
			printRerun(stdout, pos[0], s)
		}
	}
	// Like compare's regressions: an exit status a script can wait on
	// (until prunebench status DIR; do sleep 60; done).
	done, runs := 0, 0
	for _, s := range sweeps {
		done, runs = done+s.Done, runs+s.Runs
	}
	if done < runs {
		return fmt.Errorf("%s: %d of %d runs not recorded yet", pos[0], runs-done, runs)
	}
	return nil
}

func printStatus(w io.Writer, s runners.SweepStatus, now time.Time) error {
	fmt.Fprintf(w, "%s: %d runs: %d done, %d running, %d missing (results file %s)\n", s.Config, s.Runs, s.Done, s.Running, s.Missing, s.Out)
	var rows [][]string
	for _, sh := range s.Shards {
		h := sh.Heartbeat
		if h == nil {
			rows = append(rows, []string{sh.Shard.String(), "not started", "", "", ""})
			continue
		}
		state, what := h.State, h.Error
		if sh.Lost {
			state = "lost"
			what = "its task died without a word (SIGKILL, a lost node): rerun the shard"
		} else if h.Run != nil {
			what = fmt.Sprintf("%s %s for %s", h.Run.ID, h.Run.Label, ago(now, h.Run.Since))
		}
		beat := ago(now, h.Updated) + " ago on " + h.Host
		if h.Job != "" {
			beat += ", " + h.Job
		}
		rows = append(rows, []string{sh.Shard.String(), state, fmt.Sprintf("%d/%d", h.Done, h.ShardRuns), clip(what), beat})
	}
	return printTable(w, []string{"shard", "state", "done", "run", "heartbeat"}, rows)
}

// ago is a duration for people, to the second.
func ago(now, t time.Time) string {
	return now.Sub(t).Round(time.Second).String()
}

// clip keeps a table cell to one screen line; the whole error is in the
// heartbeat file and the shard's log.
func clip(s string) string {
	const max = 100
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

// printRerun tells how to rerun the shards that stopped short, when dir is
// a sweep prunebench slurm wrote and they are tasks of its array.
func printRerun(w io.Writer, dir string, s runners.SweepStatus) {
	array, merge := filepath.Join(dir, slurm.ArrayScript), filepath.Join(dir, slurm.MergeScript)
	if _, err := os.Stat(array); err != nil {
		return
	}
	var tasks []string
	count := 0
	for _, sh := range s.Shards {
		h := sh.Heartbeat
		if h == nil || sh.Working || h.Done >= h.ShardRuns {
			continue
		}
		if count != 0 && sh.Shard.Count != count {
			return // shards of two splits: no one array to rerun them in
		}
		count = sh.Shard.Count
		tasks = append(tasks, strconv.Itoa(sh.Shard.Index))
	}
	if len(tasks) > 0 {
		fmt.Fprintf(w, "rerun: J=$(sbatch --parsable --array=%s %s) && sbatch --dependency=afterany:$J %s\n", strings.Join(tasks, ","), array, merge)
	}
}
