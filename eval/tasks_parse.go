package eval

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prunebench/prunebench/data"
)

// source is a task file's content, read line by line, with the path used
// in errors.
type source struct {
	name string
	raw  []byte
	// text is raw as a string, which lines are cut from without copying.
	// The lines are never kept as one []string: the header of each costs 16
	// bytes, so a file of 128 MiB of newlines would take 2 GiB.
	text   string
	nlines int
	// firstLine is the first non-blank line, numbered firstN from 1 (0
	// when there is none): every layout's detection looks at it, and
	// finding it can mean skipping 128 MiB of line ends.
	firstLine string
	firstN    int
	// deps are further files a layout read (PIQA's labels).
	deps []data.FileRef
}

// newSource counts raw's lines and finds the first non-blank one, refusing
// a line longer than data.MaxLineBytes.
func newSource(name string, raw []byte) (*source, error) {
	s := &source{name: name, raw: raw, text: string(raw)}
	for n, l := range s.lines() {
		if len(l) > data.MaxLineBytes {
			return nil, fmt.Errorf("%s:%d: line of %d bytes, longer than %d MiB, the limit for one line",
				name, n, len(l), data.MaxLineBytes>>20)
		}
		if s.firstN == 0 && strings.TrimSpace(l) != "" {
			s.firstLine, s.firstN = l, n
		}
		s.nlines = n
	}
	return s, nil
}

// lines yields each line with its number from 1, without its line end
// ("\n" or "\r\n"); a final line end starts no further line.
func (s *source) lines() iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		rest := s.text
		for n := 1; rest != ""; n++ {
			var l string
			l, rest, _ = strings.Cut(rest, "\n")
			if !yield(n, strings.TrimSuffix(l, "\r")) {
				return
			}
		}
	}
}

// first returns the first non-blank line and its number (from 1), or 0.
func (s *source) first() (string, int) { return s.firstLine, s.firstN }

func (s *source) hasContent() bool { _, n := s.first(); return n > 0 }

// isJSON tells JSON Lines from the text layouts by the first line.
func (s *source) isJSON() bool {
	l, _ := s.first()
	return strings.HasPrefix(strings.TrimSpace(l), "{")
}

// firstRecord decodes the first JSON line, for layout detection.
func (s *source) firstRecord() (record, bool) {
	if !s.isJSON() {
		return nil, false
	}
	l, _ := s.first()
	r, err := decodeRecord(l)
	return r, err == nil
}

// eachRecord decodes every non-blank line as a JSON object.
func (s *source) eachRecord(fn func(line int, r record) error) error {
	for n, l := range s.lines() {
		if strings.TrimSpace(l) == "" {
			continue
		}
		r, err := decodeRecord(l)
		if err == nil {
			err = fn(n, r)
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", s.name, n, err)
		}
	}
	return nil
}

// record is one JSON Lines object; its accessors name the field in errors.
type record map[string]json.RawMessage

func decodeRecord(line string) (record, error) {
	var r record
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if r == nil {
		return nil, errors.New("invalid JSON: want an object, got null")
	}
	return r, nil
}

func (r record) has(k string) bool { _, ok := r[k]; return ok }

// get decodes field k into v, which names the expected type in errors.
func (r record) get(k, want string, v any) error {
	raw, ok := r[k]
	if !ok {
		return fmt.Errorf("field %q: missing", k)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("field %q: want %s, got %s", k, want, excerpt(raw))
	}
	return nil
}

func (r record) str(k string) (string, error) {
	var s string
	return s, r.get(k, "a string", &s)
}

// strOf returns the first of keys present, as a string.
func (r record) strOf(keys ...string) (string, error) {
	for _, k := range keys {
		if r.has(k) {
			return r.str(k)
		}
	}
	return "", fmt.Errorf("field %q: missing", strings.Join(keys, `" or "`))
}

func (r record) strs(k string) ([]string, error) {
	var s []string
	return s, r.get(k, "an array of strings", &s)
}

// integer accepts a JSON integer or a string holding one, since HF exports
// write some labels as strings ("3", "1").
func (r record) integer(k string) (int, error) {
	var n int
	if r.get(k, "", &n) == nil {
		return n, nil
	}
	var s string
	if r.get(k, "", &s) == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			return n, nil
		}
	}
	if !r.has(k) {
		return 0, fmt.Errorf("field %q: missing", k)
	}
	return 0, fmt.Errorf("field %q: want an integer, got %s", k, excerpt(r[k]))
}

