package results

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Record is one finished run: one JSON line of a results file. It holds
// everything needed to read it alone (every resolved option, defaults
// included) and to check where its numbers came from (file checksums,
// code version, machine). A dense record (Method.Name == MethodDense) has no
// pattern, calibration or layers.
type Record struct {
	ID     string   `json:"id"`
	Config string   `json:"config,omitempty"` // experiment name; empty for a CLI verb
	Model  ModelRef `json:"model"`
	Method Method   `json:"method"`
	// Pattern is the target as prune.Pattern prints it ("0.5", "2:4");
	// empty for the dense model.
	Pattern     string       `json:"pattern,omitempty"`
	Achieved    *float64     `json:"achieved_sparsity,omitempty"`
	Calibration *Calibration `json:"calibration,omitempty"`
	// Metrics are the headline numbers by metric name (MetricPPL and
	// friends): what tables, compare and plots read.
	Metrics map[string]float64 `json:"metrics"`
	// Evaluations are the details behind Metrics.
	PPL      []PPL                `json:"ppl,omitempty"`
	ZeroShot map[string]TaskScore `json:"zeroshot,omitempty"`
	KLD      *KLD                 `json:"kld,omitempty"`
	Layers   *Layers              `json:"layers,omitempty"`
	Seconds  Seconds              `json:"seconds"`
	// Out is where the pruned model was saved, if it was.
	Out        string     `json:"out,omitempty"`
	Provenance Provenance `json:"provenance"`
}

// MethodDense names the unpruned model's records.
const MethodDense = "dense"

// File is a file a record depends on.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ModelRef names the model and the files it was loaded from.
type ModelRef struct {
	Name  string `json:"name"` // as the config or --model gave it
	Files []File `json:"files"`
}

// Method is a method name with every option it ran with. In JSON the
// options sit beside the name: {"name": "admm-grad", "rho": 1, ...}, in
// the order of Keys.
type Method struct {
	Name string
	// Options maps option names to float64, int, string or bool values
	// (after a JSON round trip every number is a float64).
	Options map[string]any
	// Keys orders Options for printing; options not in Keys follow in
	// sorted order.
	Keys []string
}

// Calibration says which windows the method saw.
type Calibration struct {
	Source   string `json:"source"` // as given: a corpus name, a path, or C4 shards
	Mode     string `json:"mode"`
	NSamples int    `json:"nsamples"`
	SeqLen   int    `json:"seqlen"`
	Seed     uint64 `json:"seed"`
	Tokens   int    `json:"tokens"`
	Files    []File `json:"files"`
}

// PPL is one perplexity evaluation.
type PPL struct {
	Metric     string  `json:"metric"` // its name in Metrics
	Dataset    string  `json:"dataset"`
	Protocol   string  `json:"protocol"`
	SeqLen     int     `json:"seqlen"`
	MaxWindows int     `json:"max_windows"` // 0 = all
	Windows    int     `json:"windows"`
	Scored     int     `json:"scored"`
	PPL        float64 `json:"ppl"`
	Stderr     float64 `json:"ppl_stderr,omitempty"`
	File       File    `json:"file"`
}

// TaskScore is one zero-shot task's accuracy.
type TaskScore struct {
	Docs          int      `json:"docs"`
	Limit         int      `json:"limit,omitempty"`
	Acc           float64  `json:"acc"`
	AccStderr     *float64 `json:"acc_stderr,omitempty"`
	AccNorm       *float64 `json:"acc_norm,omitempty"`
	AccNormStderr *float64 `json:"acc_norm_stderr,omitempty"`
	Files         []File   `json:"files"`
}

// KLD compares the pruned model's next-token distributions with the dense
// model's on the same windows (llama.cpp's --kl-divergence).
type KLD struct {
	Dataset    string  `json:"dataset"`
	SeqLen     int     `json:"seqlen"`
	MaxWindows int     `json:"max_windows"`
	Windows    int     `json:"windows"`
	Tokens     int     `json:"tokens"`   // scored positions
	Mean       float64 `json:"mean"`     // mean KL(dense ‖ pruned) per token, nats
	Stderr     float64 `json:"stderr"`   // of Mean
	SameTop    float64 `json:"same_top"` // fraction of positions with the same argmax
	PPLRatio   float64 `json:"ppl_ratio"`
	File       File    `json:"file"`
}

