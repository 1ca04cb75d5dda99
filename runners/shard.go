package runners

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Shard is one of Count slices of a config's run list, numbered from 0 as
// Slurm's array task IDs and Kubernetes' completion indexes are, so that
// array task K is shard K and `sbatch --array=K` reruns exactly it.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// MaxShards bounds a shard count: far more than any cluster would give one
// sweep, and small enough that nothing sized by it can be large.
const MaxShards = 100000

// Environment variables that --shard auto reads.
const (
	EnvSlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
	EnvSlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmTaskMax   = "SLURM_ARRAY_TASK_MAX"
	EnvSlurmTaskStep  = "SLURM_ARRAY_TASK_STEP"
	// EnvCompletionIndex is a Kubernetes Indexed Job's pod index; the pod
	// is not told the count, which --shard auto/N gives.
	EnvCompletionIndex = "JOB_COMPLETION_INDEX"
)

const shardUsage = "want I/N (0 ≤ I < N), auto (the Slurm array task) or auto/N"

// ParseShard reads a --shard value: "I/N"; "auto", the index and count of
// the Slurm array task running it; or "auto/N", the index of the Slurm
// array task, else of the Kubernetes Indexed Job's pod, out of N. getenv
// looks up the environment (os.Getenv).
//
// Plain auto trusts the array's count only when the array is 0…N−1 with
// step 1: a task rerun alone (sbatch --array=2) sees a count of 1, and
// would otherwise run another slice. prunebench slurm writes auto/N, which
// survives such a rerun.
func ParseShard(s string, getenv func(string) string) (Shard, error) {
	idx, cnt, found := strings.Cut(s, "/")
	var sh Shard
	var err error
	if found {
		if sh.Count, err = shardNumber(cnt); err != nil || sh.Count < 1 || sh.Count > MaxShards {
			return Shard{}, fmt.Errorf("--shard %q: N must be an integer from 1 to %d (%s)", s, MaxShards, shardUsage)
		}
	}
	switch {
	case idx == "auto" && found:
		if sh.Index, err = envIndex(getenv); err != nil {
			return Shard{}, fmt.Errorf("--shard %s: %w", s, err)
		}
	case idx == "auto":
		if sh, err = slurmShard(getenv); err != nil {
			return Shard{}, fmt.Errorf("--shard auto: %w", err)
		}
	case !found:
		return Shard{}, fmt.Errorf("--shard %q: %s", s, shardUsage)
	default:
		if sh.Index, err = shardNumber(idx); err != nil {
			return Shard{}, fmt.Errorf("--shard %q: I must be an integer (%s)", s, shardUsage)
		}
	}
	if sh.Index >= sh.Count {
		return Shard{}, fmt.Errorf("--shard %q: index %d is not below the count %d (shards are numbered from 0)", s, sh.Index, sh.Count)
	}
	return sh, nil
}

// shardNumber reads a non-negative decimal integer: digits only, as
// strconv.Atoi would also take "+1" and "-0".
func shardNumber(s string) (int, error) {
	if s == "" || len(s) > 6 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number from 0 to %d", s, MaxShards)
	}
	return strconv.Atoi(s)
}