// boolean accepts true/false and the 1/0 of super_glue's label.
func (r record) boolean(k string) (bool, error) {
	var b bool
	if r.get(k, "", &b) == nil {
		return b, nil
	}
	var n int
	if r.get(k, "", &n) == nil && (n == 0 || n == 1) {
		return n == 1, nil
	}
	if !r.has(k) {
		return false, fmt.Errorf("field %q: missing", k)
	}
	return false, fmt.Errorf("field %q: want true/false or 1/0, got %s", k, excerpt(r[k]))
}

// excerpt shortens a raw value for an error message, keeping it one line.
func excerpt(b []byte) string {
	s := strconv.Quote(string(b))
	if len(s) > 42 {
		s = s[:40] + `…"`
	}
	return s
}

// hasKeys detects a JSON Lines layout by any of keys in the first record.
func hasKeys(keys ...string) func(src *source) bool {
	return func(src *source) bool {
		r, ok := src.firstRecord()
		if !ok {
			return false
		}
		for _, k := range keys {
			if r.has(k) {
				return true
			}
		}
		return false
	}
}

// jsonLayout is a JSON Lines layout recognised by any of keys in the first
// record and parsed one record at a time.
func jsonLayout(name string, keys []string, doc func(line int, r record) (Doc, error)) layout {
	return layout{
		name:   name,
		detect: hasKeys(keys...),
		parse: func(src *source, _ LoadOptions) ([]Doc, map[string]string, error) {
			var docs []Doc
			err := src.eachRecord(func(line int, r record) error {
				d, err := doc(line, r)
				docs = append(docs, d)
				return err
			})
			return docs, nil, err
		},
	}
}

// boolqJSONL reads Google's release ({question, title, passage, answer})
// and super_glue/HF exports ({question, passage, label, idx}). The title is
// joined to the passage as super_glue does, unless the passage already
// starts with it.
var boolqJSONL = jsonLayout("boolq jsonl", []string{"passage"}, func(line int, r record) (Doc, error) {
	q, err := r.str("question")
	if err != nil {
		return Doc{}, err
	}
	p, err := r.str("passage")
	if err != nil {
		return Doc{}, err
	}
	if r.has("title") {
		t, err := r.str("title")
		if err != nil {
			return Doc{}, err
		}
		if !strings.HasPrefix(p, t+" -- ") {
			p = t + " -- " + p
		}
	}
	key := "answer"
	if r.has("label") {
		key = "label"
	}
	ans, err := r.boolean(key)
	if err != nil {
		return Doc{}, err
	}
	return boolqDoc(line, p, q, ans), nil
})

// rteLabel maps GLUE's labels, numeric or named, to 0 = entailment and 1 =
// not_entailment.
func rteLabel(s string) (int, error) {
	switch strings.TrimSpace(s) {
	case "0", "entailment":
		return 0, nil
	case "1", "not_entailment":
		return 1, nil
	}
	return 0, fmt.Errorf("label %s: want 0/entailment or 1/not_entailment", excerpt([]byte(s)))
}

var rteJSONL = jsonLayout("rte jsonl", []string{"sentence1", "premise"}, func(line int, r record) (Doc, error) {
	s1, err := r.strOf("sentence1", "premise")
	if err != nil {
		return Doc{}, err
	}
	s2, err := r.strOf("sentence2", "hypothesis")
	if err != nil {
		return Doc{}, err
	}
	s, err := r.str("label")
	if err != nil {
		n, err := r.integer("label")
		if err != nil {
			return Doc{}, err
		}
		s = strconv.Itoa(n)
	}
	label, err := rteLabel(s)
	if err != nil {
		return Doc{}, err
	}
	return rteDoc(line, s1, s2, label), nil
})

