package results

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func rec(id, method string, metrics map[string]float64) Record {
	return Record{ID: id, Method: Method{Name: method}, Metrics: metrics}
}

// line is what Append writes for rec(id, "wanda", {"wikitext2_ppl": ppl}),
// spelled out by hand.
func line(id string, ppl string) string {
	return `{"id":"` + id + `","model":{"name":"","files":null},"method":{"name":"wanda"},` +
		`"metrics":{"wikitext2_ppl":` + ppl + `},"seconds":{"eval":0,"total":0},` +
		`"provenance":{"prunebench":"","go":"","os":"","cpu":"","blas":"","time":""}}` + "\n"
}

func TestAppend(t *testing.T) {
	a := rec("a", "wanda", map[string]float64{"wikitext2_ppl": 183.56})
	b := rec("b", "wanda", map[string]float64{"wikitext2_ppl": 312.37})
	for _, tc := range []struct {
		name   string
		before *string // nil: no file
		want   string
	}{
		{"new file", nil, line("a", "183.56") + line("b", "312.37")},
		{"empty file", ptr(""), line("a", "183.56") + line("b", "312.37")},
		{"existing lines", ptr(line("x", "1")), line("x", "1") + line("a", "183.56") + line("b", "312.37")},
		{"torn tail cut", ptr(line("x", "1") + `{"id":"y","met`), line("x", "1") + line("a", "183.56") + line("b", "312.37")},
		{"torn only line cut", ptr(`{"id":"y"`), line("a", "183.56") + line("b", "312.37")},
		{"NUL tail cut", ptr(line("x", "1") + "\x00\x00\x00"), line("x", "1") + line("a", "183.56") + line("b", "312.37")},
		{"whole record without newline kept", ptr(strings.TrimSuffix(line("x", "1"), "\n")), line("x", "1") + line("a", "183.56") + line("b", "312.37")},
		{"invalid record without newline cut", ptr(line("x", "1") + `{"id":"y"}`), line("x", "1") + line("a", "183.56") + line("b", "312.37")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "dir", "r.jsonl")
			if tc.before != nil {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(*tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range []Record{a, b} {
				if err := Append(path, r); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("file:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestAppendRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Record
		want string
	}{
		{"no id", rec("", "wanda", map[string]float64{}), "without an id"},
		{"no method", rec("a", "", map[string]float64{}), "run a: no method name"},
		{"nil metrics", rec("a", "wanda", nil), "run a: no metrics"},
		{"NaN", rec("a", "wanda", map[string]float64{"wikitext2_ppl": math.NaN()}), "metric wikitext2_ppl is NaN"},
		{"Inf", rec("a", "wanda", map[string]float64{"kld": math.Inf(1)}), "metric kld is +Inf"},
		{"bad option", Record{ID: "a", Method: Method{Name: "x", Options: map[string]any{"f": func() {}}}, Metrics: map[string]float64{}}, "option f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.jsonl")
			err := Append(path, tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused record left a file: %v", err)
			}
		})
	}
}

func TestAppendConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rec(fmt.Sprint("run", i), "wanda", map[string]float64{"x": float64(i)})
			// A large option makes each line longer than a pipe buffer.
			r.Method.Options = map[string]any{"pad": strings.Repeat("p", 70000)}
			errs <- Append(path, r)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs, torn, err := Read(path)
	if err != nil || torn != "" {
		t.Fatalf("read: %v %q", err, torn)
	}
	if ids := IDs(recs); len(ids) != n {
		t.Errorf("%d distinct runs, want %d", len(ids), n)
	}
}

func TestRead(t *testing.T) {
	m := `"method":{"name":"wanda"}`
	for _, tc := range []struct {
		name    string
		content string
		ids     string // comma-separated
		torn    string
		err     string
	}{
		{"empty", "", "", "", ""},
		{"two", line("a", "1") + line("b", "2"), "a,b", "", ""},
		{"blank lines", "\n" + line("a", "1") + "  \n\n" + line("b", "2") + "\n", "a,b", "", ""},
		{"CRLF", strings.ReplaceAll(line("a", "1"), "\n", "\r\n"), "a", "", ""},
		{"empty metrics", `{"id":"a",` + m + `,"metrics":{}}` + "\n", "a", "", ""},
		{"unknown key tolerated", `{"id":"a",` + m + `,"metrics":{},"future":1}` + "\n", "a", "", ""},
		{"last line without newline", line("a", "1") + strings.TrimSuffix(line("b", "2"), "\n"), "a,b", "", ""},
		{"torn", line("a", "1") + line("b", "2") + `{"id":"c","metr`, "a,b",
			"r.jsonl: line 3: torn last line (15 bytes) ignored — an interrupted write", ""},
		{"torn after blank", line("a", "1") + "\n" + "\x00\x00", "a",
			"r.jsonl: line 3: torn last line (2 bytes) ignored — an interrupted write", ""},
		{"bad middle line", line("a", "1") + `{"id":"c","metr` + "\n" + line("b", "2"), "", "",
			"r.jsonl:2: invalid JSON"},
		{"bad last line with newline", line("a", "1") + "garbage\n", "", "", "r.jsonl:2: invalid JSON"},
		{"wrong type", `{"id":"a",` + m + `,"metrics":{"ppl":"high"}}` + "\n", "", "", "r.jsonl:1: key metrics: expected a number, got string"},
		{"trailing data", `{"id":"a",` + m + `,"metrics":{}} {}` + "\n", "", "", "r.jsonl:1: invalid JSON"},
		{"no id", `{` + m + `,"metrics":{}}` + "\n", "", "", "r.jsonl:1: record without an id"},
		{"no method", `{"id":"a","metrics":{}}` + "\n", "", "", "r.jsonl:1: run a: no method name"},
		{"method without name", `{"id":"a","method":{"rho":1},"metrics":{}}` + "\n", "", "", "r.jsonl:1: method: no name"},
		{"null metrics", `{"id":"a",` + m + `,"metrics":null}` + "\n", "", "", "r.jsonl:1: run a: no metrics"},
		{"unterminated invalid record is an error", line("a", "1") + `{"id":"b",` + m + `}`, "", "", "r.jsonl:2: run b: no metrics"},
		{"duplicate, same metrics", line("a", "1") + line("b", "2") + line("a", "1.0"), "a,b", "", ""},
		{"duplicate, different metrics", line("a", "1") + line("b", "2") + line("a", "1.5"), "", "",
			"r.jsonl: run a recorded twice with different metrics (lines 1 and 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			recs, torn, err := Read(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
			if got := strings.Join(ids, ","); got != tc.ids {
				t.Errorf("ids %q, want %q", got, tc.ids)
			}
			if want := strings.ReplaceAll(tc.torn, "r.jsonl", path); torn != want {
				t.Errorf("torn %q, want %q", torn, want)
			}
		})
	}
}

func TestReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	ach := 0.599885
	in := Record{
		ID: "9f3c", Config: "quickstart",
		Model: ModelRef{Name: "stories260K", Files: []File{{Path: "m.bin", Size: 3, SHA256: "b0a5"}}},
		Method: Method{Name: "admm-grad", Options: map[string]any{"rho": 1.0, "schedule": "cubic", "per_output": false},
			Keys: []string{"rho", "schedule", "per_output"}},
		Pattern: "0.6", Achieved: &ach,
		Calibration: &Calibration{Source: "wikitext2-valid", Mode: "contiguous", NSamples: 128, SeqLen: 512, Seed: 3},
		Metrics:     map[string]float64{"wikitext2_ppl": 199.85, "kld": 1.21},
		PPL:         []PPL{{Metric: "wikitext2_ppl", Dataset: "wikitext2", SeqLen: 512, MaxWindows: 64, Windows: 64, PPL: 199.85}},
	}
	if err := Append(path, in); err != nil {
		t.Fatal(err)
	}
	recs, _, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	got := recs[0]
	if got.ID != in.ID || got.Method.Name != "admm-grad" || got.Method.Options["rho"] != 1.0 ||
		strings.Join(got.Method.Keys, ",") != "rho,schedule,per_output" || got.Pattern != "0.6" ||
		*got.Achieved != ach || got.Calibration.Seed != 3 || got.Metrics["kld"] != 1.21 ||
		got.PPL[0].MaxWindows != 64 {
		t.Errorf("round trip: %+v", got)
	}
}

func TestReadMissing(t *testing.T) {
	_, _, err := Read(filepath.Join(t.TempDir(), "none.jsonl"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v, want fs.ErrNotExist", err)
	}
}

func TestReadLongLine(t *testing.T) {
	const max = 1000
	for _, tc := range []struct {
		name    string
		content string
		err     string
	}{
		{"at the limit", `{"id":"a","method":{"name":"x","p":"` + strings.Repeat("p", max-53) + `"},"metrics":{}}` + "\n", ""},
		{"over", line("a", "1") + strings.Repeat("x", max+1), "r.jsonl:2: line longer than 1000 bytes"},
		{"over, terminated", strings.Repeat(" ", max) + "\n", "r.jsonl:1: line longer than 1000 bytes"},
		{"over, beyond the read buffer", strings.Repeat("x", 200<<10), "r.jsonl:1: line longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == "" && len(tc.content) != max {
				t.Fatalf("test line is %d bytes, want %d", len(tc.content), max)
			}
			_, _, err := readFrom(strings.NewReader(tc.content), "r.jsonl", max)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	ids := IDs([]Record{rec("a", "x", nil), rec("b", "x", nil)})
	if len(ids) != 2 || !ids["a"] || !ids["b"] || ids["c"] {
		t.Errorf("IDs = %v", ids)
	}
}
