package safetensors

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
)

func TestGoldenFile(t *testing.T) {
	f, err := Open(datatest.Golden(t, "synthetic_96x48.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, shape, err := f.Float32("X")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int{1024, 96}) || len(x) != 1024*96 {
		t.Fatalf("X shape %v, %d values", shape, len(x))
	}
	// Channel 5 is documented to be all zeros; the outlier channels are not.
	for r := 0; r < 1024; r++ {
		if x[r*96+5] != 0 {
			t.Fatalf("X[%d,5] = %v, want 0", r, x[r*96+5])
		}
	}
	m, shape, err := f.Uint8("magnitude_50_mask")
	if err != nil {
		t.Fatal(err)
	}
	pruned := 0
	for _, v := range m {
		pruned += int(v)
	}
	// The reference magnitude rule prunes one more than half (GOLDEN README).
	if !reflect.DeepEqual(shape, []int{48, 96}) || pruned != 48*96/2+1 {
		t.Fatalf("mask shape %v, %d pruned", shape, pruned)
	}
	e, shape, err := f.Float64("err_magnitude_50")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int{1}) || math.Abs(e[0]-1.067142e-01) > 1e-7 {
		t.Fatalf("err_magnitude_50 = %v %v", e, shape)
	}
	if f.Metadata()["chunk_rows"] != "512" {
		t.Fatalf("metadata %v", f.Metadata())
	}
	if _, _, err := f.Float32("err_magnitude_50"); !errors.Is(err, ErrDType) || !strings.Contains(err.Error(), "F64") {
		t.Fatalf("Float32 of an F64 tensor: %v", err)
	}
}

