package runners

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestShardRunsPartition: for any run list and shard count, the shards'
// runs are disjoint, cover the list, keep its order and differ in size by
// at most one.
func TestShardRunsPartition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := [][2]int{{0, 1}, {1, 1}, {1, 5}, {9, 3}, {10, 3}, {11, 3}, {7, 7}, {3, 1000}}
	for range 500 {
		cases = append(cases, [2]int{rng.IntN(3000), 1 + rng.IntN(64)})
	}
	for _, c := range cases {
		n, count := c[0], c[1]
		owner := make([]int, n)
		for i := range owner {
			owner[i] = -1
		}
		lo, hi := n, 0
		for k := range count {
			idx := Shard{Index: k, Count: count}.Runs(n)
			if !slices.IsSorted(idx) {
				t.Fatalf("n=%d shard %d/%d: %v not in list order", n, k, count, idx)
			}
			for _, i := range idx {
				if i < 0 || i >= n {
					t.Fatalf("n=%d shard %d/%d: run %d outside the list", n, k, count, i)
				}
				if owner[i] >= 0 {
					t.Fatalf("n=%d: run %d in shards %d and %d of %d", n, i, owner[i], k, count)
				}
				owner[i] = k
			}
			lo, hi = min(lo, len(idx)), max(hi, len(idx))
		}
		if i := slices.Index(owner, -1); i >= 0 {
			t.Fatalf("n=%d count=%d: run %d in no shard", n, count, i)
		}
		if hi-lo > 1 {
			t.Fatalf("n=%d count=%d: shard sizes from %d to %d", n, count, lo, hi)
		}
	}
}

func TestParseShard(t *testing.T) {
	slurm := map[string]string{EnvSlurmTaskID: "2", EnvSlurmTaskCount: "3", EnvSlurmTaskMin: "0", EnvSlurmTaskMax: "2", EnvSlurmTaskStep: "1"}
	rerun := map[string]string{EnvSlurmTaskID: "2", EnvSlurmTaskCount: "1", EnvSlurmTaskMin: "2", EnvSlurmTaskMax: "2", EnvSlurmTaskStep: "1"}
	k8s := map[string]string{EnvCompletionIndex: "4"}
	for _, c := range []struct {
		value string
		env   map[string]string
		want  Shard
		err   string // part of the error; "" = none
	}{
		{"0/1", nil, Shard{0, 1}, ""},
		{"2/3", nil, Shard{2, 3}, ""},
		{"007/10", nil, Shard{7, 10}, ""},
		{"auto", slurm, Shard{2, 3}, ""},
		{"auto/3", slurm, Shard{2, 3}, ""},
		{"auto/3", rerun, Shard{2, 3}, ""},
		{"auto/5", k8s, Shard{4, 5}, ""},
		{"3/3", nil, Shard{}, "not below the count 3"},
		{"1/0", nil, Shard{}, "N must be an integer from 1"},
		{"-1/3", nil, Shard{}, "I must be an integer"},
		{"+1/3", nil, Shard{}, "I must be an integer"},
		{"1/+3", nil, Shard{}, "N must be"},
		{"1/100001", nil, Shard{}, "N must be"},
		{"1", nil, Shard{}, "want I/N"},
		{"", nil, Shard{}, "want I/N"},
		{"a/b", nil, Shard{}, "N must be"},
		{"1/3/4", nil, Shard{}, "N must be"},
		{"auto", rerun, Shard{}, "give it as auto/N"},
		{"auto", k8s, Shard{}, "needs the count: auto/N"},
		{"auto", nil, Shard{}, "not a Slurm array task"},
		{"auto/3", nil, Shard{}, "neither $SLURM_ARRAY_TASK_ID"},
		{"auto/4", k8s, Shard{}, "index 4 is not below the count 4"},
		{"auto/3", map[string]string{EnvSlurmTaskID: "x"}, Shard{}, "$SLURM_ARRAY_TASK_ID"},
		{"auto", map[string]string{EnvSlurmTaskID: "0", EnvSlurmTaskCount: "200000", EnvSlurmTaskMin: "0", EnvSlurmTaskMax: "199999", EnvSlurmTaskStep: "1"}, Shard{}, "more than 100000 shards"},
	} {
		got, err := ParseShard(c.value, func(k string) string { return c.env[k] })
		switch {
		case c.err == "" && err != nil:
			t.Errorf("ParseShard(%q): %v", c.value, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseShard(%q): error %v, want one containing %q", c.value, err, c.err)
		case c.err == "" && got != c.want:
			t.Errorf("ParseShard(%q) = %v, want %v", c.value, got, c.want)
		}
	}
}

// FuzzParseShard: any value either is refused or gives a valid shard that
// prints back as itself.
func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"0/1", "2/3", "auto", "auto/4", "9/9", "1/100000", "٣/4", "0x1/2"} {
		f.Add(s, "1")
	}
	f.Fuzz(func(t *testing.T, value, env string) {
		sh, err := ParseShard(value, func(string) string { return env })
		if err != nil {
			return
		}
		if sh.Count < 1 || sh.Count > MaxShards || sh.Index < 0 || sh.Index >= sh.Count {
			t.Fatalf("ParseShard(%q) = %v: not a shard", value, sh)
		}
		if !strings.HasPrefix(value, "auto") {
			if back, err := ParseShard(sh.String(), nil); err != nil || back != sh {
				t.Fatalf("ParseShard(%q) = %v, which reads back as %v, %v", value, sh, back, err)
			}
		}
	})
}

func TestShardFiles(t *testing.T) {
	for _, c := range []struct{ results, path, heartbeat string }{
		{"out/x.jsonl", "out/x.shard-2-of-3.jsonl", "out/x.shard-2-of-3.heartbeat"},
		{"out/x", "out/x.shard-2-of-3", "out/x.shard-2-of-3.heartbeat"},
		{"a.b/x.y.jsonl", "a.b/x.y.shard-2-of-3.jsonl", "a.b/x.y.shard-2-of-3.heartbeat"},
	} {
		sh := Shard{Index: 2, Count: 3}
		if got := sh.Path(c.results); got != c.path {
			t.Errorf("Path(%q) = %q, want %q", c.results, got, c.path)
		}
		if got := sh.HeartbeatPath(c.results); got != c.heartbeat {
			t.Errorf("HeartbeatPath(%q) = %q, want %q", c.results, got, c.heartbeat)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{"r[1].jsonl", "r[1].shard-0-of-2.jsonl", "r[1].shard-1-of-2.jsonl", "r[1].shard-0-of-2.heartbeat",
		"r[1].shard-x-of-2.jsonl", "r[1].shard-01-of-2.jsonl", "r[1].shard-1-of-4.jsonl", "other.shard-0-of-2.jsonl"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ShardFiles(filepath.Join(dir, "r[1].jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	want := []string{"r[1].shard-0-of-2.jsonl", "r[1].shard-1-of-2.jsonl", "r[1].shard-1-of-4.jsonl"}
	if !slices.Equal(got, want) {
		t.Errorf("ShardFiles = %q, want %q", got, want)
	}
}
