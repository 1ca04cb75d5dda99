package tokenizer

import (
	"unicode/utf8"

	"github.com/prunebench/prunebench/linalg"
)

// symbol is one element of a sequence being merged: the text that pairs are
// formed from and its id, or -1 when the text is not a vocabulary entry
// (SentencePiece's unknown characters, resolved after merging).
type symbol struct {
	text string
	id   int
}

// merger holds the merge rule of both score-ordered tokenizers (llama2.c's
// and SentencePiece's). They differ only in which entries may be merge
// results: run.c accepts any entry scoring above -1e10, SentencePiece only
// NORMAL and USER_DEFINED pieces.
type merger struct {
	pieces    []string
	scores    []float32
	ids       map[string]int
	mergeable func(id int) bool
	// joins holds every pair of adjacent characters inside a mergeable
	// entry. Where the characters on either side of a boundary between
	// initial symbols are not such a pair, no merge can ever cross it, so
	// the text splits there into pieces that merge independently.
	joins map[[2]rune]struct{}
}

func newMerger(pieces []string, scores []float32, ids map[string]int, mergeable func(id int) bool) *merger {
	m := &merger{pieces: pieces, scores: scores, ids: ids, mergeable: mergeable, joins: make(map[[2]rune]struct{})}
	for id, p := range pieces {
		if !mergeable(id) {
			continue
		}
		prev, w := utf8.DecodeRuneInString(p)
		for i := w; i < len(p); i += w {
			var r rune
			r, w = utf8.DecodeRuneInString(p[i:])
			m.joins[[2]rune{prev, r}] = struct{}{}
			prev = r
		}
	}
	return m
}

// separable reports whether no merge can join symbols a and b (adjacent in
// the initial sequence). A merge result spanning the boundary contains a's
// text followed by b's; when a ends and b starts with a valid UTF-8
// character, UTF-8's self-synchronisation puts those two characters next to
// each other in the result's decoding too, so the result is ruled out when
// they are not in joins. Malformed edges are conservatively not separable.
func (m *merger) separable(a, b string) bool {
	l, wl := utf8.DecodeLastRuneInString(a)
	r, wr := utf8.DecodeRuneInString(b)
	if l == utf8.RuneError && wl <= 1 || r == utf8.RuneError && wr <= 1 {
		return false
	}
	_, join := m.joins[[2]rune{l, r}]
	return !join
}

// parallelMin is the number of symbols below which merging stays on the
// calling goroutine: short texts (zero-shot prompts) would only pay for the
// goroutines.
const parallelMin = 1 << 14

// merge repeatedly merges the adjacent pair whose concatenation is the
// mergeable entry of highest score (leftmost on ties) until none is left,
// and returns the surviving symbols in order, reusing syms. Independent
// stretches (see separable) are merged separately, on all cores for long
// texts; this gives the same result because a merge in one stretch never
// changes the candidates of another, and within a stretch the order of
// merges is unchanged.
func (m *merger) merge(syms []symbol) []symbol {
	var cuts []int // start of every stretch, then len(syms)
	cuts = append(cuts, 0)
	for i := 1; i < len(syms); i++ {
		if m.separable(syms[i-1].text, syms[i].text) {
			cuts = append(cuts, i)
		}
	}
	cuts = append(cuts, len(syms))
	nseg := len(cuts) - 1
	kept := make([]int, nseg)
	run := func(lo, hi int) {
		var ws workspace
		for s := lo; s < hi; s++ {
			kept[s] = len(ws.merge(m, syms[cuts[s]:cuts[s+1]]))
		}
	}
	if len(syms) < parallelMin {
		run(0, nseg)
	} else {
		linalg.ParallelFor(nseg, run)
	}
	out := syms[:0]
	for s := range nseg {
		out = append(out, syms[cuts[s]:cuts[s]+kept[s]]...)
	}
	return out
}

// streamChunk is how many initial symbols a streamMerger collects before
// merging what it can: memory then follows the chunk (24 bytes a symbol),
// not the text (a 1.3 MB corpus is 1.3M symbols).
const streamChunk = 1 << 16

// streamMerger merges a text's initial symbols as they come: whenever
// streamChunk have gathered it merges them up to the last boundary no merge
// can cross (see separable) and hands the merged symbols to emit, keeping
// the rest for the next round. The result is merge's on the whole text, for
// the reason merge may split it into stretches.
type streamMerger struct {
	m    *merger
	buf  []symbol
	emit func(symbol)
	// next is the length at which to look for a boundary again after a
	// look found none: twice the length then, so that a text with no
	// boundary (a run of one letter, a base64 blob) is scanned O(n) times
	// in all, not once per symbol.
	next int
}