func sampleWriter(t *testing.T) *Writer {
	w := NewWriter()
	w.SetMetadata("format", "pt")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.AddFloat32("b.f32", []int{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, 1e-30}, F32))
	must(w.AddFloat32("a.f16", []int{3}, []float32{1, 0.5, 65504}, F16))
	must(w.AddFloat32("c.bf16", []int{2}, []float32{-3, 256}, BF16))
	must(w.AddFloat64("d.f64", []int{1}, []float64{math.Pi}))
	must(w.AddUint8("e.u8", []int{2, 2}, []uint8{1, 0, 0, 1}))
	must(w.AddFloat32("f.empty", []int{0, 4}, nil, F32))
	return w
}

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := sampleWriter(t).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(raw); n%8 != 0 {
		t.Fatalf("header length %d not padded to 8", n)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Names(); !reflect.DeepEqual(got, []string{"a.f16", "b.f32", "c.bf16", "d.f64", "e.u8", "f.empty"}) {
		t.Fatalf("names %v", got)
	}
	// Name order on disk too.
	prev := int64(-1)
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		if info.Begin < prev {
			t.Fatalf("%s at %d before previous %d", n, info.Begin, prev)
		}
		prev = info.Begin
	}
	for _, c := range []struct {
		name  string
		want  []float32
		shape []int
	}{
		{"a.f16", []float32{1, 0.5, 65504}, []int{3}},
		{"b.f32", []float32{1, -2, 3.5, float32(math.Inf(1)), 0, 1e-30}, []int{2, 3}},
		{"c.bf16", []float32{-3, 256}, []int{2}},
		{"f.empty", []float32{}, []int{0, 4}},
	} {
		got, shape, err := f.Float32(c.name)
		if err != nil || !reflect.DeepEqual(got, c.want) || !reflect.DeepEqual(shape, c.shape) {
			t.Errorf("%s: %v %v %v, want %v %v", c.name, got, shape, err, c.want, c.shape)
		}
	}
	if got, _, err := f.Float64("d.f64"); err != nil || got[0] != math.Pi {
		t.Errorf("d.f64: %v %v", got, err)
	}
	if got, _, err := f.Uint8("e.u8"); err != nil || !bytes.Equal(got, []byte{1, 0, 0, 1}) {
		t.Errorf("e.u8: %v %v", got, err)
	}
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata())
	}
	if _, _, err := f.Float32("missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing tensor: %v", err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter()
	for _, c := range []struct {
		err  error
		want string
	}{
		{w.AddFloat32("x", []int{2, 2}, make([]float32, 3), F32), "holds 4 elements"},
		{w.AddFloat32("x", []int{1}, make([]float32, 1), F64), "cannot store"},
		{w.AddUint8("__metadata__", []int{1}, []uint8{1}), "invalid tensor name"},
		{w.AddFloat32("x", []int{-1}, nil, F32), "negative"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("got %v, want %q", c.err, c.want)
		}
	}
	if err := w.AddUint8("y", []int{1}, []uint8{1}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddUint8("y", []int{1}, []uint8{1}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate: %v", err)
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter()
	for _, n := range []string{"w3", "w1", "w2", "w4"} {
		if err := w.AddFloat32(n, []int{4, 4}, make([]float32, 16), F32); err != nil {
			t.Fatal(err)
		}
	}
	// 64 bytes each: a 130-byte limit gives shards {w1,w2}, {w3,w4}.
	files, err := w.WriteSharded(dir, 130)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", IndexName}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	s, err := OpenIndex(filepath.Join(dir, IndexName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !reflect.DeepEqual(s.Names(), []string{"w1", "w2", "w3", "w4"}) {
		t.Fatalf("names %v", s.Names())
	}
	if info, ok := s.Info("w3"); !ok || info.Begin != 0 {
		t.Fatalf("w3 should open the second shard: %+v", info)
	}
	if v, _, err := s.Float32("w4"); err != nil || len(v) != 16 {
		t.Fatalf("w4: %v", err)
	}
	var idx Index
	raw, _ := os.ReadFile(filepath.Join(dir, IndexName))
	if err := json.Unmarshal(raw, &idx); err != nil || idx.Metadata["total_size"] != float64(256) {
		t.Fatalf("index %s: %v", raw, err)
	}

	single := t.TempDir()
	if files, err := w.WriteSharded(single, 1<<20); err != nil || !reflect.DeepEqual(files, []string{SingleName}) {
		t.Fatalf("under the limit: %v %v", files, err)
	}
}

func TestOpenIndexRejects(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter()
	if err := w.AddFloat32("a", []int{1}, []float32{1}, F32); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(filepath.Join(dir, "s.safetensors")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ index, want string }{
		{`{"weight_map": {"a": "../s.safetensors"}}`, "plain file name"},
		{`{"weight_map": {"a": "s.safetensors", "b": "s.safetensors"}}`, `does not hold it`},
		{`{"weight_map": {}}`, "missing or empty"},
		{`{"weight_map": {"a": "absent.safetensors"}}`, "absent.safetensors"},
		{`{"weight_map": `, "unexpected end"},
	} {
		p := filepath.Join(dir, IndexName)
		if err := os.WriteFile(p, []byte(c.index), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := OpenIndex(p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.index, err, c.want)
		}
	}
}

// build assembles a file from a header string and a data buffer.
func build(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestParseRejects(t *testing.T) {
	eight := make([]byte, 8)
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, MaxHeaderSize+1)
	beyond := make([]byte, 16)
	binary.LittleEndian.PutUint64(beyond, 100)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "too short"},
		{"huge header", huge, "exceeds"},
		{"header beyond file", beyond, "runs past the end"},
		{"not an object", build(`["x"]`, nil), "does not start with '{'"},
		{"leading space", build(` {}`, nil), "does not start with '{'"},
		{"empty header", eight, "does not start with '{'"},
		{"unknown dtype", build(`{"a":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}`, eight[:4]), `unknown dtype "F17"`},
		{"size mismatch", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, eight[:4]), "needs 8"},
		{"out of range", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight[:4]), "outside"},
		{"negative offset", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}`, eight[:1]), "outside"},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, eight), "overlap"},
		{"gap", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "gap"},
		{"trailing data", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, eight), "cover 4 bytes"},
		{"missing field", build(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, eight[:4]), "needs dtype, shape"},
		{"negative dim", build(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, eight[:4]), "negative dimension"},
		{"overflow", build(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, eight[:4]), "overflows"},
		{"duplicate", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, eight[:1]), "twice"},
		{"bad metadata", build(`{"__metadata__":{"k":1}}`, nil), "__metadata__"},
		{"junk after object", build(`{} x`, nil), "unexpected bytes"},
		{"three offsets", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, eight[:1]), "3 entries"},
	}
	for _, c := range cases {
		_, err := Parse(bytes.NewReader(c.file), int64(len(c.file)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	// Accepted: padding of any kind after the object, and no tensors at all.
	for _, h := range []string{"{}", "{}      ", `{"__metadata__":{"a":"b"}}` + "\n\n"} {
		b := build(h, nil)
		if _, err := Parse(bytes.NewReader(b), int64(len(b))); err != nil {
			t.Errorf("%q: %v", h, err)
		}
	}
}

func TestOpenNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(path, build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("error should name file and tensor: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.safetensors")
	w := NewWriter()
	w.SetMetadata("k", "v")
	w.AddFloat32("a", []int{2}, []float32{1, 2}, F16)
	w.AddFloat32("b", []int{1, 1}, []float32{3}, F32)
	w.AddFloat64("c", []int{1}, []float64{4})
	w.AddUint8("d", []int{3}, []uint8{1, 2, 3})
	if err := w.WriteFile(p); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(p)
	f.Add(seed)
	buf.Write(build(`{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, []byte{1, 2, 3, 4}))
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, n := range file.Names() {
			info, ok := file.Info(n)
			if !ok || info.End-info.Begin != int64(info.NumElements()*info.DType.Size()) {
				t.Fatalf("%s: inconsistent info %+v", n, info)
			}
			var got int
			switch info.DType {
			case F32, F16, BF16:
				v, _, err := file.Float32(n)
				if err != nil {
					t.Fatal(err)
				}
				got = len(v)
			case F64:
				v, _, err := file.Float64(n)
				if err != nil {
					t.Fatal(err)
				}
				got = len(v)
			case U8, BOOL:
				v, _, err := file.Uint8(n)
				if err != nil {
					t.Fatal(err)
				}
				got = len(v)
			default:
				continue
			}
			if got != info.NumElements() {
				t.Fatalf("%s: read %d elements, want %d", n, got, info.NumElements())
			}
		}
	})
}

