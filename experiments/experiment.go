package experiments

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
)

// MaxConfigBytes caps the size of a config file: far above any real
// experiment, low enough that a mistaken argument (a model file, a device)
// is refused at once.
const MaxConfigBytes = 1 << 20

// MaxRuns caps the runs one config expands into, checked before any run is
// built: a grid is a product and grows fast.
const MaxRuns = 10000

// Experiment is a parsed, validated config expanded into runs.
type Experiment struct {
	// Name is the config's name; every run records it (RunSpec.Config).
	Name string
	// Title captions tables and plots: the config's title, or Name.
	Title string
	// Path is the config file (the name given to Parse).
	Path string
	// Output is the results file as written in the config: a relative path
	// is relative to the working directory, like any path on the command
	// line, not to the config's directory.
	Output string

	// The settings as given, for tables and plots.

	// Models in config order.
	Models []string
	// Calib is the calibration of every pruned run, defaults filled in;
	// its Seed is Seeds[0].
	Calib data.CalibSpec
	// Seeds in config order; at least one.
	Seeds []uint64
	// ChunkSeqs is calibration.chunk (RunSpec.ChunkSeqs).
	ChunkSeqs int
	// Methods are the items of methods, in config order, with the options
	// written there (no defaults, no grid values).
	Methods []runners.MethodSpec
	// Grid lists the grid axes sorted by key; the options they set vary
	// between runs of one method and belong in row labels.
	Grid []GridAxis
	// Sparsities in config order.
	Sparsities []prune.Pattern
	// Eval is the evaluation of every run, defaults filled in.
	Eval runners.EvalSpec

	// Runs are the runs in execution order: for each model, its dense run,
	// then for each item of methods, each grid combination, each sparsity
	// and each seed, one pruned run.
	Runs []runners.RunSpec
}

// GridAxis is one key of the grid: the values one option of one method
// takes, in config order (float64, int, string or bool, as the option's
// runners.Kind).
type GridAxis struct {
	Method, Option string
	Values         []any
}

// Key is the axis as written in the config: "admm-grad.rho".
func (a GridAxis) Key() string { return a.Method + "." + a.Option }

// Load reads the config file at path (at most MaxConfigBytes) and parses
// it; errors name path.
func Load(path string) (*Experiment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fileError(path, err)
	}
	if st.IsDir() {
		return nil, &Error{File: path, Msg: "is a directory, want a YAML experiment config"}
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fileError(path, err)
	}
	return Parse(path, src)
}

func fileError(path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return &Error{File: path, Msg: fmt.Sprintf("cannot %s: %v", pe.Op, pe.Err), Err: err}
	}
	return &Error{File: path, Msg: err.Error(), Err: err}
}

// Parse parses and validates the config src, then expands it into runs.
// name is the file name that errors begin with, and the Experiment's Path.
// Every error is an *Error; the first problem found is reported.
func Parse(name string, src []byte) (exp *Experiment, err error) {
	if len(src) > MaxConfigBytes {
		return nil, &Error{File: name, Msg: fmt.Sprintf("larger than %d KiB, the limit for an experiment config", MaxConfigBytes>>10)}
	}
	p := &parser{file: name}
	root, err := p.document(src)
	if err != nil {
		return nil, err
	}
	if err := p.checkRefs(root, ""); err != nil {
		return nil, err
	}
	cfg, err := p.config(root)
	if err != nil {
		return nil, err
	}
	exp, err = p.expand(root, cfg)
	if err != nil {
		return nil, err
	}
	exp.Path = name
	return exp, nil
}

// document decodes src into the root node of its one document.
func (p *parser) document(src []byte) (root *yaml.Node, err error) {
	// The decoder is a port of libyaml; should it panic on some input,
	// the config is still only refused.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &Error{File: p.file, Msg: fmt.Sprintf("YAML decoder failed: %v", r)}
		}
	}()
	empty := &Error{File: p.file, Msg: "empty config: want a mapping with the keys name, models, methods, sparsities, evaluate and output"}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, empty
		}
		return nil, syntaxError(p.file, src, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		return nil, syntaxError(p.file, src, err)
	default:
		return nil, p.errorf(&next, "", "a second YAML document: a config is one document (remove the '---' line)")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, empty
	}
	root = doc.Content[0]
	if isNull(root) {
		return nil, empty
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errorf(root, "", "want a mapping with the keys name, models, methods, sparsities, evaluate and output, got %s", describe(root))
	}
	return root, nil
}
