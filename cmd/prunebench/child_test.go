package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as prunebench: with childEnv set it runs the CLI
// on its arguments, so that tests can watch a real process (exit status,
// signals, peak memory under an address-space limit) built with the same
// tags as the tests.
const (
	childEnv   = "PRUNEBENCH_TEST_CHILD"
	childASEnv = "PRUNEBENCH_TEST_CHILD_AS" // RLIMIT_AS in bytes, when set
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if s := os.Getenv(childASEnv); s != "" {
			lim, err := strconv.ParseUint(s, 10, 64)
			if err == nil {
				err = syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: lim, Max: lim})
			}
			if err != nil {
				os.Stderr.WriteString("child: setting RLIMIT_AS: " + err.Error() + "\n")
				os.Exit(99)
			}
		}
		main()
	}
	os.Exit(m.Run())
}

// addressLimit is the address space every hostile-input child gets (issue
// 7: nothing may need more than 4 GB of it), and rssLimit the peak resident
// memory it may reach.
const (
	addressLimit = 4 << 30
	rssLimit     = 1 << 30
)

// proc is the outcome of one prunebench process.
type proc struct {
	code           int
	stdout, stderr string
	maxRSS         int64 // bytes
	elapsed        time.Duration
}

// child starts prunebench as a process in dir under the address-space limit.
type child struct {
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	start  time.Time
}

// lockedBuffer can be read while the process still writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startChild(t *testing.T, dir string, stdout *os.File, args ...string) *child {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(self, args...)}
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(), childEnv+"=1", childASEnv+"="+strconv.Itoa(addressLimit), "TMPDIR="+dir)
	c.cmd.Stdout = &c.stdout
	if stdout != nil {
		c.cmd.Stdout = stdout
	}
	c.cmd.Stderr = &c.stderr
	c.start = time.Now()
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// wait waits at most timeout (a hang is a failure) and returns the outcome.
func (c *child) wait(t *testing.T, timeout time.Duration) proc {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		c.cmd.Process.Kill()
		<-done
		t.Fatalf("prunebench %q still running after %v: killed\nstderr:\n%s", c.cmd.Args[1:], timeout, c.stderr.String())
	}
	p := proc{code: c.cmd.ProcessState.ExitCode(), stdout: c.stdout.String(), stderr: c.stderr.String(), elapsed: time.Since(c.start)}
	if ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		p.maxRSS = ru.Maxrss << 10 // kilobytes on Linux
	}
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("prunebench %q killed by %v\nstderr:\n%s", c.cmd.Args[1:], ws.Signal(), p.stderr)
	}
	return p
}

func runChild(t *testing.T, dir string, args ...string) proc {
	t.Helper()
	return startChild(t, dir, nil, args...).wait(t, 3*time.Minute)
}

// fileState is what a snapshot keeps of one path.
type fileState struct {
	size int64
	mode fs.FileMode
	mod  time.Time
}

// snapshot lists every path under the roots (hidden ones included), so that
// a run that leaves or changes a file is caught.
func snapshot(t *testing.T, roots ...string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			st := fileState{mode: info.Mode()}
			if !d.IsDir() {
				st.size, st.mod = info.Size(), info.ModTime()
			}
			m[p] = st
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// diffSnapshots describes what changed between two snapshots.
func diffSnapshots(before, after map[string]fileState) []string {
	var d []string
	for p, a := range after {
		b, ok := before[p]
		switch {
		case !ok:
			d = append(d, "new "+p)
		case a != b:
			d = append(d, "changed "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			d = append(d, "removed "+p)
		}
	}
	return d
}

// waitFor polls until cond holds or the timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return cond()
}