func (s *streamMerger) add(sym symbol) {
	s.buf = append(s.buf, sym)
	if len(s.buf) >= max(streamChunk, s.next) {
		s.flush(false)
	}
}

// flush merges the gathered symbols up to the last boundary, or all of
// them at the end of the text.
func (s *streamMerger) flush(end bool) {
	cut := len(s.buf)
	if !end {
		for cut--; cut > 0 && !s.m.separable(s.buf[cut-1].text, s.buf[cut].text); cut-- {
		}
		if cut == 0 {
			s.next = 2 * len(s.buf) // one stretch so far: gather more
			return
		}
		s.next = 0
	}
	for _, x := range s.m.merge(s.buf[:cut]) {
		s.emit(x)
	}
	s.buf = s.buf[:copy(s.buf, s.buf[cut:])]
}

// joiner is what the merge engine asks of a vocabulary: the entry, if any,
// that two adjacent symbols merge into, and its priority (higher merges
// first). scratch is the caller's buffer, reused between calls.
type joiner interface {
	join(l, r symbol, scratch *[]byte) (id int32, score float32, ok bool)
	piece(id int32) string
}

// join is the score-ordered rule: any mergeable entry spelling the
// concatenation, highest score first.
func (m *merger) join(l, r symbol, scratch *[]byte) (int32, float32, bool) {
	*scratch = append(append((*scratch)[:0], l.text...), r.text...)
	id, ok := m.ids[string(*scratch)]
	if !ok || !m.mergeable(id) {
		return 0, 0, false
	}
	return int32(id), m.scores[id], true
}

func (m *merger) piece(id int32) string { return m.pieces[id] }

// candidate is a possible merge of symbol left with its right neighbour,
// valid only while neither symbol has changed since it was queued.
type candidate struct {
	score       float32
	left, right int32
	genL, genR  uint32
	id          int32
}

// before orders the queue as the quadratic scan picks: highest score first,
// leftmost on ties. Symbol indices never reorder, so the left index is the
// position.
func (a candidate) before(b candidate) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

// pairQueue is a binary heap of candidates; container/heap would box every
// element.
type pairQueue []candidate

func (q *pairQueue) push(c candidate) {
	h := append(*q, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].before(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	*q = h
}

func (q *pairQueue) pop() candidate {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].before(h[m]) {
			m = l
		}
		if r < len(h) && h[r].before(h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

// workspace holds one goroutine's buffers, reused across stretches.
type workspace struct {
	prev, next []int32
	// gen changes whenever a symbol's text changes or it is absorbed, which
	// is exactly when the queued pairs touching it become stale.
	gen []uint32
	q   pairQueue
	buf []byte
}

// merge runs the greedy merge on one stretch in O(n log n): pairs wait in a
// priority queue and a queued pair is dropped when popped if either side
// changed meanwhile. It compacts syms in place and returns the survivors.
func (ws *workspace) merge(j joiner, syms []symbol) []symbol {
	n := int32(len(syms))
	if n < 2 {
		return syms
	}
	ws.prev, ws.next, ws.gen, ws.q = ws.prev[:0], ws.next[:0], ws.gen[:0], ws.q[:0]
	for i := range n {
		ws.prev = append(ws.prev, i-1)
		ws.next = append(ws.next, i+1)
		ws.gen = append(ws.gen, 0)
	}
	prev, next, gen := ws.prev, ws.next, ws.gen
	consider := func(l, r int32) {
		if id, score, ok := j.join(syms[l], syms[r], &ws.buf); ok {
			ws.q.push(candidate{score: score, left: l, right: r, genL: gen[l], genR: gen[r], id: id})
		}
	}
	for i := int32(0); i+1 < n; i++ {
		consider(i, i+1)
	}
	for len(ws.q) > 0 {
		c := ws.q.pop()
		if gen[c.left] != c.genL || gen[c.right] != c.genR {
			continue
		}
		l, r := c.left, c.right
		// The entry's text equals the concatenation the rule matched.
		syms[l] = symbol{text: j.piece(c.id), id: int(c.id)}
		gen[l]++
		gen[r]++
		next[l] = next[r]
		if next[l] < n {
			prev[next[l]] = l
			consider(l, next[l])
		}
		if prev[l] >= 0 {
			consider(prev[l], l)
		}
	}
	// Index 0 is never absorbed (only right-hand symbols are), so the list
	// starts there; each survivor moves to an index no greater than its own.
	out := syms[:0]
	for i := int32(0); i < n; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}
