package slurm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestScripts(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "my config's.yaml")
	if err := os.WriteFile(cfg, []byte("name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := Sweep{Prunebench: "/opt/pb/prunebench", Config: cfg, Output: "out/abl.jsonl", Tasks: 4,
		Dir: filepath.Join(dir, "sweep"), WorkDir: "/work", RunFlags: []string{"--data-dir", "/data"}}
	full := base
	full.Partition, full.Mem, full.Time, full.CPUsPerTask = "gpu", "64G", "1-00:00:00", 8
	for _, tc := range []struct {
		name        string
		s           Sweep
		array, not  []string // lines the array script has, and has not
		mergeWanted []string
	}{
		{"defaults", base,
			[]string{"#SBATCH --array=0-3", "#SBATCH --chdir=/work", "#SBATCH --job-name=prunebench-abl",
				"#SBATCH --output=" + filepath.Join(dir, "sweep", "logs", "%A_%a.log"),
				"exec '/opt/pb/prunebench' 'run' '" + filepath.Join(dir, "sweep", "config.yaml") + "' '--shard' 'auto/4' '--out' '" + filepath.Join(dir, "sweep", "abl.jsonl") + "' '--data-dir' '/data'"},
			[]string{"#SBATCH --partition", "#SBATCH --mem", "#SBATCH --time", "#SBATCH --cpus-per-task"},
			[]string{"parts=('" + filepath.Join(dir, "sweep", "abl") + "'.shard-*-of-*'.jsonl')",
				"exec '/opt/pb/prunebench' 'status' '" + filepath.Join(dir, "sweep") + "'"}},
		{"options", full,
			[]string{"#SBATCH --partition=gpu", "#SBATCH --mem=64G", "#SBATCH --time=1-00:00:00", "#SBATCH --cpus-per-task=8"},
			nil,
			[]string{"#SBATCH --partition=gpu", "#SBATCH --job-name=prunebench-abl-merge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Write(); err != nil {
				t.Fatal(err)
			}
			read := func(name string) string {
				b, err := os.ReadFile(filepath.Join(tc.s.Dir, name))
				if err != nil {
					t.Fatal(err)
				}
				// Both scripts must at least parse.
				if out, err := exec.Command("bash", "-n", filepath.Join(tc.s.Dir, name)).CombinedOutput(); err != nil {
					t.Errorf("bash -n %s: %v\n%s", name, err, out)
				}
				return string(b)
			}
			array, merge := read(ArrayScript), read(MergeScript)
			lines := func(s string) map[string]bool {
				m := map[string]bool{}
				for _, l := range strings.Split(s, "\n") {
					m[l] = true
				}
				return m
			}
			al, ml := lines(array), lines(merge)
			for _, l := range tc.array {
				if !al[l] {
					t.Errorf("array script lacks %q:\n%s", l, array)
				}
			}
			for _, p := range tc.not {
				if strings.Contains(array, p) {
					t.Errorf("array script has %q:\n%s", p, array)
				}
			}
			for _, l := range tc.mergeWanted {
				if !ml[l] {
					t.Errorf("merge script lacks %q:\n%s", l, merge)
				}
			}
			if strings.Contains(merge, "--array") {
				t.Errorf("merge script is an array:\n%s", merge)
			}
			if b, err := os.ReadFile(filepath.Join(tc.s.Dir, ConfigCopy)); err != nil || string(b) != "name: x\n" {
				t.Errorf("config copy %q, %v", b, err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	ok := Sweep{Tasks: 1, Dir: "/d", WorkDir: "/w"}
	for _, tc := range []struct {
		change func(*Sweep)
		err    string
	}{
		{func(*Sweep) {}, ""},
		{func(s *Sweep) { s.Dir = "/my dir" }, `--output-dir "/my dir": a #SBATCH line cannot hold`},
		{func(s *Sweep) { s.Dir = "/d%j" }, `--output-dir "/d%j"`},
		{func(s *Sweep) { s.Partition = "a\nb" }, `--partition "a\nb"`},
		{func(s *Sweep) { s.Time = "1:00 " }, `--time "1:00 "`},
		{func(s *Sweep) { s.Mem = "4G\t" }, `--mem "4G\t"`},
		{func(s *Sweep) { s.WorkDir = "/w w" }, `working directory "/w w"`},
		{func(s *Sweep) { s.Tasks = 0 }, "--tasks 0: want at least 1"},
	} {
		s := ok
		tc.change(&s)
		err := s.Check()
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Check(%+v) = %v, want %q", s, err, tc.err)
		}
	}
}
