package eval

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/memtest"
)

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLoadTaskLimits: compression bombs, huge lines and endless input are
// refused with the file and the limit named, in memory about the limit; a
// registered file is verified before it is decompressed.
func TestLoadTaskLimits(t *testing.T) {
	bomb, err := os.ReadFile("testdata/zeros-300MiB.bz2") // bzip2 -9 of 300 MiB of zeros: 242 bytes
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	hsRel, _ := DefaultPath("hellaswag")
	dataDir := filepath.Join(tmp, "data")
	writeFile(t, filepath.Join(dataDir, hsRel), bomb)
	longLine := append([]byte(`{"question": "q", "passage": "`), bytes.Repeat([]byte("a"), data.MaxLineBytes)...)
	longLine = append(longLine, `", "answer": true}`+"\n"...)
	sparse := writeFile(t, filepath.Join(tmp, "huge.jsonl"), nil)
	if err := os.Truncate(sparse, 1<<40); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, task, dir, path string
		want                  []string
		maxAlloc              uint64
	}{
		{"bzip2 bomb", "hellaswag", "", writeFile(t, filepath.Join(tmp, "bomb.bz2"), bomb),
			[]string{"bomb.bz2: decompresses to more than 128 MiB, the limit for task files"}, data.MaxTaskBytes * 5 / 4},
		{"bzip2 bomb at the registered path", "hellaswag", dataDir, "",
			[]string{filepath.Join(dataDir, hsRel) + ": size 242 bytes, expected 1964544 for registered file " + hsRel}, 1 << 20},
		{"gzip bomb", "boolq", "", writeFile(t, filepath.Join(tmp, "bomb.jsonl.gz"), gzipBytes(t, make([]byte, data.MaxTaskBytes+1<<20))),
			[]string{"bomb.jsonl.gz: decompresses to more than 128 MiB, the limit for task files"}, data.MaxTaskBytes * 5 / 4},
		{"long line", "boolq", "", writeFile(t, filepath.Join(tmp, "long.jsonl.gz"), gzipBytes(t, append([]byte("\n"), longLine...))),
			[]string{"long.jsonl.gz:2: line of 16777264 bytes, longer than 16 MiB, the limit for one line"}, 5 * data.MaxLineBytes},
		{"huge file", "boolq", "", sparse, []string{"huge.jsonl: is larger than 128 MiB, the limit for task files"}, 1 << 20},
		{"endless device", "rte", "", "/dev/zero", []string{"/dev/zero: is larger than 128 MiB, the limit for task files"}, data.MaxTaskBytes * 5 / 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = LoadTask(c.task, c.dir, LoadOptions{Path: c.path})
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(c.want, "task "+c.task+": ") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > c.maxAlloc {
				t.Errorf("allocated %d MiB, want at most %d MiB", n>>20, c.maxAlloc>>20)
			}
		})
	}
}

// TestLoadTaskGzip: a gzip-compressed task file loads like the plain one.
func TestLoadTaskGzip(t *testing.T) {
	doc := []byte(`{"question": "is it", "passage": "it is", "answer": true}` + "\n")
	p := writeFile(t, filepath.Join(t.TempDir(), "dev.jsonl.gz"), gzipBytes(t, doc))
	task, err := LoadTask("boolq", "", LoadOptions{Path: p})
	if err != nil || len(task.Docs) != 1 || task.Docs[0].Gold != 0 || len(task.Files) != 1 || task.Files[0].Path != p {
		t.Fatalf("got %+v, %v", task, err)
	}
}

// TestEvaluateCancelledMidRun: scoring stops during a ForwardContext call
// (a minute long here, like a long document on a large model) as soon as the
// context is cancelled, not when the call or the task ends.
func TestEvaluateCancelledMidRun(t *testing.T) {
	task := varied(200)
	slow := &slowDocLM{fakeLM: hashLM(), delay: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Evaluate(ctx, slow, fakeTok{}, 64, task, ZeroShotOptions{MaxBatch: 1})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "zero-shot varied: ") {
		t.Errorf("got %v, want the context's error once", err)
	}
	// Far below the minute-long call, far above any scheduling delay: the
	// bound tells "stopped inside the call" from "waited it out".
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("returned after %v", el)
	}
}

type slowDocLM struct {
	*fakeLM
	delay time.Duration
}

func (m *slowDocLM) ForwardContext(ctx context.Context, tokens []int, nseq, T int) ([]float32, error) {
	if err := sleepContext(ctx, m.delay); err != nil {
		return nil, err
	}
	return m.fakeLM.ForwardContext(ctx, tokens, nseq, T)
}

// TestLoadTaskManyLines: a task file of almost nothing but line ends, 128
// MiB decompressed from a gzip of about 130 KB, is read in memory a small
// factor of its size (as a []string its lines took 2 GiB of headers alone),
// and its document keeps its line number.
func TestLoadTaskManyLines(t *testing.T) {
	doc := `{"question": "is it", "passage": "it is", "answer": true}` + "\n"
	blank := data.MaxTaskBytes - len(doc)
	file := append(bytes.Repeat([]byte("\n"), blank), doc...)
	path := writeFile(t, filepath.Join(t.TempDir(), "boolq.jsonl.gz"), gzipBytes(t, file))
	var task *Task
	var err error
	alloc := memtest.Allocated(func() { task, err = LoadTask("boolq", "", LoadOptions{Path: path}) })
	if err != nil || len(task.Docs) != 1 || task.Docs[0].Line != blank+1 {
		t.Errorf("got %v; want one document on line %d", err, blank+1)
	}
	const maxAlloc = 4 * data.MaxTaskBytes
	if alloc > maxAlloc {
		t.Errorf("allocated %d MiB, want at most %d MiB", alloc>>20, maxAlloc>>20)
	}
}
