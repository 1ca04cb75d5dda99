package runners

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/internal/jsonerr"
	"github.com/prunebench/prunebench/internal/smallfile"
)

// HeartbeatInterval is how often a shard rewrites its heartbeat while a run
// is under way. A 7B run takes hours without a word to its results file;
// the heartbeat's age is what tells a live task from one its node lost.
const HeartbeatInterval = 30 * time.Second

// HeartbeatStale is the age beyond which a heartbeat that says running is
// taken for a task that died without saying so (SIGKILL, a lost node): a
// few missed intervals, as a loaded file system may delay one write.
const HeartbeatStale = 4 * HeartbeatInterval

// Heartbeat states.
const (
	StatePlanning = "planning" // reading the model and data, computing IDs
	StateRunning  = "running"
	StateFinished = "finished" // every run of the shard recorded
	StateFailed   = "failed"   // runs failed, or the sweep could not start
	StateStopped  = "stopped"  // a signal (scancel, Ctrl-C) stopped it
)

// Heartbeat is a shard's heartbeat file (JSON), beside its results file.
type Heartbeat struct {
	Config string `json:"config"`
	// Out is the sweep's results file, absolute: the shard appends to
	// Shard().Path(Out), prunebench merge writes Out.
	Out   string `json:"out"`
	Index int    `json:"index"`
	Count int    `json:"count"`
	// Runs is the number of runs of the whole config, ShardRuns the
	// shard's share.
	Runs      int    `json:"runs"`
	ShardRuns int    `json:"shard_runs"`
	Done      int    `json:"done"` // the shard's runs recorded, by it or earlier
	Failed    int    `json:"failed"`
	State     string `json:"state"`
	// Run is the run under way.
	Run     *HeartbeatRun `json:"run,omitempty"`
	Error   string        `json:"error,omitempty"`
	Host    string        `json:"host"`
	PID     int           `json:"pid"`
	Job     string        `json:"job,omitempty"` // the Slurm job or array task, or the Kubernetes pod
	Started time.Time     `json:"started"`
	Updated time.Time     `json:"updated"`
}

// HeartbeatRun is the run a shard is doing.
type HeartbeatRun struct {
	ID    string    `json:"id"`
	Label string    `json:"label"`
	Since time.Time `json:"since"`
}

// Shard is the heartbeat's shard.
func (h *Heartbeat) Shard() Shard { return Shard{Index: h.Index, Count: h.Count} }

// Claims says whether the heartbeat says its shard is at work.
func (h *Heartbeat) Claims() bool { return h.State == StatePlanning || h.State == StateRunning }

// Working says whether the shard is at work as of now: its heartbeat says
// so, was rewritten within HeartbeatStale and, seen from the shard's own
// host, its process exists. A task killed without a word (SIGKILL, a lost
// node) leaves a heartbeat that claims work and is not working.
func (h *Heartbeat) Working(now time.Time) bool {
	if !h.Claims() || now.Sub(h.Updated) > HeartbeatStale {
		return false
	}
	if h.Host == machine().Host && h.PID > 0 && syscall.Kill(h.PID, 0) == syscall.ESRCH {
		return false
	}
	return true
}

// checkIdle refuses to start shard sh of the sweep of out while a process
// works on that shard, or on a shard of another split of the sweep: both
// would do the same runs, and record them twice.
func checkIdle(out string, sh Shard, now time.Time) error {
	paths, err := filepath.Glob(escapeGlob(strings.TrimSuffix(out, filepath.Ext(out))) + ShardGlob + heartbeatExt)
	if err != nil {
		return err
	}
	for _, p := range paths {
		h, err := ReadHeartbeat(p)
		if err != nil || !h.Working(now) || (h.Shard() != sh && h.Count == sh.Count) {
			continue // a damaged heartbeat is rewritten, by its own shard
		}
		what := fmt.Sprintf("shard %v", h.Shard())
		if h.Count != sh.Count {
			what = fmt.Sprintf("shard %v of another split", h.Shard())
		}
		return fmt.Errorf("%s: %s is at work (pid %d on %s%s, heartbeat %v ago): a second process would do its runs again; wait for it or stop it (a task gone without a word is taken for dead %v after its last heartbeat)",
			p, what, h.PID, h.Host, jobSuffix(h.Job), now.Sub(h.Updated).Round(time.Second), HeartbeatStale)
	}
	return nil
}

func jobSuffix(job string) string {
	if job == "" {
		return ""
	}
	return ", " + job
}

