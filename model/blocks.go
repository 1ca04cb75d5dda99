package model

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"

	"github.com/prunebench/prunebench/linalg"
	"github.com/prunebench/prunebench/safetensors"
)

// A model opened with Open streams its decoder blocks: the embedding, the
// classifier and the norms are read once, but the 7 linears of a block are
// read from the checkpoint (and converted to float32) each time the block is
// used, into a buffer that is given back after, so that a 7B model
// whose float32 weights exceed the machine's memory holds about one block at
// a time. A pruned block is written to a spill file and read from there
// instead (CommitBlock); ResetBlocks goes back to the checkpoint. Spill
// files are created in os.TempDir (TMPDIR) and unlinked at once, so that
// they go with the process however it ends, SIGKILL included. A model from Load, or built by hand, holds every block
// in Weights.Blocks, and the same methods work on it in place.

// tensorReader reads one format's tensors by name.
type tensorReader struct {
	// check fails unless the tensor exists with this shape ([out, in] for
	// a matrix, [n] for a vector), reading only the header.
	check func(name string, shape []int) error
	// read converts a checked tensor to float32 into dst (exactly its
	// elements).
	read func(name string, dst []float32) error
}

// fetch checks and reads a tensor into a new slice.
func (r tensorReader) fetch(name string, shape []int) ([]float32, error) {
	if err := r.check(name, shape); err != nil {
		return nil, err
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	out := make([]float32, n)
	if err := r.read(name, out); err != nil {
		return nil, err
	}
	return out, nil
}

// blockSource is where a streaming model's block linears come from.
type blockSource struct {
	cfg     Config
	tensors tensorReader
	name    namer
	// rotateHalf is set for Hugging Face checkpoints, whose q and k rows
	// are un-permuted to adjacent-pair order after reading.
	rotateHalf bool
	closer     io.Closer
	// free holds block buffers given back, kept for the next read: a
	// sync.Pool would drop them at every collection and a 7B block (0.8 GB)
	// would be allocated again. There are as many as blocks were ever in
	// use at once.
	mu   sync.Mutex
	free []*Block
	// checked marks the linears (7 per block, LinearNames order) found
	// finite: a checkpoint does not change while open, and an evaluation
	// reads every block once per batch.
	checked []atomic.Bool
}

// blockStore is a streaming model's blocks: its source and the pruned
// blocks spilled to disk. A view from Original shares the source but not
// the spill, and only the owner closes them.
type blockStore struct {
	src   *blockSource
	owner bool

	mu      sync.Mutex
	spilled map[int]*os.File // block → its (unlinked) spill file
}

// Streaming reports whether the model reads its blocks on use (Open) rather
// than holding them (Load).
func (m *Model) Streaming() bool { return m.store != nil }

// Block returns block l's weights and a release function to call once
// they are no longer used. A streaming model reads the block (from its
// spill file once committed, else from the checkpoint) into a pooled
// buffer; a read error names the tensor and file. Any other model returns
// its resident block and a no-op release. Writes into the block stay local
// until CommitBlock.
func (m *Model) Block(l int) (*Block, func(), error) {
	if l < 0 || l >= len(m.Weights.Blocks) {
		return nil, nil, fmt.Errorf("block %d: the model has %d blocks", l, len(m.Weights.Blocks))
	}
	b := &m.Weights.Blocks[l]
	if m.store == nil {
		return b, func() {}, nil
	}
	return m.store.read(l, b)
}

// CommitBlock makes b, changed in place (pruned), block l of the model: a
// streaming model writes its linears to a spill file that later reads come
// from; any other model copies them into its resident block unless b is
// that block.
func (m *Model) CommitBlock(l int, b *Block) error {
	if l < 0 || l >= len(m.Weights.Blocks) {
		return fmt.Errorf("block %d: the model has %d blocks", l, len(m.Weights.Blocks))
	}
	if m.store != nil {
		return m.store.spill(l, b)
	}
	dst := &m.Weights.Blocks[l]
	if dst == b {
		return nil
	}
	for i, lin := range dst.Linears() {
		src := b.Linears()[i]
		if lin.Out != src.Out || lin.In != src.In || len(lin.W) != len(src.W) {
			return fmt.Errorf("block %d %s: %d×%d given for %d×%d", l, LinearNames[i], src.Out, src.In, lin.Out, lin.In)
		}
		copy(lin.W, src.W)
	}
	return nil
}

// ResetBlocks forgets the committed blocks of a streaming model, removing
// their spill files, so that every block reads from the checkpoint again
// (the dense model, for the next run of a sweep). It does nothing to a
// resident model.
func (m *Model) ResetBlocks() error {
	if m.store == nil {
		return nil
	}
	return m.store.reset()
}

// Original returns a view of a streaming model that reads every block from
// the checkpoint, whatever has been committed since: the dense model beside
// the pruned one, sharing its embedding, norms and files. It is false for a
// resident model. The view must not be used after m is closed.
func (m *Model) Original() (*Model, bool) {
	if m.store == nil {
		return nil, false
	}
	v := *m
	v.store = &blockStore{src: m.store.src}
	return &v, true
}

// Close releases a streaming model's checkpoint files and its spill
// files. It does nothing for a resident model or a view.
func (m *Model) Close() error {
	if m.store == nil || !m.store.owner {
		return nil
	}
	err := m.store.reset()
	if m.store.src.closer != nil {
		err = errors.Join(err, m.store.src.closer.Close())
	}
	return err
}

// linear returns a copy of linear i (LinearNames order) of block l, read
// alone: from the resident block, the spill file or the checkpoint.
func (m *Model) linear(l, i int) ([]float32, error) {
	lin := m.Weights.Blocks[l].Linears()[i]
	if m.store == nil {
		return append([]float32(nil), lin.W...), nil
	}
	out := make([]float32, lin.Out*lin.In)
	s := m.store
	s.mu.Lock()
	spill := s.spilled[l]
	s.mu.Unlock()
	if spill == nil {
		return out, s.src.readLinear(l, i, out)
	}
	var off int64
	lins := m.Weights.Blocks[l].Linears()
	for _, prev := range lins[:i] {
		off += 4 * int64(prev.Out*prev.In)
	}
	if err := safetensors.ReadFloat32At(spill, off, safetensors.F32, out); err != nil {
		return nil, fmt.Errorf("block %d: spill file: %w", l, err)
	}
	return out, nil
}

func (s *blockStore) read(l int, tmpl *Block) (*Block, func(), error) {
	b := s.src.buffer()
	release := func() { s.src.giveBack(b) }
	for i, v := range b.vectors() {
		*v = *tmpl.vectors()[i]
	}
	b.RopeFreqs = tmpl.RopeFreqs
	s.mu.Lock()
	spill := s.spilled[l]
	s.mu.Unlock()
	var err error
	if spill != nil {
		err = readSpill(spill, b)
	} else {
		err = s.src.readBlock(l, b)
	}
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("block %d: %w", l, err)
	}
	return b, release, nil
}

