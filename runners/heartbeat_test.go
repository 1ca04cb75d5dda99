package runners

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHeartbeat: a shard's heartbeat says planning, then the run under
// way, then how the sweep ended.
func TestHeartbeat(t *testing.T) {
	sh := Shard{Index: 1, Count: 3}
	cancelled, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupted by terminated"))
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		failed int
		state  string
		msg    string
	}{
		{"finished", context.Background(), nil, 0, StateFinished, ""},
		{"runs failed", context.Background(), nil, 1, StateFailed, ""},
		{"sweep failed", context.Background(), errors.New("model: not found"), 0, StateFailed, "model: not found"},
		{"stopped", cancelled, context.Canceled, 0, StateStopped, "interrupted by terminated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "new", "r.jsonl")
			w, err := StartHeartbeat(out, "cfg", sh, 10)
			if err != nil {
				t.Fatal(err)
			}
			read := func() *Heartbeat {
				t.Helper()
				h, err := ReadHeartbeat(sh.HeartbeatPath(out))
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			h := read()
			abs, _ := filepath.Abs(out)
			if h.State != StatePlanning || h.Config != "cfg" || h.Out != abs || h.Shard() != sh || h.Runs != 10 || h.ShardRuns != 3 || h.PID != os.Getpid() {
				t.Fatalf("first heartbeat %+v", h)
			}
			w.running(&HeartbeatRun{ID: "abc", Label: "m wanda 0.5"}, 1, tc.failed)
			if h = read(); h.State != StateRunning || h.Run == nil || h.Run.ID != "abc" || h.Done != 1 {
				t.Fatalf("running heartbeat %+v", h)
			}
			if err := w.Close(tc.ctx, tc.err); err != nil {
				t.Fatal(err)
			}
			if h = read(); h.State != tc.state || h.Run != nil || h.Error != tc.msg || h.Updated.Before(h.Started) {
				t.Errorf("last heartbeat %+v, want state %s, error %q", h, tc.state, tc.msg)
			}
		})
	}
}

// TestHeartbeatWriteFails: a heartbeat that cannot be written first is an
// error; one that cannot be rewritten later is reported by Close, and the
// sweep is not stopped for it.
func TestHeartbeatWriteFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := StartHeartbeat(filepath.Join(dir, "file", "r.jsonl"), "cfg", Shard{0, 1}, 1); err == nil {
		t.Error("StartHeartbeat under a file: no error")
	}
	out := filepath.Join(dir, "sub", "r.jsonl")
	w, err := StartHeartbeat(out, "cfg", Shard{0, 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	w.running(nil, 0, 0)
	if err := w.Close(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "heartbeat") {
		t.Errorf("Close after a failed write: %v", err)
	}
}

// deadPID is the PID of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestHeartbeatWorking: a shard works while its heartbeat claims so, is
// fresh and, on this host, its process exists; another process may not
// start that shard, or a shard of another split, meanwhile.
func TestHeartbeatWorking(t *testing.T) {
	now := time.Now()
	host := machine().Host
	dead := deadPID(t)
	for _, tc := range []struct {
		name    string
		hb      Heartbeat
		working bool
	}{
		{"running here", Heartbeat{State: StateRunning, Host: host, PID: os.Getpid(), Updated: now}, true},
		{"planning elsewhere", Heartbeat{State: StatePlanning, Host: "other", PID: dead, Updated: now.Add(-time.Minute)}, true},
		{"finished", Heartbeat{State: StateFinished, Host: host, PID: os.Getpid(), Updated: now}, false},
		{"stopped", Heartbeat{State: StateStopped, Host: "other", Updated: now}, false},
		{"silent too long", Heartbeat{State: StateRunning, Host: "other", Updated: now.Add(-HeartbeatStale - time.Second)}, false},
		{"process gone here", Heartbeat{State: StateRunning, Host: host, PID: dead, Updated: now}, false},
	} {
		if got := tc.hb.Working(now); got != tc.working {
			t.Errorf("%s: Working = %v, want %v", tc.name, got, tc.working)
		}
	}

	out := filepath.Join(t.TempDir(), "r.jsonl")
	put := func(sh Shard, state string) {
		b, err := json.Marshal(Heartbeat{Config: "cfg", Index: sh.Index, Count: sh.Count, Runs: 9, State: state,
			Host: "other", PID: 7, Updated: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sh.HeartbeatPath(out), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put(Shard{0, 3}, StateRunning)
	put(Shard{1, 3}, StateFinished)
	for _, tc := range []struct {
		sh  Shard
		err string
	}{
		{Shard{1, 3}, ""},
		{Shard{2, 3}, ""},
		{Shard{0, 3}, "shard 0/3 is at work (pid 7 on other"},
		{Shard{0, 2}, "shard 0/3 of another split is at work"},
	} {
		w, err := StartHeartbeat(out, "cfg", tc.sh, 9)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("StartHeartbeat(%v): %v", tc.sh, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("StartHeartbeat(%v): %v, want an error with %q", tc.sh, err, tc.err)
		}
		if err == nil {
			w.Close(context.Background(), nil)
		}
	}
}

// FuzzParseHeartbeat: any file either is refused or is a heartbeat whose
// shard is one.
func FuzzParseHeartbeat(f *testing.F) {
	f.Add([]byte(`{"config":"c","out":"/r.jsonl","index":1,"count":3,"runs":9,"state":"running","run":{"id":"a"},"updated":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"index":-1,"count":0}`))
	f.Add([]byte(`{"index":3,"count":3}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeartbeat(b, "hb")
		if err != nil {
			return
		}
		sh := h.Shard()
		if sh.Count < 1 || sh.Count > MaxShards || sh.Index < 0 || sh.Index >= sh.Count || h.Runs < 0 {
			t.Fatalf("heartbeat of shard %v of %d runs", sh, h.Runs)
		}
		h.Working(time.Now())
	})
}