// HeartbeatWriter keeps a heartbeat file current: Sweep tells it of each
// run, and a ticker rewrites it every HeartbeatInterval in between.
type HeartbeatWriter struct {
	path string
	mu   sync.Mutex
	hb   Heartbeat
	err  error // the first failed write, reported once
	stop context.CancelFunc
	done chan struct{}
}

// StartHeartbeat writes the first heartbeat (state planning) of shard sh of
// a sweep of runs runs with results file out, beside the shard's results
// file, and keeps it current until Close. It refuses while another process
// works on the shard, or on a shard of another split of the sweep. A heartbeat that cannot be
// written is an error here, where it costs nothing; later failed writes
// are only reported by Close, as losing the heartbeat must not stop hours
// of runs.
func StartHeartbeat(out, config string, sh Shard, runs int) (*HeartbeatWriter, error) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	// The results file's directory, which its first record would make.
	if err := os.MkdirAll(filepath.Dir(abs), atomicfile.DirMode()); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	now := time.Now().UTC()
	if err := checkIdle(out, sh, now); err != nil {
		return nil, err
	}
	w := &HeartbeatWriter{path: sh.HeartbeatPath(out), done: make(chan struct{}), hb: Heartbeat{
		Config: config, Out: abs, Index: sh.Index, Count: sh.Count, Runs: runs, ShardRuns: len(sh.Runs(runs)),
		State: StatePlanning, Host: machine().Host, PID: os.Getpid(), Job: jobName(), Started: now,
	}}
	if err := w.write(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	go func() {
		defer close(w.done)
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.update(func(*Heartbeat) {})
			}
		}
	}()
	return w, nil
}

// jobName names the scheduler's job of this process, for people: an
// array task as scancel and squeue name it, ARRAY_TASK.
func jobName() string {
	if id, task := os.Getenv("SLURM_ARRAY_JOB_ID"), os.Getenv(EnvSlurmTaskID); id != "" && task != "" {
		return "slurm " + id + "_" + task
	}
	if id := os.Getenv("SLURM_JOB_ID"); id != "" {
		return "slurm " + id
	}
	if os.Getenv(EnvCompletionIndex) != "" {
		return "pod " + os.Getenv("HOSTNAME")
	}
	return ""
}

// update changes the heartbeat under the lock and rewrites it; a nil
// writer (no heartbeat asked for) does nothing.
func (w *HeartbeatWriter) update(change func(*Heartbeat)) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	change(&w.hb)
	if err := w.write(); err != nil && w.err == nil {
		w.err = err
	}
}

// running records the run under way (nil between runs) and the shard's
// counts so far.
func (w *HeartbeatWriter) running(run *HeartbeatRun, done, failed int) {
	w.update(func(h *Heartbeat) {
		h.State, h.Run, h.Done, h.Failed = StateRunning, run, done, failed
	})
}

// write replaces the file; the caller holds the lock.
func (w *HeartbeatWriter) write() error {
	w.hb.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(w.hb, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(w.path, append(b, '\n')); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Close stops the ticker and writes the final state: finished when err is
// nil and no run failed, stopped when ctx was cancelled, failed otherwise.
// It returns the first heartbeat write that failed.
func (w *HeartbeatWriter) Close(ctx context.Context, err error) error {
	if w == nil {
		return nil
	}
	w.stop()
	<-w.done
	w.update(func(h *Heartbeat) {
		h.Run = nil
		switch {
		case err == nil && h.Failed == 0:
			h.State = StateFinished
		case ctx.Err() != nil:
			h.State, h.Error = StateStopped, context.Cause(ctx).Error()
		default:
			h.State = StateFailed
			if err != nil {
				h.Error = err.Error()
			}
		}
	})
	return w.err
}

// maxHeartbeat bounds a heartbeat file: one is a few hundred bytes, and a
// sweep directory may hold anything under that name.
const maxHeartbeat = 1 << 20

// ReadHeartbeat reads a heartbeat file.
func ReadHeartbeat(path string) (*Heartbeat, error) {
	b, err := smallfile.Read(path, maxHeartbeat)
	if err != nil {
		return nil, err
	}
	return parseHeartbeat(b, path)
}

func parseHeartbeat(b []byte, name string) (*Heartbeat, error) {
	var h Heartbeat
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", name, jsonerr.Describe(err))
	}
	if h.Count < 1 || h.Count > MaxShards || h.Index < 0 || h.Index >= h.Count || h.Runs < 0 {
		return nil, fmt.Errorf("%s: shard %d/%d of %d runs: not a heartbeat", name, h.Index, h.Count, h.Runs)
	}
	return &h, nil
}
