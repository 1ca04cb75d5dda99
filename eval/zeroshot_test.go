package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// fakeTok is a byte tokenizer with optional multi-byte pieces (matched
// longest first) and SentencePiece's dummy prefix, so that tests can make
// merges straddle a context/continuation boundary. Byte b is id 3+b; piece k
// is id 259+k.
type fakeTok struct{ pieces []string }

func ch(c byte) int { return 3 + int(c) }

func chars(s string) []int {
	var ids []int
	for i := 0; i < len(s); i++ {
		ids = append(ids, ch(s[i]))
	}
	return ids
}

func (f fakeTok) Encode(text string, bos, eos bool) []int {
	var out []int
	if bos {
		out = append(out, 1)
	}
	if text != "" {
		text = " " + text
	}
	for i := 0; i < len(text); {
		id, n := ch(text[i]), 1
		for k, p := range f.pieces {
			if len(p) > n && strings.HasPrefix(text[i:], p) {
				id, n = 259+k, len(p)
			}
		}
		out = append(out, id)
		i += n
	}
	if eos {
		out = append(out, 2)
	}
	return out
}

func (f fakeTok) Decode(_, id int) string {
	if id >= 259 {
		return f.pieces[id-259]
	}
	return string(rune(id - 3))
}
func (f fakeTok) VocabSize() int { return 259 + len(f.pieces) }
func (f fakeTok) BOS() int       { return 1 }
func (f fakeTok) EOS() int       { return 2 }

// fakeLM fills the logits at each position from the prefix ending there, so
// it is causal by construction, and records every ForwardContext call.
type fakeLM struct {
	V      int
	logits func(prefix []int, row []float32)
	mu     sync.Mutex
	calls  []fwdCall
}

type fwdCall struct {
	tokens  []int
	nseq, T int
}

func (m *fakeLM) ForwardContext(_ context.Context, tokens []int, nseq, T int) ([]float32, error) {
	if len(tokens) != nseq*T {
		return nil, fmt.Errorf("%d tokens for %d×%d", len(tokens), nseq, T)
	}
	m.mu.Lock()
	m.calls = append(m.calls, fwdCall{append([]int(nil), tokens...), nseq, T})
	m.mu.Unlock()
	out := make([]float32, nseq*T*m.V)
	for s := 0; s < nseq; s++ {
		for p := 0; p < T; p++ {
			m.logits(tokens[s*T:s*T+p+1], out[(s*T+p)*m.V:(s*T+p+1)*m.V])
		}
	}
	return out, nil
}

const fakeV = 300

// hashLM gives every prefix its own pseudo-random logits in [-4, 4).
func hashLM() *fakeLM {
	return &fakeLM{V: fakeV, logits: func(prefix []int, row []float32) {
		h := fnv.New64a()
		for _, t := range prefix {
			fmt.Fprint(h, t, ",")
		}
		x := h.Sum64()
		for v := range row {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			row[v] = float32(x>>40)/float32(1<<24)*8 - 4
		}
	}}
}

// favourLM puts logit 10 on the favoured tokens and 0 elsewhere, whatever the
// context.
func favourLM(favoured []int) *fakeLM {
	return &fakeLM{V: fakeV, logits: func(_ []int, row []float32) {
		for _, v := range favoured {
			row[v] = 10
		}
	}}
}

func uniformLM() *fakeLM { return &fakeLM{V: fakeV, logits: func([]int, []float32) {}} }