// buffer returns a block-sized buffer, one given back if any.
func (src *blockSource) buffer() *Block {
	src.mu.Lock()
	if n := len(src.free); n > 0 {
		b := src.free[n-1]
		src.free = src.free[:n-1]
		src.mu.Unlock()
		return b
	}
	src.mu.Unlock()
	b := new(Block)
	for i, lin := range b.Linears() {
		s := matrixShape(&src.cfg, blockMatrixRoles[i])
		*lin = NewLinear(s[0], s[1])
	}
	return b
}

// giveBack keeps b for the next buffer call.
func (src *blockSource) giveBack(b *Block) {
	src.mu.Lock()
	src.free = append(src.free, b)
	src.mu.Unlock()
}

// readBlock reads block l's linears from the checkpoint into b.
func (src *blockSource) readBlock(l int, b *Block) error {
	for i, lin := range b.Linears() {
		if err := src.readLinear(l, i, lin.W); err != nil {
			return err
		}
	}
	return nil
}

// readLinear reads linear i of block l from the checkpoint into dst, in
// adjacent-pair row order.
func (src *blockSource) readLinear(l, i int, dst []float32) error {
	c := &src.cfg
	role := blockMatrixRoles[i]
	name := src.name(role, l)
	if err := src.tensors.read(name, dst); err != nil {
		return err
	}
	if checked := &src.checked[l*len(blockMatrixRoles)+i]; !checked.Load() {
		if err := finiteTensor(name, dst); err != nil {
			return err
		}
		checked.Store(true)
	}
	if src.rotateHalf {
		permuteRole(c, role, dst, false)
	}
	return nil
}

// permuteRole converts a q or k tensor (matrix rows, bias or per-head norm
// weight; role q, k, q_bias, k_bias, q_norm or k_norm) between
// adjacent-pair and rotate-half order (FORMATS.md §8) in place: a bias or a
// norm weight follows the rows it is added to or scales, so that the
// logits do not change. Other roles are left as they are.
func permuteRole(c *Config, role string, v []float32, toHF bool) {
	if len(v) == 0 {
		return // a vector the architecture does not have
	}
	switch role {
	case "q":
		permuteQKInPlace(v, c.Heads, c.HeadDim, c.Dim, toHF)
	case "k":
		permuteQKInPlace(v, c.KVHeads, c.HeadDim, c.Dim, toHF)
	case roleQBias:
		permuteQKInPlace(v, c.Heads, c.HeadDim, 1, toHF)
	case roleKBias:
		permuteQKInPlace(v, c.KVHeads, c.HeadDim, 1, toHF)
	case roleQNorm, roleKNorm:
		permuteQKInPlace(v, 1, c.HeadDim, 1, toHF)
	}
}