// rteTSV reads GLUE RTE TSV with a header naming sentence1, sentence2 and
// label. Exports such as the shared file use CSV quoting ("" inside quoted
// fields), so they go through encoding/csv rather than a tab split; GLUE's
// own files are unquoted (HF reads them with QUOTE_NONE), which shows as a
// CSV quote error, and are then read with quotes as plain text.
var rteTSV = layout{
	name:   "glue rte tsv",
	detect: func(src *source) bool { return !src.isJSON() },
	parse: func(src *source, _ LoadOptions) ([]Doc, map[string]string, error) {
		quoting := "csv"
		header, rows, err := csvRows(src)
		if errors.Is(err, csv.ErrQuote) || errors.Is(err, csv.ErrBareQuote) {
			quoting = "none"
			header, rows, err = tabRows(src)
		}
		if err != nil {
			return nil, nil, err
		}
		col := map[string]int{}
		for i, h := range header {
			col[strings.TrimSpace(h)] = i
		}
		for _, want := range []string{"sentence1", "sentence2", "label"} {
			if _, ok := col[want]; !ok {
				return nil, nil, fmt.Errorf("%s:1: header %s has no column %q", src.name, excerpt([]byte(strings.Join(header, "\t"))), want)
			}
		}
		docs := make([]Doc, 0, len(rows))
		for _, r := range rows {
			label, err := rteLabel(r.fields[col["label"]])
			if err != nil {
				return nil, nil, fmt.Errorf("%s:%d: %w", src.name, r.line, err)
			}
			docs = append(docs, rteDoc(r.line, r.fields[col["sentence1"]], r.fields[col["sentence2"]], label))
		}
		return docs, map[string]string{"rte.tsv.quoting": quoting}, nil
	},
}

// row is a TSV record and the line it starts on.
type row struct {
	line   int
	fields []string
}

// csvRows reads the header and records with CSV quoting; every record must
// have the header's field count.
func csvRows(src *source) ([]string, []row, error) {
	cr := csv.NewReader(bytes.NewReader(src.raw))
	cr.Comma = '\t'
	var header []string
	var rows []row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return header, rows, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, fmt.Errorf("%s:%d: %w", src.name, pe.Line, pe.Err)
			}
			return nil, nil, fmt.Errorf("%s: %w", src.name, err)
		}
		if header == nil {
			header = rec
			continue
		}
		line, _ := cr.FieldPos(0)
		rows = append(rows, row{line, rec})
	}
}

// tabRows reads the header and records split at tabs, quotes being text.
func tabRows(src *source) ([]string, []row, error) {
	var header []string
	var rows []row
	for n, l := range src.lines() {
		if strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.Split(l, "\t")
		if header == nil {
			header = f
			continue
		}
		if len(f) != len(header) {
			return nil, nil, fmt.Errorf("%s:%d: %d fields, want %d as in the header", src.name, n, len(f), len(header))
		}
		rows = append(rows, row{n, f})
	}
	return header, rows, nil
}

// hellaswagJSONL reads rowanz's hellaswag_val.jsonl or the HF export: the
// exact lm-eval prompt, since ctx_b is still separate.
var hellaswagJSONL = layout{
	name:   "hellaswag jsonl",
	detect: hasKeys("ctx_a"),
	parse: func(src *source, _ LoadOptions) ([]Doc, map[string]string, error) {
		var docs []Doc
		err := src.eachRecord(func(line int, r record) error {
			var f [3]string
			for i, k := range []string{"activity_label", "ctx_a", "ctx_b"} {
				var err error
				if f[i], err = r.str(k); err != nil {
					return err
				}
			}
			endings, err := r.strs("endings")
			if err != nil {
				return err
			}
			gold, err := r.integer("label")
			if err != nil {
				return err
			}
			for i := range endings {
				endings[i] = hellaswagPreprocess(endings[i])
			}
			ctx := hellaswagPreprocess(f[0] + ": " + f[1] + " " + pyCapitalize(f[2]))
			docs = append(docs, mcDoc(line, ctx, endings, gold))
			return nil
		})
		return docs, map[string]string{"hellaswag.ctx": "exact"}, err
	},
}