// envIndex is the index of the Slurm array task, else of the Kubernetes
// Indexed Job's pod.
func envIndex(getenv func(string) string) (int, error) {
	for _, name := range []string{EnvSlurmTaskID, EnvCompletionIndex} {
		if v := getenv(name); v != "" {
			n, err := shardNumber(v)
			if err != nil {
				return 0, fmt.Errorf("$%s: %w", name, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("neither $%s (a Slurm array task) nor $%s (a Kubernetes Indexed Job) is set", EnvSlurmTaskID, EnvCompletionIndex)
}

// slurmShard is the shard of the Slurm array task, whose array must be
// 0…N−1 with step 1.
func slurmShard(getenv func(string) string) (Shard, error) {
	var v [5]int
	for i, name := range []string{EnvSlurmTaskID, EnvSlurmTaskCount, EnvSlurmTaskMin, EnvSlurmTaskMax, EnvSlurmTaskStep} {
		s := getenv(name)
		if s == "" {
			return Shard{}, fmt.Errorf("$%s is not set: not a Slurm array task (a Kubernetes Indexed Job needs the count: auto/N)", name)
		}
		var err error
		if v[i], err = shardNumber(s); err != nil {
			return Shard{}, fmt.Errorf("$%s: %w", name, err)
		}
	}
	id, count, lo, hi, step := v[0], v[1], v[2], v[3], v[4]
	if lo != 0 || step != 1 || hi != count-1 || count < 1 {
		return Shard{}, fmt.Errorf("the array is %d-%d:%d with %d tasks, not 0-%d: a task rerun alone does not know the count; give it as auto/N", lo, hi, step, count, count-1)
	}
	if count > MaxShards {
		return Shard{}, fmt.Errorf("$%s %d: more than %d shards", EnvSlurmTaskCount, count, MaxShards)
	}
	return Shard{Index: id, Count: count}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Runs picks the shard's runs out of a list of n: every Count-th run from
// the Index-th. Round robin rather than contiguous blocks, because a config
// lists runs method by method and the methods' costs differ by orders of
// magnitude: interleaving gives every shard a share of each. The config's
// first run, the first model's dense evaluation, so goes to the first
// shard; another model's falls on whichever shard its position gives. The
// slice depends only on n and the shard, so every task of a sweep that
// reads the same config agrees on it.
func (s Shard) Runs(n int) []int {
	var idx []int
	for i := s.Index; i < n; i += s.Count {
		idx = append(idx, i)
	}
	return idx
}

// shardSuffix is what a shard adds to the results file's name, and
// ShardGlob matches it for any shard.
const (
	shardSuffix = ".shard-%d-of-%d"
	ShardGlob   = ".shard-*-of-*"
)

// Path is the shard's results file beside results: out/x.jsonl becomes
// out/x.shard-2-of-3.jsonl. Each shard appends to its own file, so no two
// tasks write one file (advisory locks do not hold on every network file
// system); prunebench merge joins them.
func (s Shard) Path(results string) string {
	ext := filepath.Ext(results)
	return strings.TrimSuffix(results, ext) + fmt.Sprintf(shardSuffix, s.Index, s.Count) + ext
}

// heartbeatExt ends a heartbeat file's name.
const heartbeatExt = ".heartbeat"

// HeartbeatPath is the shard's heartbeat file beside its results file.
func (s Shard) HeartbeatPath(results string) string {
	return strings.TrimSuffix(s.Path(results), filepath.Ext(results)) + heartbeatExt
}

// ShardFiles lists the shard results files of results that exist, of any
// shard count: those of a sweep split one way and then another.
func ShardFiles(results string) ([]string, error) {
	ext := filepath.Ext(results)
	base := strings.TrimSuffix(results, ext)
	matches, err := filepath.Glob(escapeGlob(base) + ShardGlob + escapeGlob(ext))
	if err != nil {
		return nil, err
	}
	var files []string
	for _, m := range matches {
		var i, n int
		// Exactly the names Path makes: not a heartbeat when ext is empty.
		if _, err := fmt.Sscanf(strings.TrimPrefix(m, base), shardSuffix, &i, &n); err == nil && (Shard{Index: i, Count: n}).Path(results) == m {
			files = append(files, m)
		}
	}
	return files, nil
}

func escapeGlob(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(s)
}

// Slice narrows a sweep to the shard: it returns the shard's runs of specs
// (the config's, in config order) and points o at the shard's results file,
// with every other results file of the sweep (o.Out and the shards' of any
// split) as Recorded, so that a run another shard or an earlier split
// recorded is not done again.
func (s Shard) Slice(specs []RunSpec, o *SweepOptions) ([]RunSpec, error) {
	var mine []RunSpec
	for _, i := range s.Runs(len(specs)) {
		mine = append(mine, specs[i])
	}
	files, err := ShardFiles(o.Out)
	if err != nil {
		return nil, err
	}
	own := s.Path(o.Out)
	o.Recorded = append(o.Recorded, o.Out)
	for _, f := range files {
		if f != own {
			o.Recorded = append(o.Recorded, f)
		}
	}
	o.Out = own
	return mine, nil
}