func mustEval(t *testing.T, lm LM, tok fakeTok, L int, task *Task, opts ZeroShotOptions) TaskResult {
	t.Helper()
	res, err := Evaluate(context.Background(), lm, tok, L, task, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBuildRequest(t *testing.T) {
	tok := fakeTok{pieces: []string{"ab"}}
	cases := []struct {
		name, ctx, cont string
		wantCtx, want   []int
	}{
		{"plain", "Q:", " yes", chars(" Q:"), chars(" yes")},
		// The whitespace at the end of the context moves to the continuation.
		{"whitespace move", "Q: \n", "yes", chars(" Q:"), chars(" \nyes")},
		// whole = " x" "ab" "c": the continuation is what lies beyond the
		// context's 3 tokens, though "ab" straddles the boundary.
		{"straddle", "xa", "bc", chars(" xa"), chars("c")},
		{"straddle swallows all", "xa", "b", chars(" xa"), []int{}},
		{"empty context is EOS", "", "hi", []int{2}, chars(" hi")},
	}
	for _, c := range cases {
		r, err := buildRequest(tok, c.ctx, c.cont)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(r.ctx, c.wantCtx) || !reflect.DeepEqual(r.cont, c.want) {
			t.Errorf("%s: ctx %v cont %v, want %v %v", c.name, r.ctx, r.cont, c.wantCtx, c.want)
		}
	}
}

// docsTask is a task of the given documents; "boolq" gets BoolQ's tie rule.
func docsTask(name string, accNorm bool, docs ...Doc) *Task {
	return &Task{Name: name, Path: name + ".jsonl", AccNorm: accNorm, Docs: docs, tieToLast: name == "boolq"}
}

func TestLeftTruncation(t *testing.T) {
	const L = 10
	tok := fakeTok{}
	lm := hashLM()
	// 9 context tokens (" abcdefgh") and 3 continuation tokens (" xy"):
	// 12 > L+1 is cut, " z" (11 tokens in all) is not.
	task := docsTask("trunc", false, mcDoc(1, "abcdefgh", []string{"xy", "z"}, 0))
	var samples bytes.Buffer
	res := mustEval(t, lm, tok, L, task, ZeroShotOptions{Samples: &samples, MaxBatch: 1})
	if res.Truncated != 1 || res.Requests != 2 {
		t.Errorf("truncated %d of %d requests, want 1 of 2", res.Truncated, res.Requests)
	}
	all := chars(" abcdefgh xy")
	wantInput := all[len(all)-(L+1) : len(all)-1] // (ctx ++ cont)[-(L+1):][:-1]
	if c := lm.calls[0]; c.T != L || !reflect.DeepEqual(c.tokens, wantInput) {
		t.Errorf("first forward got %v (T=%d), want %v", c.tokens, c.T, wantInput)
	}
	// The last 3 input positions predict " xy".
	var want float64
	row := make([]float32, fakeV)
	for j, target := range chars(" xy") {
		p := L - 3 + j
		lm.logits(wantInput[:p+1], row)
		want += logProb(row, target)
	}
	var s struct{ LL []float64 }
	if err := json.Unmarshal(samples.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.LL[0]-want) > 1e-9 {
		t.Errorf("ll %v, want %v", s.LL[0], want)
	}

	// A continuation longer than the context: the window holds only its
	// last L+1 tokens, and the L positions score its last L tokens.
	const L2 = 2
	var samples2 bytes.Buffer
	res = mustEval(t, lm, tok, L2, task, ZeroShotOptions{Samples: &samples2, MaxBatch: 1})
	if res.Truncated != 2 {
		t.Errorf("truncated %d requests, want 2", res.Truncated)
	}
	cont := chars(" xy")
	win := cont[len(cont)-(L2+1):]
	want = 0
	for p := 0; p < L2; p++ {
		lm.logits(win[:p+1], row)
		want += logProb(row, win[p+1])
	}
	if err := json.Unmarshal(samples2.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if math.Abs(s.LL[0]-want) > 1e-9 {
		t.Errorf("long continuation: ll %v, want %v", s.LL[0], want)
	}
}

func TestConstructedAnswers(t *testing.T) {
	tok := fakeTok{}
	mc := docsTask("mc", true,
		mcDoc(1, "Pick:", []string{"cat", "hen"}, 0),
		mcDoc(2, "Pick:", []string{"pig", "fox"}, 1))
	t.Run("favour gold", func(t *testing.T) {
		res := mustEval(t, favourLM(chars(" catfox")), tok, 64, mc, ZeroShotOptions{})
		if res.Acc != 1 || *res.AccNorm != 1 {
			t.Errorf("acc %v acc_norm %v, want 1 1", res.Acc, *res.AccNorm)
		}
	})
	t.Run("favour wrong", func(t *testing.T) {
		res := mustEval(t, favourLM(chars(" henpig")), tok, 64, mc, ZeroShotOptions{})
		if res.Acc != 0 || *res.AccNorm != 0 {
			t.Errorf("acc %v acc_norm %v, want 0 0", res.Acc, *res.AccNorm)
		}
	})
	t.Run("acc vs acc_norm by length", func(t *testing.T) {
		// Uniform: ll = −tokens·log V. " ab" (3 tokens) wins acc; per
		// character, " abcdefgh" (−9/8) beats " ab" (−3/2).
		task := docsTask("len", true, mcDoc(1, "Q:", []string{"ab", "abcdefgh"}, 1))
		res := mustEval(t, uniformLM(), tok, 64, task, ZeroShotOptions{})
		if res.Acc != 0 || *res.AccNorm != 1 {
			t.Errorf("acc %v acc_norm %v, want 0 1", res.Acc, *res.AccNorm)
		}
	})
	t.Run("acc_norm counts code points", func(t *testing.T) {
		// "é" is 2 bytes, so 2 tokens here, but 1 character: byte counts
		// would flip the normalised choice.
		task := docsTask("runes", true, mcDoc(1, "Q:", []string{"éé", "abc"}, 0))
		res := mustEval(t, uniformLM(), tok, 64, task, ZeroShotOptions{})
		// ll: −5 vs −4 (×log V); per character −5/2 vs −4/3: "abc" wins.
		// Per byte it would be −5/4 vs −4/3: "éé".
		if *res.AccNorm != 0 {
			t.Errorf("acc_norm %v, want 0", *res.AccNorm)
		}
	})
	t.Run("boolq tie is no", func(t *testing.T) {
		tied := fakeTok{pieces: []string{" yes", " no", " True", " False"}}
		boolq := docsTask("boolq", false, boolqDoc(1, "P", "q", false), boolqDoc(2, "P", "q", true))
		res := mustEval(t, uniformLM(), tied, 64, boolq, ZeroShotOptions{})
		if res.Acc != 0.5 {
			t.Errorf("boolq acc %v, want 0.5 (the tie predicts no)", res.Acc)
		}
		// RTE: not_entailment only when ll_False > ll_True.
		rte := docsTask("rte", false, rteDoc(1, "A", "B", 0), rteDoc(2, "A", "B", 1))
		res = mustEval(t, uniformLM(), tied, 64, rte, ZeroShotOptions{})
		if res.Acc != 0.5 {
			t.Errorf("rte acc %v, want 0.5 (the tie predicts entailment)", res.Acc)
		}
	})
	t.Run("winogrande partial scoring", func(t *testing.T) {
		// The continuation's first token " " is likely only after "b".
		lm := &fakeLM{V: fakeV, logits: func(prefix []int, row []float32) {
			if prefix[len(prefix)-1] == ch('b') {
				row[ch(' ')] = 8
			}
		}}
		for gold, want := range []float64{0, 1} {
			d, err := winograndeDoc(1, "Then _ ran home.", []string{"Ann", "Bob"}, gold)
			if err != nil {
				t.Fatal(err)
			}
			res := mustEval(t, lm, tok, 64, docsTask("winogrande", false, d), ZeroShotOptions{})
			if res.Acc != want || res.AccNorm != nil {
				t.Errorf("gold %d: acc %v acc_norm %v, want %v nil", gold, res.Acc, res.AccNorm, want)
			}
		}
	})
}

func TestStderr(t *testing.T) {
	p, se := meanStderr([]bool{true, false, true, true})
	if p != 0.75 || math.Abs(*se-math.Sqrt(0.75*0.25/3)) > 1e-15 {
		t.Errorf("mean %v stderr %v", p, *se)
	}
	// Against the definition: sample standard deviation over √n.
	x := []float64{1, 0, 1, 1}
	var ss float64
	for _, v := range x {
		ss += (v - 0.75) * (v - 0.75)
	}
	if want := math.Sqrt(ss/3) / 2; math.Abs(*se-want) > 1e-15 {
		t.Errorf("stderr %v, want %v", *se, want)
	}
	if p, se := meanStderr([]bool{true}); p != 1 || se != nil {
		t.Errorf("one document: mean %v stderr %v, want 1 nil", p, se)
	}
}

// varied builds documents of uneven lengths so that padding is exercised.
func varied(n int) *Task {
	var docs []Doc
	words := []string{"a", "bb", "a longer choice", "x y z w", "the end of it all", "q"}
	for i := range n {
		var ch []string
		for k := range 2 + i%3 {
			ch = append(ch, words[(i+k)%len(words)]+strings.Repeat("!", k))
		}
		docs = append(docs, mcDoc(i+1, strings.Repeat("ctx ", 1+i%4)+"Answer:", ch, i%len(ch)))
	}
	return docsTask("varied", true, docs...)
}

func samplesOf(t *testing.T, b []byte) []sample {
	t.Helper()
	var out []sample
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var s sample
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("sample %q: %v", l, err)
		}
		out = append(out, s)
	}
	return out
}

// TestBatchingInvariance: one ForwardContext per document (right-padded)
// and one per request give the same log-likelihoods.
func TestBatchingInvariance(t *testing.T) {
	task := varied(12)
	tok := fakeTok{pieces: []string{"er:", " c"}}
	var runs [][]sample
	for _, mb := range []int{0, 1, 2} {
		lm := hashLM()
		var buf bytes.Buffer
		mustEval(t, lm, tok, 64, task, ZeroShotOptions{MaxBatch: mb, Samples: &buf})
		runs = append(runs, samplesOf(t, buf.Bytes()))
		if mb == 0 {
			if len(lm.calls) != len(task.Docs) {
				t.Errorf("%d forward calls for %d documents, want one each", len(lm.calls), len(task.Docs))
			}
			padded := false
			for _, c := range lm.calls {
				padded = padded || c.tokens[len(c.tokens)-1] == 0
			}
			if !padded {
				t.Error("no call was right-padded; the test does not exercise padding")
			}
		}
	}
	for r := 1; r < len(runs); r++ {
		for i := range runs[0] {
			for k := range runs[0][i].LL {
				if d := math.Abs(runs[r][i].LL[k] - runs[0][i].LL[k]); d > 1e-5 {
					t.Errorf("run %d doc %d request %d: ll %v vs %v", r, i, k, runs[r][i].LL[k], runs[0][i].LL[k])
				}
			}
		}
	}
}

func TestSamplesProgressLimit(t *testing.T) {
	task := varied(30)
	var samples, progress bytes.Buffer
	res := mustEval(t, hashLM(), fakeTok{}, 64, task, ZeroShotOptions{Limit: 25, Samples: &samples, Progress: &progress})
	got := samplesOf(t, samples.Bytes())
	if res.Docs != 25 || len(got) != 25 || res.Limit != 25 {
		t.Fatalf("docs %d, %d samples, limit %d; want 25", res.Docs, len(got), res.Limit)
	}
	correct, reqs := 0, 0
	for i, s := range got {
		d := task.Docs[i]
		if s.Doc != i || s.Line != d.Line || s.Gold != d.Gold || len(s.LL) != len(d.Choices) || len(s.IsGreedy) != len(s.LL) ||
			s.PredNorm == nil || s.AccNorm == nil || s.Acc != b2i(s.Pred == s.Gold) {
			t.Errorf("sample %d: %+v", i, s)
		}
		if s.Pred != argmax(s.LL, false) {
			t.Errorf("sample %d: pred %d, argmax %d", i, s.Pred, argmax(s.LL, false))
		}
		correct += s.Acc
		reqs += len(s.LL)
	}
	if res.Acc != float64(correct)/25 || res.Requests != reqs || res.AccStderr == nil || res.AccNormStderr == nil {
		t.Errorf("result %+v disagrees with samples (%d correct, %d requests)", res, correct, reqs)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) != 25 || !strings.HasPrefix(lines[24], "varied: 25/25 docs") {
		t.Errorf("progress %q", progress.String())
	}
}

// errLM fails, returns n logits, or returns NaN logits of the right size.
type errLM struct {
	n   int
	nan bool
}

func (e errLM) ForwardContext(_ context.Context, tokens []int, nseq, T int) ([]float32, error) {
	switch {
	case e.nan:
		out := make([]float32, nseq*T*fakeV)
		for i := range out {
			out[i] = float32(math.NaN())
		}
		return out, nil
	case e.n > 0:
		return make([]float32, e.n), nil
	}
	return nil, errors.New("out of memory")
}

func TestEvaluateErrors(t *testing.T) {
	task := varied(3)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		lm   LM
		L    int
		task *Task
		opts ZeroShotOptions
		want string
	}{
		{"no task", context.Background(), hashLM(), 64, nil, ZeroShotOptions{}, "no task documents"},
		{"context length", context.Background(), hashLM(), 0, task, ZeroShotOptions{}, "context length 0"},
		{"limit", context.Background(), hashLM(), 64, task, ZeroShotOptions{Limit: -1}, "limit -1"},
		{"lm error", context.Background(), errLM{}, 64, task, ZeroShotOptions{}, "out of memory"},
		{"logits size", context.Background(), errLM{n: 7}, 64, task, ZeroShotOptions{}, "forward returned 7 logits for 2 sequences × 15 tokens, not a positive multiple"},
		{"nan", context.Background(), errLM{nan: true}, 64, task, ZeroShotOptions{},
			"zero-shot varied: varied.jsonl:1: document 0: request 0 (continuation token 0 of 2): log-likelihood is NaN"},
		{"cancelled", cancelled, hashLM(), 64, task, ZeroShotOptions{}, "context canceled"},
	}
	for _, c := range cases {
		_, err := Evaluate(c.ctx, c.lm, fakeTok{}, c.L, c.task, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
		}
	}
}
