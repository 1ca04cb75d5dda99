package goldentest

import (
	"math"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/safetensors"
)

// Files are the golden cases.
var Files = []string{
	"stories260K_L0_q_proj.safetensors",
	"stories260K_L2_o_proj.safetensors",
	"stories260K_L4_down_proj.safetensors",
	"synthetic_96x48.safetensors",
}

// ChunkRows is the references' add_batch size: one sequence per chunk.
const ChunkRows = 512

// Case is one golden file.
type Case struct {
	File *safetensors.File
	W    model.Linear // the dense weight
	St   *prune.Stats // from X, in ChunkRows-row sequences
}

// Load opens a golden file (failing or skipping the test as
// datatest.Golden does when it is missing) and builds its statistics.
func Load(t *testing.T, name string) *Case {
	t.Helper()
	f, err := safetensors.Open(datatest.Golden(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w, wShape, err := f.Float32("W")
	if err != nil {
		t.Fatal(err)
	}
	x, xShape, err := f.Float32("X")
	if err != nil {
		t.Fatal(err)
	}
	if len(wShape) != 2 || len(xShape) != 2 || xShape[1] != wShape[1] || xShape[0]%ChunkRows != 0 {
		t.Fatalf("%s: W %v and X %v do not fit together", name, wShape, xShape)
	}
	out, in := wShape[0], wShape[1]
	st := prune.NewStats(in)
	for lo := 0; lo < xShape[0]; lo += ChunkRows {
		if err := st.Add(x[lo*in:(lo+ChunkRows)*in], ChunkRows, 1); err != nil {
			t.Fatal(err)
		}
	}
	return &Case{File: f, W: model.Linear{Out: out, In: in, W: w}, St: st}
}

// F32 reads a float32 tensor.
func (c *Case) F32(t *testing.T, name string) []float32 {
	t.Helper()
	v, _, err := c.File.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Mask reads a U8 mask tensor (1 = pruned).
func (c *Case) Mask(t *testing.T, name string) prune.Mask {
	t.Helper()
	v, _, err := c.File.Uint8(name)
	if err != nil {
		t.Fatal(err)
	}
	m := make(prune.Mask, len(v))
	for i, b := range v {
		m[i] = b != 0
	}
	return m
}

// Err reads the reference reconstruction error err_<tag>.
func (c *Case) Err(t *testing.T, tag string) float64 {
	t.Helper()
	v, _, err := c.File.Float64("err_" + tag)
	if err != nil || len(v) != 1 {
		t.Fatalf("err_%s: %v (%d values)", tag, err, len(v))
	}
	return v[0]
}

// Clone copies the dense weight for a method to prune.
func (c *Case) Clone() *model.Linear {
	return &model.Linear{Out: c.W.Out, In: c.W.In, W: append([]float32(nil), c.W.W...)}
}

// MaxAbs is max |v|, the scale of the README's weight tolerance.
func MaxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}
