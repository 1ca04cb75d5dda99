package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/runners"
	"github.com/prunebench/prunebench/slurm"
)

// slurmCluster is a one-node Slurm cluster on localhost for one test:
// munged, slurmctld and slurmd run from a temporary directory that holds
// their configuration, key, sockets, state, spool and logs, on free ports,
// as root and without cgroups, so that it starts on any Debian machine
// with slurm-wlm and munge installed and leaves nothing behind.
type slurmCluster struct {
	dir     string
	daemons []*exec.Cmd // in start order
}

// slurmTools are the programs the cluster and the test use.
var slurmTools = []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo"}

// lookTool finds a Slurm or munge program in PATH or /usr/sbin (daemons
// live there, outside a normal user's PATH).
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return exec.LookPath(filepath.Join("/usr/sbin", name))
}

// startSlurm starts the cluster, or skips the test where Slurm is not
// installed; under CI, which installs it (.ci/run), it fails instead.
func startSlurm(t *testing.T) *slurmCluster {
	t.Helper()
	var missing []string
	for _, name := range slurmTools {
		if _, err := lookTool(name); err != nil {
			missing = append(missing, name)
		}
	}
	reason := ""
	switch {
	case len(missing) > 0:
		reason = fmt.Sprintf("Slurm is not installed (no %s; on Debian: apt-get install slurm-wlm munge)", strings.Join(missing, ", "))
	case os.Geteuid() != 0:
		reason = "the test cluster's daemons run as root (SlurmUser=root), and this test is not root"
	}
	if reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: CI must run this test (.ci/run installs Slurm)", reason)
		}
		t.Skip(reason)
	}
	// Short: a munge socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "pbslurm-")
	if err != nil {
		t.Fatal(err)
	}
	c := &slurmCluster{dir: dir}
	t.Cleanup(func() { c.stop(t) })
	// munged wants its socket's directory searchable by all.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 1024)
	if f, err := os.Open("/dev/urandom"); err != nil {
		t.Fatal(err)
	} else {
		_, err = f.Read(key)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "munge.key"), key, 0o400); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"state", "spool"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	node, err := exec.Command(must(lookTool("slurmd")), "-C").Output()
	if err != nil {
		t.Fatalf("slurmd -C: %v", err)
	}
	// "NodeName=vm CPUs=2 Boards=1 … RealMemory=24105", then UpTime.
	nodeLine, _, _ := strings.Cut(string(node), "\n")
	name := regexp.MustCompile(`^NodeName=(\S+) `).FindStringSubmatch(nodeLine)
	if name == nil {
		t.Fatalf("slurmd -C: %q: no NodeName", node)
	}
	conf := filepath.Join(dir, "slurm.conf")
	j := func(n string) string { return filepath.Join(dir, n) }
	text := strings.Join([]string{
		"ClusterName=prunebenchtest",
		fmt.Sprintf("SlurmctldHost=%s(127.0.0.1)", name[1]),
		fmt.Sprintf("SlurmctldPort=%d", freePort(t)),
		fmt.Sprintf("SlurmdPort=%d", freePort(t)),
		"SlurmUser=root", "SlurmdUser=root",
		"AuthType=auth/munge", "CredType=cred/munge", "AuthInfo=socket=" + j("munge.sock"),
		"StateSaveLocation=" + j("state"), "SlurmdSpoolDir=" + j("spool"),
		"SlurmctldPidFile=" + j("slurmctld.pid"), "SlurmdPidFile=" + j("slurmd.pid"),
		"SlurmctldLogFile=" + j("slurmctld.log"), "SlurmdLogFile=" + j("slurmd.log"),
		// No cgroups: a container or CI machine may not delegate them.
		"ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
		"SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
		"JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
		"MpiDefault=none", "ReturnToService=2", "KillWait=10",
		// Finished jobs stay known to scontrol for the whole test.
		"MinJobAge=3600",
		nodeLine + " NodeAddr=127.0.0.1 State=UNKNOWN",
		fmt.Sprintf("PartitionName=test Nodes=%s Default=YES MaxTime=INFINITE State=UP", name[1]),
	}, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLURM_CONF", conf)

	c.start(t, "munged", "-F", "--force", "--socket="+j("munge.sock"), "--key-file="+j("munge.key"),
		"--pid-file="+j("munged.pid"), "--log-file="+j("munged.log"), "--seed-file="+j("munged.seed"))
	if !waitFor(t.Context(), 10*time.Second, func() bool { _, err := os.Stat(j("munge.sock")); return err == nil }) {
		t.Fatalf("munged did not create its socket in 10s\n%s", c.logs())
	}
	c.start(t, "slurmctld", "-D", "-i", "-f", conf)
	c.start(t, "slurmd", "-D", "-f", conf)
	if !waitFor(t.Context(), 60*time.Second, func() bool {
		out, err := exec.Command("sinfo", "-h", "-o", "%T").Output()
		return err == nil && strings.TrimSpace(string(out)) == "idle"
	}) {
		t.Fatalf("the node is not idle after 60s\n%s", c.logs())
	}
	return c
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// freePort is a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a daemon in the foreground as a child, killed with the test
// process should that die first.
func (c *slurmCluster) start(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(must(lookTool(name)), args...)
	cmd.Dir = c.dir
	out, err := os.Create(filepath.Join(c.dir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c.daemons = append(c.daemons, cmd)
}

// stop cancels every job, stops the daemons (last started first) and
// removes the directory.
func (c *slurmCluster) stop(t *testing.T) {
	if len(c.daemons) == 3 {
		exec.Command("scancel", "--quiet", "--user=root").Run()
		waitFor(t.Context(), 20*time.Second, func() bool {
			out, err := exec.Command("squeue", "-h").Output()
			return err == nil && len(bytes.TrimSpace(out)) == 0
		})
	}
	if t.Failed() {
		t.Logf("cluster logs:\n%s", c.logs())
	}
	for i := len(c.daemons) - 1; i >= 0; i-- {
		d := c.daemons[i]
		d.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(c.dir)
}

// logs are the last lines of the daemons' logs, for a failure's message.
func (c *slurmCluster) logs() string {
	var b strings.Builder
	for _, name := range []string{"munged.log", "slurmctld.log", "slurmd.log", "munged.out", "slurmctld.out", "slurmd.out"} {
		data, err := os.ReadFile(filepath.Join(c.dir, name))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s\n%s\n", name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}

var jobStateRE = regexp.MustCompile(`JobState=(\S+)`)

// jobStates are the states of a job's tasks (one for a plain job).
func jobStates(t *testing.T, id string) []string {
	t.Helper()
	out, err := exec.Command("scontrol", "-o", "show", "job", id).CombinedOutput()
	if err != nil {
		t.Fatalf("scontrol show job %s: %v\n%s", id, err, out)
	}
	var states []string
	for _, m := range jobStateRE.FindAllStringSubmatch(string(out), -1) {
		states = append(states, m[1])
	}
	return states
}

// waitJob waits until every task of job id has ended and returns their
// states.
func (c *slurmCluster) waitJob(t *testing.T, id string, timeout time.Duration) []string {
	t.Helper()
	var states []string
	ended := func() bool {
		states = jobStates(t, id)
		for _, s := range states {
			switch s {
			case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING":
				return false
			}
		}
		return len(states) > 0
	}
	if !waitFor(t.Context(), timeout, ended) {
		t.Fatalf("job %s not ended after %v: %v\n%s", id, timeout, states, c.logs())
	}
	return states
}

// sbatch submits a script as prunebench slurm's jobs are, the test binary
// standing for prunebench.
func sbatch(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("sbatch", append([]string{"--parsable"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch %q: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestSlurmSweep runs a small config as a 3-task Slurm array on a real
// one-node cluster, plus its merge job: the merged results are those of
// one process. One task is cancelled in the middle of a run; the merge
// that follows fails, naming the missing runs; the task rerun alone and a
// new merge give the single process's results again.
func TestSlurmSweep(t *testing.T) {
	data := datatest.Dir(t)
	c := startSlurm(t)
	dir := t.TempDir()
	// The harness's tiny config with evaluations long enough (about a
	// second per run) for a task to be caught in the middle of one.
	cfgText := strings.Replace(hConfigText("out/slurm.jsonl", hMethods), "max_windows: 2}", "max_windows: 400}", 1)
	cfg := filepath.Join(dir, "slurm.yaml")
	if err := os.WriteFile(cfg, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	// Pinned so that the calibration chunk and evaluation batches, and with
	// them the last bits of the sums, are the same in every process.
	mem := "1GB"
	start := time.Now()
	ref := runChild(t, dir, "run", cfg, "--out", filepath.Join(dir, "single.jsonl"), "--data-dir", data, "--max-memory", mem)
	if ref.code != exitOK {
		t.Fatalf("single-process run: exit %d\n%s", ref.code, ref.stderr)
	}
	want, _ := hRead(t, filepath.Join(dir, "single.jsonl"))
	t.Logf("single process: %v", time.Since(start).Round(time.Second))

	start = time.Now()
	sweep := filepath.Join(dir, "sweep")
	sub := runChild(t, dir, "slurm", cfg, "--tasks", "3", "--cpus-per-task", "1", "--output-dir", sweep,
		"--data-dir", data, "--max-memory", mem, "--submit")
	m := regexp.MustCompile(`^array (\d+)\nmerge (\d+)\n$`).FindStringSubmatch(sub.stdout)
	if sub.code != exitOK || m == nil {
		t.Fatalf("prunebench slurm --submit: exit %d, stdout %q\n%s", sub.code, sub.stdout, sub.stderr)
	}
	array, merge := m[1], m[2]
	out := filepath.Join(sweep, "slurm.jsonl")

	// Task 1 is cancelled once it has recorded a run and started another.
	victim := runners.Shard{Index: 1, Count: 3}
	var hb *runners.Heartbeat
	if !waitFor(t.Context(), 3*time.Minute, func() bool {
		var err error
		hb, err = runners.ReadHeartbeat(victim.HeartbeatPath(out))
		return err == nil && hb.Done >= 1 && hb.Run != nil
	}) {
		t.Fatalf("task 1 never had a run under way after one recorded: %+v\n%s", hb, c.logs())
	}
	if out, err := exec.Command("scancel", array+"_1").CombinedOutput(); err != nil {
		t.Fatalf("scancel %s_1: %v\n%s", array, err, out)
	}
	states := c.waitJob(t, array, 3*time.Minute)
	if got := strings.Join(states, " "); strings.Count(got, "COMPLETED") != 2 || strings.Count(got, "CANCELLED") != 1 {
		t.Errorf("array tasks ended %v, want two COMPLETED and one CANCELLED", states)
	}
	if s := c.waitJob(t, merge, 2*time.Minute); len(s) != 1 || s[0] != "FAILED" {
		t.Errorf("merge after the cancelled task: %v, want FAILED (runs missing)", s)
	}
	// Its log says what is missing and how to rerun it.
	mergeLog, err := os.ReadFile(filepath.Join(sweep, "logs", "merge-"+merge+".log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"runs not recorded yet", "rerun: J=$(sbatch --parsable --array=1 " + filepath.Join(sweep, slurm.ArrayScript) + ")"} {
		if !strings.Contains(string(mergeLog), want) {
			t.Errorf("merge log lacks %q:\n%s", want, mergeLog)
		}
	}
	if hb, err = runners.ReadHeartbeat(victim.HeartbeatPath(out)); err != nil {
		t.Fatal(err)
	}
	if hb.State != runners.StateStopped || hb.Done >= hb.ShardRuns {
		t.Errorf("cancelled task's heartbeat: %+v, want stopped before its last run", hb)
	}
	partial, _ := hRead(t, out)
	if len(partial) >= len(want) {
		t.Errorf("first merge: %d runs, want fewer than %d", len(partial), len(want))
	}

	// The task alone, then a merge again.
	rerun := sbatch(t, "--array=1", filepath.Join(sweep, slurm.ArrayScript))
	merge2 := sbatch(t, "--dependency=afterany:"+rerun, filepath.Join(sweep, slurm.MergeScript))
	if s := c.waitJob(t, rerun, 3*time.Minute); len(s) != 1 || s[0] != "COMPLETED" {
		t.Errorf("rerun of task 1: %v, want COMPLETED", s)
	}
	if s := c.waitJob(t, merge2, 2*time.Minute); len(s) != 1 || s[0] != "COMPLETED" {
		t.Errorf("second merge: %v, want COMPLETED", s)
	}
	t.Logf("sweep on Slurm, with the cancel and rerun: %v", time.Since(start).Round(time.Second))
	got, _ := hRead(t, out)
	hSameRuns(t, got, want)
	if recs, _ := hRead(t, victim.Path(out)); len(recs) != len(victim.Runs(len(want))) {
		t.Errorf("task 1's results file has %d records, want %d: the rerun resumed", len(recs), len(victim.Runs(len(want))))
	}
	if t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(sweep, "logs", "*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("--- %s\n%s", l, b)
		}
	}
}

// TestSlurmVerb: what prunebench slurm refuses before writing anything,
// and what it writes without --submit.
func TestSlurmVerb(t *testing.T) {
	dir := t.TempDir()
	cfg := hConfig(t, dir, "tiny.yaml", filepath.Join(dir, "out", "tiny.jsonl"))
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no tasks", []string{cfg}, exitUsage, "--tasks is required"},
		{"more tasks than runs", []string{cfg, "--tasks", "10"}, exitUsage, "--tasks 10: " + cfg + " has 9 runs, one per task at most"},
		{"space in a directive", []string{cfg, "--tasks", "3", "--partition", "a b"}, exitUsage, `--partition "a b": a #SBATCH line cannot hold spaces`},
		{"bad config", []string{filepath.Join(dir, "none.yaml"), "--tasks", "3"}, exitUsage, "none.yaml"},
		{"scripts", []string{cfg, "--tasks", "3", "--data-dir", dir}, exitOK, "slurm: submit with: J=$(sbatch --parsable " + filepath.Join(dir, "out", "tiny.slurm", slurm.ArrayScript) + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(append([]string{"slurm"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) || stdout != "" {
				t.Fatalf("slurm %q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, stdout, stderr, tc.code, tc.msg)
			}
			_, err := os.Stat(filepath.Join(dir, "out", "tiny.slurm", slurm.ArrayScript))
			if (err == nil) != (code == exitOK) {
				t.Errorf("array script: %v after exit %d", err, code)
			}
		})
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "tiny.slurm", slurm.ArrayScript))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --array=0-2", "'--shard' 'auto/3'", "'--data-dir' '" + dir + "'"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("array script lacks %q:\n%s", want, b)
		}
	}
}