// Layers summarises the per-linear reconstruction errors.
type Layers struct {
	Linears      int     `json:"linears"`
	MeanRelError float64 `json:"mean_rel_error"`
	MaxRelError  float64 `json:"max_rel_error"`
}

// Seconds are wall times of the run's phases.
type Seconds struct {
	Load        float64 `json:"load,omitempty"`
	Calibration float64 `json:"calibration,omitempty"`
	Prune       float64 `json:"prune,omitempty"`
	Eval        float64 `json:"eval"`
	Total       float64 `json:"total"`
}

// Provenance is the code and machine a record was produced with.
type Provenance struct {
	Version  string `json:"prunebench"`    // module version from the build info
	Revision string `json:"vcs,omitempty"` // VCS revision, "+dirty" when modified
	Go       string `json:"go"`            // toolchain
	OS       string `json:"os"`            // GOOS/GOARCH
	CPU      string `json:"cpu"`           // model name and logical CPUs
	BLAS     string `json:"blas"`          // linalg backend
	Time     string `json:"time"`          // RFC 3339, when the record was made
	Host     string `json:"host,omitempty"`
}

// Metric names. A perplexity metric is "<dataset>_ppl", with "_llamacpp"
// for that protocol and "_<seqlen>" when one config scores a dataset at
// several lengths; zero-shot ones are "<task>_acc" and "<task>_acc_norm".
const (
	// MetricMeanAccPaper7 is the mean acc over the seven paper tasks; it is
	// set only when all seven were evaluated.
	MetricMeanAccPaper7 = "mean_acc_paper7"
	MetricKLD           = "kld"
	MetricSameTop       = "same_top"
	MetricPPLRatio      = "ppl_ratio"
)

// HigherIsBetter tells the direction of a metric for compare: accuracies
// and same-top agreement improve upwards, perplexities, KLD and the ppl
// ratio downwards.
func HigherIsBetter(metric string) bool {
	return strings.HasSuffix(metric, "_acc") || strings.HasSuffix(metric, "_acc_norm") ||
		metric == MetricMeanAccPaper7 || metric == MetricSameTop
}

// MarshalJSON writes the name first, then the options in Keys order.
func (m Method) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	name, err := json.Marshal(m.Name)
	if err != nil {
		return nil, err
	}
	b.WriteString(`{"name":`)
	b.Write(name)
	for _, k := range m.orderedKeys() {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(m.Options[k])
		if err != nil {
			return nil, fmt.Errorf("method %s option %s: %w", m.Name, k, err)
		}
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// UnmarshalJSON reads {"name": …, options…}; Keys keep the file's order.
func (m *Method) UnmarshalJSON(p []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(p)))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("method: want an object, got %v", tok)
	}
	*m = Method{Options: map[string]any{}}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		k := kt.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("method option %q: %w", k, err)
		}
		if k == "name" {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("method name: want a string, got %v", v)
			}
			m.Name = s
			continue
		}
		switch v.(type) {
		case float64, string, bool:
		default:
			return fmt.Errorf("method option %q: want a number, string or boolean, got %v", k, v)
		}
		if _, dup := m.Options[k]; dup {
			return fmt.Errorf("method option %q given twice", k)
		}
		m.Options[k] = v
		m.Keys = append(m.Keys, k)
	}
	if m.Name == "" {
		return fmt.Errorf("method: no name")
	}
	return nil
}

// orderedKeys lists the options: Keys first, then the rest sorted.
func (m Method) orderedKeys() []string {
	keys := make([]string, 0, len(m.Options))
	seen := make(map[string]bool, len(m.Options))
	for _, k := range m.Keys {
		if _, ok := m.Options[k]; ok && !seen[k] {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range m.Options {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}