// TestParseHostile gives headers declaring far more than the file holds:
// each is refused with an error naming the file and tensor, having
// allocated no more than the small file itself.
func TestParseHostile(t *testing.T) {
	four := make([]byte, 4)
	hugeLen := binary.LittleEndian.AppendUint64(nil, 1<<62)
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"huge header length", append(hugeLen, '{', '}'), "header length 4611686018427387904 exceeds"},
		{"huge shape", build(`{"a":{"dtype":"F32","shape":[1000000000,1000000000],"data_offsets":[0,4]}}`, four), `tensor "a": data_offsets span 4 bytes`},
		{"huge offsets", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[9223372036854775800,9223372036854775804]}}`, four), `tensor "a": data_offsets`},
		{"many dimensions", build(`{"a":{"dtype":"U8","shape":[`+strings.Repeat("1,", 100000)+`4],"data_offsets":[0,4]}}`, four), `tensor "a": shape has 100001 entries, more than 64`},
		{"trailing bytes", build(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, four), `2 bytes follow tensor "a"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := parse(bytes.NewReader(c.file), int64(len(c.file)), "hostile.safetensors")
			runtime.ReadMemStats(&after)
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "hostile.safetensors")) {
				t.Errorf("got %v, want %q naming the file", err, c.want)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 8*uint64(len(c.file))+1<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", d, len(c.file))
			}
		})
	}
}

// TestWriteFiles checks the writer's files: the usual mode less the umask,
// no temporary left, and a cancelled write that leaves nothing.
func TestWriteFiles(t *testing.T) {
	w := NewWriter()
	if err := w.AddFloat32("a", []int{2}, []float32{1, 2}, F32); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := w.WriteSharded(dir, 1<<20); err != nil {
		t.Fatal(err)
	}
	umask := syscall.Umask(0o022)
	syscall.Umask(umask)
	st, err := os.Stat(filepath.Join(dir, SingleName))
	if err != nil || st.Mode() != os.FileMode(0o666&^umask) {
		t.Errorf("mode %v (%v), want %v", st.Mode(), err, os.FileMode(0o666&^umask))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	other := t.TempDir()
	if _, err := w.WriteShardedContext(ctx, other, 1<<20); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
	for _, d := range []string{dir, other} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.Name() != SingleName {
				t.Errorf("%s: left %s", d, e.Name())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(other, SingleName)); err == nil {
		t.Error("a cancelled write produced the file")
	}
}

// TestJSONErrorsNoGoNames: a header or index of the wrong JSON kinds is
// described in JSON words, naming the file and key, never a Go type.
func TestJSONErrorsNoGoNames(t *testing.T) {
	dir := t.TempDir()
	eight := make([]byte, 8)
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"metadata value", build(`{"__metadata__":{"a":1}}`, nil), "__metadata__ must map strings to strings: expected a string, got number"},
		{"metadata array", build(`{"__metadata__":[1]}`, nil), "expected an object, got array"},
		{"shape string", build(`{"a":{"dtype":"F32","shape":["64",64],"data_offsets":[0,4]}}`, eight[:4]), "shape: expected an integer, got string"},
		{"dtype number", build(`{"a":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}`, eight[:4]), `tensor "a": key dtype: expected a string, got number`},
		{"entry array", build(`{"a":[]}`, nil), `tensor "a": expected an object, got array`},
		{"syntax", build(`{"a" 1}`, nil), "invalid JSON at byte"},
	} {
		p := filepath.Join(dir, "x.safetensors")
		if err := os.WriteFile(p, c.file, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(p)
		checkNoGoNames(t, c.name, err, p, c.want)
	}
	for _, c := range []struct{ index, want string }{
		{`{"weight_map": {"a": 1}}`, "key weight_map: expected a string, got number"},
		{`[]`, "expected an object, got array"},
		{`{"weight_map": []}`, "key weight_map: expected an object, got array"},
	} {
		p := filepath.Join(dir, IndexName)
		if err := os.WriteFile(p, []byte(c.index), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := OpenIndex(p)
		checkNoGoNames(t, c.index, err, p, c.want)
	}
}

func checkNoGoNames(t *testing.T, name string, err error, path, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted", name)
		return
	}
	msg := err.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, want) {
		t.Errorf("%s: got %q, want %s and %q", name, msg, path, want)
	}
	rest := strings.ReplaceAll(msg, path, "")
	for _, bad := range []string{"Go ", "struct", "int64", "map[", "[]", "safetensors.", "rawEntry", "Index"} {
		if strings.Contains(rest, bad) {
			t.Errorf("%s: %q mentions %q", name, msg, bad)
		}
	}
}
