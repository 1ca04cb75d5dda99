package eval

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/prunebench/prunebench/internal/datatest"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/tokenizer"
)

// TestStories260K runs the real forward pass and tokenizer: padding a
// document's requests into one Forward must match scoring them one by one,
// and long BoolQ passages must be left-truncated to L = 512, not rejected.
// The forward pass is float32 and BLAS blocks differently for different
// batch shapes, so the tolerance is relative: 1e-5 of |ll|, at least 1e-5.
func TestStories260K(t *testing.T) {
	m, err := model.Load(datatest.Path(t, "models/stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadLlama2C(datatest.Path(t, "models/stories260K/tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	dir := datatest.Dir(t)
	for _, c := range []struct {
		task  string
		limit int
	}{{"hellaswag", 8}, {"boolq", 2}} {
		task, err := LoadTask(c.task, dir, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var runs [2][]sample
		var res [2]TaskResult
		for i, mb := range []int{0, 1} {
			var buf bytes.Buffer
			res[i], err = Evaluate(context.Background(), m, tok, m.Config.SeqLen, task,
				ZeroShotOptions{Limit: c.limit, MaxBatch: mb, Samples: &buf})
			if err != nil {
				t.Fatal(err)
			}
			runs[i] = samplesOf(t, buf.Bytes())
		}
		worst := 0.0 // relative difference
		for d := range runs[0] {
			for k, a := range runs[0][d].LL {
				worst = math.Max(worst, math.Abs(a-runs[1][d].LL[k])/math.Max(1, math.Abs(a)))
			}
		}
		if worst > 1e-5 {
			t.Errorf("%s: batched and one-at-a-time ll differ by %g relative", c.task, worst)
		}
		if c.task == "boolq" && res[0].Truncated == 0 {
			t.Errorf("boolq: no request truncated at L = %d; the test does not exercise truncation", m.Config.SeqLen)
		}
		t.Logf("%s: %d docs, %d requests, %d truncated, acc %.3f, max relative Δll %.2g",
			c.task, res[0].Docs, res[0].Requests, res[0].Truncated, res[0].Acc, worst)
	}
}