// hellaswagSixLine reads klosax's six-line items: context, gold, four
// endings. lm-eval's preprocess is applied again to remove the brackets the
// extractor left, and capitalizeTail restores ctx_b's capital unless the
// caller asks for the text as it is.
var hellaswagSixLine = layout{
	name:   "hellaswag six-line text",
	detect: func(src *source) bool { return !src.isJSON() },
	parse: func(src *source, opts LoadOptions) ([]Doc, map[string]string, error) {
		mode := opts.HellaSwagCtx
		if mode == "" {
			mode = HellaSwagCapitalizeTail
		}
		const per = 6
		if rem := src.nlines % per; rem != 0 {
			start := src.nlines - rem + 1
			return nil, nil, fmt.Errorf("%s:%d: incomplete item: %d lines, want %d (context, gold, 4 endings)",
				src.name, start, rem, per)
		}
		var docs []Doc
		var item [per]string
		for n, l := range src.lines() {
			item[(n-1)%per] = l
			if n%per != 0 {
				continue
			}
			start := n - per + 1
			gold, err := strconv.Atoi(strings.TrimSpace(item[1]))
			if err != nil {
				return nil, nil, fmt.Errorf("%s:%d: gold %s: want an integer", src.name, start+1, excerpt([]byte(item[1])))
			}
			ctx := hellaswagPreprocess(item[0])
			if mode == HellaSwagCapitalizeTail {
				ctx = capitalizeTail(ctx)
			}
			endings := make([]string, per-2)
			for k := range endings {
				endings[k] = hellaswagPreprocess(item[2+k])
			}
			docs = append(docs, mcDoc(start, ctx, endings, gold))
		}
		return docs, map[string]string{"hellaswag.ctx": mode}, nil
	},
}

// nutcracker reads brucewlee/nutcracker-db records: centerpiece, options
// and the single gold index; build turns them into the task's prompt.
func nutcracker(build func(line int, centerpiece string, options []string, gold int) (Doc, error)) layout {
	return jsonLayout("nutcracker jsonl", []string{"centerpiece"}, func(line int, r record) (Doc, error) {
		c, err := r.str("centerpiece")
		if err != nil {
			return Doc{}, err
		}
		opts, err := r.strs("options")
		if err != nil {
			return Doc{}, err
		}
		var idx []int
		if err := r.get("correct_options_idx", "an array of integers", &idx); err != nil {
			return Doc{}, err
		}
		if len(idx) != 1 {
			return Doc{}, fmt.Errorf("field \"correct_options_idx\": %d entries, want exactly 1", len(idx))
		}
		if r.has("correct_options_literal") && idx[0] >= 0 && idx[0] < len(opts) {
			lit, err := r.strs("correct_options_literal")
			if err != nil {
				return Doc{}, err
			}
			if len(lit) != 1 || lit[0] != opts[idx[0]] {
				return Doc{}, fmt.Errorf("field \"correct_options_literal\": %s disagrees with options[%d] = %s",
					excerpt([]byte(strings.Join(lit, ", "))), idx[0], excerpt([]byte(opts[idx[0]])))
			}
		}
		return build(line, c, opts, idx[0])
	})
}

func noErr(build func(int, string, []string, int) Doc) func(int, string, []string, int) (Doc, error) {
	return func(line int, c string, o []string, g int) (Doc, error) { return build(line, c, o, g), nil }
}

// winograndeJSONL reads winogrande_xl ({sentence, option1, option2,
// answer: "1"|"2"}).
var winograndeJSONL = jsonLayout("winogrande jsonl", []string{"sentence"}, func(line int, r record) (Doc, error) {
	s, err := r.str("sentence")
	if err != nil {
		return Doc{}, err
	}
	o1, err := r.str("option1")
	if err != nil {
		return Doc{}, err
	}
	o2, err := r.str("option2")
	if err != nil {
		return Doc{}, err
	}
	ans, err := r.integer("answer")
	if err != nil {
		return Doc{}, err
	}
	return winograndeDoc(line, s, []string{o1, o2}, ans-1)
})

