package eval

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/prunebench/prunebench/data"
)

// Doc is one document of a task: request k is (Contexts[k],
// Continuations[k]), and Choices[k] is the answer it stands for, without the
// leading space the prompt adds; acc_norm divides by its length.
type Doc struct {
	Line          int // where the document starts in its file, from 1
	Contexts      []string
	Continuations []string
	Choices       []string
	Gold          int
}

// Task is a loaded zero-shot task.
type Task struct {
	Name   string
	Path   string // the file read, absolute
	Format string // the layout detected in it
	// Files are the files the documents come from: the task file (as
	// stored, before decompression), then PIQA's labels file when read.
	Files []data.FileRef
	// Settings are choices that change the prompts, recorded with results
	// (hellaswag.ctx).
	Settings map[string]string
	// AccNorm tells whether the task reports acc_norm (BoolQ, RTE and
	// WinoGrande do not).
	AccNorm bool
	Docs    []Doc
	// tieToLast makes a tie pick the last choice: BoolQ predicts "yes" only
	// when ll_yes > ll_no.
	tieToLast bool
}

// LoadOptions select the file and the text choices of LoadTask.
type LoadOptions struct {
	// Path is the task file, a path relative to the working directory
	// (never to the data directory); empty means the task's default file in
	// the data directory (DefaultPath).
	Path string
	// HellaSwagCtx is HellaSwagCapitalizeTail (the default) or HellaSwagAsIs.
	// It applies to the six-line file only, whose contexts lost lm-eval's
	// capitalisation of ctx_b; JSON Lines with ctx_a/ctx_b are exact. The
	// default restores that capital where ctx_b can be recognised (3,236 of
	// 10,042 items), which is closer to the papers' prompts than the file.
	HellaSwagCtx string
	// PIQALabels is the labels file for PIQA JSON Lines without a "label"
	// field; empty means "<file name without .jsonl>-labels.lst" beside it
	// (valid.jsonl → valid-labels.lst).
	PIQALabels string
}

type taskSpec struct {
	name    string
	path    string // relative to the data directory
	accNorm bool
	tieLast bool
	layouts []layout
}

// layout is one file layout a task accepts; the first whose detect matches
// the content parses it.
type layout struct {
	name   string
	detect func(src *source) bool
	parse  func(src *source, opts LoadOptions) ([]Doc, map[string]string, error)
}

var taskSpecs = []taskSpec{
	{name: "boolq", path: "tasks/boolq/dev.jsonl", tieLast: true, layouts: []layout{boolqJSONL}},
	{name: "rte", path: "tasks/rte/dev.tsv", layouts: []layout{rteJSONL, rteTSV}},
	{name: "hellaswag", path: "tasks/hellaswag/hellaswag_val_full.txt.bz2", accNorm: true, layouts: []layout{hellaswagJSONL, hellaswagSixLine}},
	{name: "winogrande", path: "tasks/winogrande/dev.json", layouts: []layout{
		nutcracker(winograndeDoc), winograndeJSONL}},
	{name: "arc_easy", path: "tasks/arc-easy/test.json", accNorm: true, layouts: []layout{
		nutcracker(noErr(arcDoc)), questionJSONL("ai2_arc jsonl", arcDoc)}},
	{name: "arc_challenge", path: "tasks/arc-challenge/test.json", accNorm: true, layouts: []layout{
		nutcracker(noErr(arcDoc)), questionJSONL("ai2_arc jsonl", arcDoc)}},
	{name: "openbookqa", path: "tasks/openbookqa/test.json", accNorm: true, layouts: []layout{
		nutcracker(noErr(openbookqaDoc)), questionJSONL("openbookqa jsonl", openbookqaDoc)}},
	{name: "piqa", path: "tasks/piqa/valid.json", accNorm: true, layouts: []layout{
		nutcracker(noErr(piqaDoc)), piqaJSONL}},
}

// paperTasks is how many of TaskNames the papers average.
const paperTasks = 7

// TaskNames lists the zero-shot tasks: the papers' seven, then PIQA.
func TaskNames() []string {
	names := make([]string, len(taskSpecs))
	for i, s := range taskSpecs {
		names[i] = s.name
	}
	return names
}

// PaperTaskNames lists the seven tasks whose mean acc the papers report.
func PaperTaskNames() []string { return TaskNames()[:paperTasks] }

// ErrUnknownTask is returned (wrapped) for a task name not in TaskNames.
var ErrUnknownTask = errors.New("unknown task")