// spill writes b's linears to a new spill file for block l, float32
// little-endian in LinearNames order, replacing an earlier one.
func (s *blockStore) spill(l int, b *Block) error {
	for i, lin := range b.Linears() {
		want := matrixShape(&s.src.cfg, blockMatrixRoles[i])
		if lin.Out != want[0] || lin.In != want[1] || len(lin.W) != want[0]*want[1] {
			return fmt.Errorf("block %d %s: %d×%d given for %d×%d", l, LinearNames[i], lin.Out, lin.In, want[0], want[1])
		}
	}
	f, err := os.CreateTemp("", fmt.Sprintf("prunebench-block-%03d-", l))
	if err != nil {
		return fmt.Errorf("block %d: spill file for the pruned block: %w", l, err)
	}
	// Unlinked now, the file lives as long as f is open.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return fmt.Errorf("block %d: spill file for the pruned block: %w", l, err)
	}
	if err := writeSpill(f, b); err != nil {
		f.Close()
		return fmt.Errorf("block %d: spilling the pruned block to %s: %w", l, os.TempDir(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.spilled[l]; old != nil {
		old.Close()
	}
	if s.spilled == nil {
		s.spilled = map[int]*os.File{}
	}
	s.spilled[l] = f
	return nil
}

func writeSpill(f *os.File, b *Block) error {
	w := bufio.NewWriterSize(f, 1<<20)
	var buf [4]byte
	for _, lin := range b.Linears() {
		for _, v := range lin.W {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			if _, err := w.Write(buf[:]); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}

func readSpill(f *os.File, b *Block) error {
	var off int64
	for _, lin := range b.Linears() {
		if err := safetensors.ReadFloat32At(f, off, safetensors.F32, lin.W); err != nil {
			return fmt.Errorf("spill file: %w", err)
		}
		off += 4 * int64(len(lin.W))
	}
	return nil
}

func (s *blockStore) reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, f := range s.spilled {
		errs = append(errs, f.Close())
	}
	s.spilled = nil
	return errors.Join(errs...)
}

// finiteTensor refuses a NaN or infinite weight, naming its tensor and the
// first such index. It tests the exponent bits (all ones for NaN and ±Inf)
// on every core: math.IsNaN and math.IsInf on each value, at every block
// read, took a fifth of the CPU time of a perplexity run on a 674 MB F32
// model (a streaming model now checks each linear on its first read only).
func finiteTensor(name string, v []float32) error {
	bad := len(v)
	var mu sync.Mutex
	linalg.ParallelFor(len(v), func(lo, hi int) {
		for i, x := range v[lo:hi] {
			if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
				mu.Lock()
				bad = min(bad, lo+i)
				mu.Unlock()
				return
			}
		}
	})
	if bad < len(v) {
		return fmt.Errorf("tensor %s: value %d of %d is %v; weights must be finite", name, bad, len(v), v[bad])
	}
	return nil
}

// openStreaming builds a streaming model from a checked config: it reads
// the embedding, classifier and block vectors and checks that every block
// linear exists with its shape, reading none of them. ropeFreqs are the
// file's RoPE divisors, nil when the config's scaling (if any) gives them.
func openStreaming(cfg Config, tensors tensorReader, name namer, rotateHalf bool, ropeFreqs []float32, closer io.Closer) (*Model, error) {
	w, err := buildWeights(&cfg, tensors, name, true, ropeFreqs)
	if err != nil {
		return nil, err
	}
	if err := finiteWeights(&w, name); err != nil {
		return nil, err
	}
	if rotateHalf {
		for l := range w.Blocks {
			for i, v := range w.Blocks[l].vectors() {
				permuteRole(&cfg, blockVectorRoles[i], *v, false)
			}
		}
	}
	src := &blockSource{cfg: cfg, tensors: tensors, name: name, rotateHalf: rotateHalf, closer: closer,
		checked: make([]atomic.Bool, cfg.Layers*len(blockMatrixRoles))}
	return &Model{Config: cfg, Weights: w, store: &blockStore{src: src, owner: true}}, nil
}

// materialize reads every block of a streaming model into Weights.Blocks
// and closes its files: the model is resident from then on.
func (m *Model) materialize() error {
	src := m.store.src
	for l := range m.Weights.Blocks {
		b := &m.Weights.Blocks[l]
		for _, lin := range b.Linears() {
			*lin = NewLinear(lin.Out, lin.In)
		}
		if err := src.readBlock(l, b); err != nil {
			return err
		}
	}
	err := m.Close()
	m.store = nil
	return err
}