// questionJSONL reads ai2_arc and openbookqa in their original nesting
// ({question: {stem, choices: [{text, label}]}, answerKey}) and in HF's flat
// form ({question | question_stem, choices: {text, label}, answerKey}).
func questionJSONL(name string, build func(line int, stem string, choices []string, gold int) Doc) layout {
	return jsonLayout(name, []string{"question", "question_stem"}, func(line int, r record) (Doc, error) {
		var stem string
		var choices []string
		if raw := bytes.TrimSpace(r["question"]); len(raw) > 0 && raw[0] == '{' {
			var q struct {
				Stem    *string `json:"stem"`
				Choices []struct {
					Text *string `json:"text"`
				} `json:"choices"`
			}
			if err := r.get("question", "an object {stem, choices}", &q); err != nil {
				return Doc{}, err
			}
			if q.Stem == nil {
				return Doc{}, errors.New(`field "question.stem": missing`)
			}
			stem = *q.Stem
			for k, c := range q.Choices {
				if c.Text == nil {
					return Doc{}, fmt.Errorf(`field "question.choices[%d].text": missing`, k)
				}
				choices = append(choices, *c.Text)
			}
		} else {
			var err error
			if stem, err = r.strOf("question", "question_stem"); err != nil {
				return Doc{}, err
			}
			var c struct {
				Text []string `json:"text"`
			}
			if err := r.get("choices", "an object {text, label}", &c); err != nil {
				return Doc{}, err
			}
			choices = c.Text
		}
		key, err := r.str("answerKey")
		if err != nil {
			return Doc{}, err
		}
		gold, err := answerIndex(key)
		if err != nil {
			return Doc{}, err
		}
		return build(line, stem, choices, gold), nil
	})
}

// answerIndex maps an answer key to its position as lm-eval does: letters
// A–E, and ARC's numeric keys 1–5 read as A–E. The position is the letter's,
// not a lookup in the choice labels.
func answerIndex(key string) (int, error) {
	k := pyStrip(key)
	if len(k) == 1 {
		switch c := k[0]; {
		case c >= 'A' && c <= 'E':
			return int(c - 'A'), nil
		case c >= '1' && c <= '5':
			return int(c - '1'), nil
		}
	}
	return 0, fmt.Errorf("field \"answerKey\": %s: want A–E or 1–5", excerpt([]byte(key)))
}

// piqaJSONL reads PIQA's {goal, sol1, sol2} with the label inline (HF) or
// from the separate labels file, one 0/1 per line in document order.
var piqaJSONL = layout{
	name:   "piqa jsonl",
	detect: hasKeys("goal"),
	parse: func(src *source, opts LoadOptions) ([]Doc, map[string]string, error) {
		var docs []Doc
		var unlabelled []int // indices of docs without a "label"
		err := src.eachRecord(func(line int, r record) error {
			var f [3]string
			for i, k := range []string{"goal", "sol1", "sol2"} {
				var err error
				if f[i], err = r.str(k); err != nil {
					return err
				}
			}
			var gold int
			if r.has("label") {
				var err error
				if gold, err = r.integer("label"); err != nil {
					return err
				}
			} else {
				unlabelled = append(unlabelled, len(docs))
			}
			docs = append(docs, piqaDoc(line, f[0], []string{f[1], f[2]}, gold))
			return nil
		})
		if err != nil || len(unlabelled) == 0 {
			return docs, nil, err
		}
		path := opts.PIQALabels
		if path == "" {
			path = strings.TrimSuffix(src.name, filepath.Ext(src.name)) + "-labels.lst"
		}
		labels, ref, err := readLabels(path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %d documents have no \"label\": %w", src.name, len(unlabelled), err)
		}
		if len(labels) != len(docs) {
			return nil, nil, fmt.Errorf("%s: %d labels for %d documents in %s", path, len(labels), len(docs), src.name)
		}
		for _, i := range unlabelled {
			docs[i].Gold = labels[i]
		}
		src.deps = append(src.deps, ref)
		return docs, nil, nil
	},
}

// readLabels reads one integer per non-blank line.
func readLabels(path string) ([]int, data.FileRef, error) {
	b, ref, _, err := data.ReadFile(path, data.MaxTaskBytes, taskFiles)
	if err != nil {
		return nil, data.FileRef{}, err
	}
	src, err := newSource(path, b)
	if err != nil {
		return nil, data.FileRef{}, err
	}
	var out []int
	for n, l := range src.lines() {
		if strings.TrimSpace(l) == "" {
			continue
		}
		label, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil {
			return nil, data.FileRef{}, fmt.Errorf("%s:%d: label %s: want an integer", path, n, excerpt([]byte(l)))
		}
		out = append(out, label)
	}
	return out, ref, nil
}
