package runners

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prunebench/prunebench/results"
)

// SweepStatus is how far a sharded sweep has got, from the heartbeats and
// results files its shards left.
type SweepStatus struct {
	Config string `json:"config"`
	// Out is the sweep's results file (what merge writes).
	Out string `json:"out"`
	// Runs is the config's number of runs: Done are recorded in a results
	// file of the sweep, Running under way in a live shard, Missing neither.
	Runs    int `json:"runs"`
	Done    int `json:"done"`
	Running int `json:"running"`
	Missing int `json:"missing"`
	// Shards are the shards heard of and, while runs are missing, those of
	// the newest split not heard of; by count and index.
	Shards []ShardStatus `json:"shards"`
}

// ShardStatus is one shard's last heartbeat.
type ShardStatus struct {
	Shard Shard `json:"shard"`
	// Heartbeat is nil for a shard that has not started.
	Heartbeat *Heartbeat `json:"heartbeat"`
	// Working says the shard is at work now (Heartbeat.Working); Lost that
	// its heartbeat claims work but its task died without a word (SIGKILL,
	// a lost node), so its run must be done again.
	Working bool `json:"working"`
	Lost    bool `json:"lost,omitempty"`
}

// Status reads the heartbeats in dir and the results files beside them,
// as of now. Each config (and results file) with heartbeats there gets one
// status, in name order.
func Status(dir string, now time.Time) ([]SweepStatus, error) {
	paths, err := filepath.Glob(filepath.Join(escapeGlob(dir), "*"+heartbeatExt))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: no shard heartbeat (*.heartbeat) here: no shard has started yet, or not a sweep's directory", dir)
	}
	type key struct{ config, out string }
	byKey := map[key]*SweepStatus{}
	var keys []key
	for _, p := range paths {
		h, err := ReadHeartbeat(p)
		if err != nil {
			return nil, err
		}
		// The results files are beside the heartbeat, wherever the shard
		// saw them: a pod's volume is mounted elsewhere here, and a sweep's
		// directory may have been copied.
		out := filepath.Join(dir, filepath.Base(h.Out))
		k := key{h.Config, out}
		st := byKey[k]
		if st == nil {
			st = &SweepStatus{Config: h.Config, Out: out, Runs: h.Runs}
			byKey[k] = st
			keys = append(keys, k)
		}
		if h.Runs != st.Runs {
			return nil, fmt.Errorf("%s: %d runs, where another shard of %s counted %d: the config changed during the sweep", p, h.Runs, h.Config, st.Runs)
		}
		working := h.Working(now)
		st.Shards = append(st.Shards, ShardStatus{Shard: h.Shard(), Heartbeat: h, Working: working, Lost: h.Claims() && !working})
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.config+"\x00"+a.out, b.config+"\x00"+b.out) })
	var out []SweepStatus
	for _, k := range keys {
		st := byKey[k]
		if err := st.count(); err != nil {
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

// count fills in the run counts and, while runs are missing, the newest
// split's shards not heard of.
func (st *SweepStatus) count() error {
	ids, err := recordedIDs(st.Out, st.Config)
	if err != nil {
		return err
	}
	st.Done = len(ids)
	for _, s := range st.Shards {
		if s.Working && s.Heartbeat.Run != nil && !ids[s.Heartbeat.Run.ID] {
			st.Running++
		}
	}
	st.Missing = max(0, st.Runs-st.Done-st.Running)
	if st.Done < st.Runs {
		newest := st.Shards[0]
		for _, s := range st.Shards {
			if s.Heartbeat.Started.After(newest.Heartbeat.Started) {
				newest = s
			}
		}
		for i := range newest.Shard.Count {
			sh := Shard{Index: i, Count: newest.Shard.Count}
			if !slices.ContainsFunc(st.Shards, func(s ShardStatus) bool { return s.Shard == sh }) {
				st.Shards = append(st.Shards, ShardStatus{Shard: sh})
			}
		}
	}
	slices.SortFunc(st.Shards, func(a, b ShardStatus) int {
		if a.Shard.Count != b.Shard.Count {
			return a.Shard.Count - b.Shard.Count
		}
		return a.Shard.Index - b.Shard.Index
	})
	return nil
}

// recordedIDs are the runs of config recorded in the sweep's results file
// or any of its shards' files.
func recordedIDs(out, config string) (map[string]bool, error) {
	files, err := ShardFiles(out)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, f := range append(files, out) {
		recs, _, err := results.Read(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.Config == config {
				ids[r.ID] = true
			}
		}
	}
	return ids, nil
}