func lookupTask(name string) (*taskSpec, error) {
	for i := range taskSpecs {
		if taskSpecs[i].name == name {
			return &taskSpecs[i], nil
		}
	}
	return nil, fmt.Errorf("task %q: %w (known: %v)", name, ErrUnknownTask, TaskNames())
}

// DefaultPath is the task's file relative to the data directory.
func DefaultPath(name string) (string, error) {
	spec, err := lookupTask(name)
	if err != nil {
		return "", err
	}
	return spec.path, nil
}

// LoadTask reads the named task from opts.Path, or from its default file in
// the data directory dataDir, and builds its requests. The file may hold at
// most data.MaxTaskBytes, as stored and after decompression (gzip or bzip2,
// detected by the magic bytes), and a registered file is verified before it
// is decompressed or parsed.
func LoadTask(name, dataDir string, opts LoadOptions) (*Task, error) {
	spec, err := lookupTask(name)
	if err != nil {
		return nil, err
	}
	switch opts.HellaSwagCtx {
	case "", HellaSwagCapitalizeTail, HellaSwagAsIs:
	default:
		return nil, fmt.Errorf("task %s: hellaswag ctx mode %q: want %q or %q",
			name, opts.HellaSwagCtx, HellaSwagCapitalizeTail, HellaSwagAsIs)
	}
	var path string
	if opts.Path == "" {
		path, err = data.ResolveName(dataDir, spec.path)
	} else {
		path, err = data.ResolvePath(opts.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", name, err)
	}
	raw, ref, _, err := data.ReadFile(path, data.MaxTaskBytes, taskFiles)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", name, err)
	}
	task, err := decodeTask(spec, path, raw, opts)
	if err != nil {
		return nil, err
	}
	task.Files = append([]data.FileRef{ref}, task.Files...)
	return task, nil
}

// decodeTask decompresses a task file's bytes as read, within
// data.MaxTaskBytes, and parses them.
func decodeTask(spec *taskSpec, path string, raw []byte, opts LoadOptions) (*Task, error) {
	content, err := data.Decompress(path, raw, data.MaxTaskBytes, taskFiles)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", spec.name, err)
	}
	return parseTask(spec, path, content, opts)
}

// taskFiles names the task files' size limit in errors.
const taskFiles = "task files"

// parseTask builds a Task from a file's (unpacked) content; name is the
// file's path, used in errors.
func parseTask(spec *taskSpec, name string, content []byte, opts LoadOptions) (*Task, error) {
	src, err := newSource(name, content)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", spec.name, err)
	}
	if !src.hasContent() {
		return nil, fmt.Errorf("task %s: %s: no documents", spec.name, name)
	}
	if l, n := src.first(); src.isJSON() {
		// Layouts are told apart by the first record's keys, so a garbled
		// first record is reported as such, not as an unknown layout.
		if _, err := decodeRecord(l); err != nil {
			return nil, fmt.Errorf("task %s: %s:%d: %w", spec.name, name, n, err)
		}
	}
	for _, l := range spec.layouts {
		if !l.detect(src) {
			continue
		}
		docs, settings, err := l.parse(src, opts)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", spec.name, err)
		}
		if len(docs) == 0 {
			return nil, fmt.Errorf("task %s: %s: no documents", spec.name, name)
		}
		for i := range docs {
			if err := docs[i].validate(spec.accNorm); err != nil {
				return nil, fmt.Errorf("task %s: %s:%d: %w", spec.name, name, docs[i].Line, err)
			}
		}
		return &Task{Name: spec.name, Path: name, Format: l.name, Files: src.deps, Settings: settings,
			AccNorm: spec.accNorm, Docs: docs, tieToLast: spec.tieLast}, nil
	}
	var names []string
	for _, l := range spec.layouts {
		names = append(names, l.name)
	}
	return nil, fmt.Errorf("task %s: %s: layout not recognised (want one of %q)", spec.name, name, names)
}

func (d *Doc) validate(accNorm bool) error {
	n := len(d.Choices)
	switch {
	case n < 2:
		return fmt.Errorf("document has %d choices, want at least 2", n)
	case len(d.Contexts) != n || len(d.Continuations) != n:
		return fmt.Errorf("document has %d choices but %d contexts and %d continuations",
			n, len(d.Contexts), len(d.Continuations))
	case d.Gold < 0 || d.Gold >= n:
		return fmt.Errorf("gold index %d out of range for %d choices", d.Gold, n)
	}
	if accNorm {
		for k, c := range d.Choices {
			if utf8.RuneCountInString(c) == 0 {
				return fmt.Errorf("choice %d is empty; acc_norm divides by its length", k)
			}
		}
	}
	return nil
}
