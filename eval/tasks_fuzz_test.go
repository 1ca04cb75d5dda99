package eval

import (
	"bytes"
	"compress/gzip"
	"os"
	"strings"
	"testing"
)

// checkParsed holds what every parse must give: a one-line error, or
// documents that validate.
func checkParsed(t *testing.T, spec *taskSpec, task *Task, err error) {
	t.Helper()
	if err != nil {
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error spans lines: %q", err)
		}
		return
	}
	if len(task.Docs) == 0 {
		t.Fatal("no error and no documents")
	}
	for i := range task.Docs {
		if err := task.Docs[i].validate(spec.accNorm); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
	}
}

func fuzzSpec(name string) *taskSpec {
	spec, err := lookupTask(name)
	if err != nil {
		panic(err)
	}
	return spec
}

func FuzzParseJSONL(f *testing.F) {
	seeds := map[string]string{
		"boolq":      `{"question": "q", "title": "T", "passage": "p", "answer": false}` + "\n" + `{"question": "q", "passage": "p", "label": 1}`,
		"rte":        `{"sentence1": "a", "sentence2": "b", "label": "not_entailment"}`,
		"hellaswag":  `{"activity_label": "A", "ctx_a": "x [title] y.", "ctx_b": "he", "endings": ["a", "b", "c", "d"], "label": "3"}`,
		"winogrande": `{"centerpiece": "a _ b", "options": ["x", "y"], "correct_options_literal": ["y"], "correct_options_idx": [1]}` + "\n" + `{"sentence": "a _ b", "option1": "x", "option2": "y", "answer": "2"}`,
		"arc_easy":   `{"question": {"stem": "Q", "choices": [{"text": "a", "label": "1"}, {"text": "b", "label": "2"}]}, "answerKey": "2"}`,
		"openbookqa": `{"question_stem": "Q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "B"}`,
		"piqa":       `{"goal": "g", "sol1": "a ", "sol2": "b", "label": 0}` + "\n\n",
	}
	for name, s := range seeds {
		f.Add(name, []byte(s))
	}
	f.Add("arc_challenge", []byte(`{"centerpiece": "Q", "options": ["a"], "correct_options_idx": [3]}`))
	f.Add("piqa", []byte(`{"goal": "g", "sol1": "a", "sol2": "b"}`))
	f.Add("boolq", []byte("null\n[1]\n{"))
	f.Fuzz(func(t *testing.T, name string, content []byte) {
		spec, err := lookupTask(name)
		if err != nil {
			spec = fuzzSpec("boolq")
		}
		task, err := parseTask(spec, "fuzz.jsonl", content, LoadOptions{})
		checkParsed(t, spec, task, err)
	})
}

func FuzzParseTSV(f *testing.F) {
	f.Add([]byte("sentence1\tsentence2\tlabel\tidx\n\"A \"\"q\"\" b\"\tB\t1\t0\n"))
	f.Add([]byte("index\tsentence1\tsentence2\tlabel\r\n0\t\"A\" b\tB\tentailment\r\n"))
	f.Add([]byte("sentence1\tsentence2\tlabel\n\"open\tB\t0\n"))
	f.Add([]byte("label\n0\n"))
	spec := fuzzSpec("rte")
	f.Fuzz(func(t *testing.T, content []byte) {
		task, err := parseTask(spec, "fuzz.tsv", content, LoadOptions{})
		checkParsed(t, spec, task, err)
	})
}

func FuzzParseSixLine(f *testing.F) {
	f.Add([]byte("Roof: A man is on a roof. he\n3\nis a.\nis b.\nis [step] c.\nd\n"), false)
	f.Add([]byte("Act: x [title] y. the z\n0\na\nb\nc\nd\nctx\n9\na\nb\nc\nd\n"), true)
	f.Add([]byte("ctx\n1\na\n"), false)
	f.Add([]byte("ctx\n1\na\n\nc\nd\n"), false)
	spec := fuzzSpec("hellaswag")
	f.Fuzz(func(t *testing.T, content []byte, asIs bool) {
		opts := LoadOptions{}
		if asIs {
			opts.HellaSwagCtx = HellaSwagAsIs
		}
		task, err := parseTask(spec, "fuzz.txt", content, opts)
		checkParsed(t, spec, task, err)
	})
}

// FuzzLoadTask covers loading a task file's bytes as read: decompression
// (gzip, bzip2, bombs within data.MaxTaskBytes), layout detection and
// parsing, for every task.
func FuzzLoadTask(f *testing.F) {
	bomb, err := os.ReadFile("testdata/zeros-300MiB.bz2")
	if err != nil {
		f.Fatal(err)
	}
	boolq := []byte(`{"question": "q", "passage": "p", "answer": false}` + "\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(boolq)
	zw.Close()
	f.Add(uint8(0), boolq)
	f.Add(uint8(0), gz.Bytes())
	f.Add(uint8(2), bomb)
	f.Add(uint8(2), bomb[:40])
	f.Add(uint8(1), []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"))
	f.Add(uint8(2), []byte("BZh91AY&SY"))
	names := TaskNames()
	f.Fuzz(func(t *testing.T, task uint8, raw []byte) {
		spec := fuzzSpec(names[int(task)%len(names)])
		got, err := decodeTask(spec, "fuzz.bin", raw, LoadOptions{PIQALabels: "/nonexistent/labels.lst"})
		if err != nil && !strings.Contains(err.Error(), "fuzz.bin") {
			t.Fatalf("error %q does not name the file", err)
		}
		checkParsed(t, spec, got, err)
	})
}
