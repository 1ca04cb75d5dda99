package runners

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/atomicfile"
	"github.com/prunebench/prunebench/internal/sysmem"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
)

// A prune state is what a pruning run keeps on disk after every finished
// block so that, killed, the same command resumes from the last finished
// block with the same final weights as an uninterrupted run. It is a
// directory (by default OUT.prune-state beside the --out directory):
//
//	manifest.json    the run's ID, the block results, and the size and
//	                 sha256 of every file below; replaced last, atomically
//	block-NNN.bin    the 7 pruned linears of block NNN (0-based), float32
//	                 little-endian in model.LinearNames order
//	inputs-NNN.bin   the inputs of block NNN, the pipeline's checkpoint:
//	                 (nsamples·seqlen)×dim float32 little-endian; only the
//	                 newest is kept, and none once every block is pruned
//	lock             flock'ed while a process uses the state
//
// Every file is written under a temporary name, synced and renamed; the
// manifest is replaced after the files it names, so that a kill at any
// moment leaves the previous or the new block's state. The directory is
// removed when the run succeeds.

const (
	stateFormat   = "prunebench-prune-state-1"
	stateManifest = "manifest.json"
	stateLock     = "lock"
	// StateSuffix names the default state directory: OUT + StateSuffix.
	StateSuffix = ".prune-state"
)

// stateNames are the entries a state directory may hold: its files and
// the temporaries of a write a kill interrupted.
var stateNames = regexp.MustCompile(`^(manifest\.json|lock|(block|inputs)-[0-9]{3,}\.bin|\.(manifest\.json|(block|inputs)-[0-9]{3,}\.bin)\.tmp-[0-9]+)$`)

// StateDir is the state directory of a run saved to out: out.prune-state,
// beside it.
func StateDir(out string) string {
	clean := filepath.Clean(out)
	if b := filepath.Base(clean); b == "." || b == ".." || b == string(filepath.Separator) {
		if abs, err := filepath.Abs(clean); err == nil {
			clean = abs
		}
	}
	return clean + StateSuffix
}

// stateHook, when set (tests), is called after the state of a block is
// committed; an error stops the run there as a kill would.
var stateHook func(block int) error

// stateFile is one file of the state with its checksum.
type stateFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// stateManifestV is the content of manifest.json.
type stateManifestV struct {
	Format string `json:"format"`
	ID     string `json:"id"`
	// Run describes the run for messages: method, pattern, model,
	// calibration.
	Run     string       `json:"run"`
	Layers  int          `json:"layers"`
	Samples int          `json:"samples"`
	SeqLen  int          `json:"seqlen"`
	Dim     int          `json:"dim"`
	Chunk   int          `json:"chunk"`
	Done    int          `json:"blocks_done"`
	Blocks  []stateFile  `json:"block_files"`
	Inputs  *stateFile   `json:"inputs,omitempty"`
	Results []stateBlock `json:"results"`
	// Seconds is the pruning time spent on the finished blocks, over
	// every process that worked on them.
	Seconds stateFloat `json:"seconds"`
}

// stateEnvelope is manifest.json on disk: the manifest and its checksum.
type stateEnvelope struct {
	SHA256 string          `json:"sha256"`
	State  json.RawMessage `json:"state"`
}

// stateFloat keeps NaN and infinities, which JSON numbers cannot hold, and
// every other float64 exactly.
type stateFloat float64

func (f stateFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return json.Marshal(strconv.FormatFloat(v, 'g', -1, 64))
	}
	return []byte(strconv.FormatFloat(v, 'g', -1, 64)), nil
}

func (f *stateFloat) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(math.IsNaN(v) || math.IsInf(v, 0)) {
			return fmt.Errorf("float %q", s)
		}
		*f = stateFloat(v)
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = stateFloat(v)
	return nil
}

type stateLinear struct {
	Name     string     `json:"name"`
	Out      int        `json:"out"`
	In       int        `json:"in"`
	Zeros    int        `json:"zeros"`
	Sparsity stateFloat `json:"sparsity"`
	RelError stateFloat `json:"rel_error"`
	Seconds  stateFloat `json:"seconds"`
	Notes    []string   `json:"notes,omitempty"`
}

type stateBlock struct {
	Block        int           `json:"block"`
	Linears      []stateLinear `json:"linears"`
	Zeros        int           `json:"zeros"`
	Numel        int           `json:"numel"`
	Sparsity     stateFloat    `json:"sparsity"`
	MeanRelError stateFloat    `json:"mean_rel_error"`
	PruneSeconds stateFloat    `json:"prune_seconds"`
	Seconds      stateFloat    `json:"seconds"`
}

func toStateBlock(b prune.BlockResult) stateBlock {
	s := stateBlock{Block: b.Block, Zeros: b.Zeros, Numel: b.Numel, Sparsity: stateFloat(b.Sparsity),
		MeanRelError: stateFloat(b.MeanRelError), PruneSeconds: stateFloat(b.PruneSeconds), Seconds: stateFloat(b.Seconds)}
	for _, l := range b.Linears {
		s.Linears = append(s.Linears, stateLinear{Name: l.Name, Out: l.Out, In: l.In, Zeros: l.Zeros,
			Sparsity: stateFloat(l.Sparsity), RelError: stateFloat(l.RelError), Seconds: stateFloat(l.Seconds), Notes: l.Notes})
	}
	return s
}

func (s stateBlock) result() prune.BlockResult {
	b := prune.BlockResult{Block: s.Block, Zeros: s.Zeros, Numel: s.Numel, Sparsity: float64(s.Sparsity),
		MeanRelError: float64(s.MeanRelError), PruneSeconds: float64(s.PruneSeconds), Seconds: float64(s.Seconds)}
	for _, l := range s.Linears {
		b.Linears = append(b.Linears, prune.LinearResult{Block: s.Block, Name: l.Name, Out: l.Out, In: l.In, Zeros: l.Zeros,
			Sparsity: float64(l.Sparsity), RelError: float64(l.RelError), Seconds: float64(l.Seconds), Notes: l.Notes})
	}
	return b
}

// pruneState is a run's state directory.
type pruneState struct {
	dir, id, run string
	fresh        bool
	progress     io.Writer
	lock         *os.File
	man          *stateManifestV // the committed manifest; nil when none
	// base is the pruning time of the blocks resumed from; start is when
	// this process's pruning began.
	base  float64
	start time.Time
	// broken is set when a write failed: the run goes on without the state.
	broken bool
	// nseq, T are the calibration's shape.
	nseq, T int
	// spill allocates the resumed inputs as the run would its own
	// (prune.NewInputs); freeInputs releases them after the run.
	spill      bool
	freeInputs func()
}

// newInputs allocates the n resumed inputs, to be freed by freeResumed.
func (st *pruneState) newInputs(n int) ([]float32, error) {
	x, free, err := prune.NewInputs(n, st.spill)
	if err != nil {
		return nil, err
	}
	st.freeResumed()
	st.freeInputs = free
	return x, nil
}

// freeResumed releases the inputs newInputs allocated, once the pipeline
// is done with them.
func (st *pruneState) freeResumed() {
	if st != nil && st.freeInputs != nil {
		st.freeInputs()
		st.freeInputs = nil
	}
}

// openState looks at the state directory dir for the run id (described by
// run): a state of another run is refused (discarded with fresh), a
// damaged one discarded with a message. Nothing is created until the first
// block is saved.
func openState(dir, id, run string, fresh bool, progress io.Writer) (*pruneState, error) {
	st := &pruneState{dir: dir, id: id, run: run, fresh: fresh, progress: progress}
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("--state %s: %w", dir, err)
	case fi.Mode()&os.ModeSymlink != 0:
		return nil, fmt.Errorf("--state %s is a symbolic link; name a new directory or one a run left", dir)
	case !fi.IsDir():
		return nil, fmt.Errorf("--state %s exists and is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--state %s: %w", dir, err)
	}
	for _, e := range entries {
		if !stateNames.MatchString(e.Name()) {
			return nil, fmt.Errorf("--state %s holds %s, which is not part of a prune state; name a new directory or one a run left", dir, e.Name())
		}
	}
	if err := st.takeLock(); err != nil {
		return nil, err
	}
	st.removeTemps(entries)
	man, err := st.readManifest()
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A kill before the first manifest: nothing finished.
		return st, st.clear(0)
	case err != nil:
		fmt.Fprintf(progress, "prune: %s is damaged (%v): starting from block 1\n", filepath.Join(dir, stateManifest), err)
		return st, st.clear(0)
	case man.ID != id:
		if fresh {
			fmt.Fprintf(progress, "prune: --fresh: discarding the state in %s of another run (%s)\n", dir, man.Run)
			return st, st.clear(0)
		}
		st.close()
		return nil, fmt.Errorf("--state %s holds blocks 1–%d of another run (%s, ID %s), not of this one (%s, ID %s): other settings or another model; rerun that command to finish it, or pass --fresh to discard it",
			dir, man.Done, man.Run, man.ID, run, id)
	case fresh:
		fmt.Fprintf(progress, "prune: --fresh: discarding blocks 1–%d kept in %s\n", man.Done, dir)
		return st, st.clear(0)
	}
	st.man = man
	return st, nil
}

// takeLock creates dir if needed and locks it for this process.
func (st *pruneState) takeLock() error {
	if st.lock != nil {
		return nil
	}
	if err := os.MkdirAll(st.dir, 0o777); err != nil {
		return fmt.Errorf("--state %s: %w", st.dir, err)
	}
	f, err := os.OpenFile(filepath.Join(st.dir, stateLock), os.O_RDWR|os.O_CREATE, atomicfile.FileMode())
	if err != nil {
		return fmt.Errorf("--state %s: %w", st.dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("--state %s is in use by another prunebench process", st.dir)
		}
		return fmt.Errorf("--state %s: locking: %w", st.dir, err)
	}
	st.lock = f
	return nil
}

// close releases the lock.
func (st *pruneState) close() {
	if st != nil && st.lock != nil {
		st.lock.Close()
		st.lock = nil
	}
}

// removeTemps removes the temporaries of writes a kill interrupted.
func (st *pruneState) removeTemps(entries []os.DirEntry) {
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			os.Remove(filepath.Join(st.dir, e.Name()))
		}
	}
}

func (st *pruneState) readManifest() (*stateManifestV, error) {
	f, err := openRegular(filepath.Join(st.dir, stateManifest))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	switch {
	case err != nil:
		return nil, err
	case len(raw) > maxManifestBytes:
		return nil, fmt.Errorf("more than %d bytes", maxManifestBytes)
	}
	var env stateEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("not a manifest: %v", err)
	}
	sum := sha256.Sum256(env.State)
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return nil, errors.New("checksum mismatch")
	}
	var man stateManifestV
	if err := json.Unmarshal(env.State, &man); err != nil {
		return nil, fmt.Errorf("not a manifest: %v", err)
	}
	switch {
	case man.Format != stateFormat:
		return nil, fmt.Errorf("format %q, want %q", man.Format, stateFormat)
	case man.Done < 0 || man.Done > man.Layers || len(man.Blocks) != man.Done || len(man.Results) != man.Done:
		return nil, fmt.Errorf("%d blocks done of %d with %d files and %d results", man.Done, man.Layers, len(man.Blocks), len(man.Results))
	case man.Done < man.Layers && man.Inputs == nil:
		return nil, fmt.Errorf("%d of %d blocks done and no inputs file", man.Done, man.Layers)
	}
	for i, f := range append(append([]stateFile(nil), man.Blocks...), inputsOrNone(man.Inputs)...) {
		if !stateNames.MatchString(f.Name) || strings.HasPrefix(f.Name, ".") || f.Name == stateManifest || f.Name == stateLock {
			return nil, fmt.Errorf("file %d is named %q", i, f.Name)
		}
	}
	return &man, nil
}

// maxManifestBytes bounds manifest.json: about 2 kB a block.
const maxManifestBytes = 64 << 20

// openRegular opens a state file, refusing anything but a regular file (a
// FIFO would block, a link lead elsewhere).
func openRegular(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return os.Open(path)
}

func inputsOrNone(f *stateFile) []stateFile {
	if f == nil {
		return nil
	}
	return []stateFile{*f}
}

// clear removes the state's files, keeping the first keep blocks'.
func (st *pruneState) clear(keep int) error {
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		return fmt.Errorf("--state %s: %w", st.dir, err)
	}
	keepNames := map[string]bool{stateLock: true}
	if keep > 0 && st.man != nil {
		keepNames[stateManifest] = true
		for _, f := range st.man.Blocks[:keep] {
			keepNames[f.Name] = true
		}
	} else {
		st.man = nil
	}
	for _, e := range entries {
		if keepNames[e.Name()] || !stateNames.MatchString(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(st.dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--state %s: %w", st.dir, err)
		}
	}
	return nil
}

// remove deletes the state directory after a successful run: the manifest
// first, so that a kill midway leaves nothing to resume from.
func (st *pruneState) remove() error {
	if st == nil {
		return nil
	}
	defer st.close()
	if _, err := os.Lstat(st.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	err := os.Remove(filepath.Join(st.dir, stateManifest))
	if err == nil || errors.Is(err, os.ErrNotExist) {
		st.man = nil
		err = st.clear(0)
	}
	if err == nil {
		err = os.Remove(filepath.Join(st.dir, stateLock))
	}
	if err == nil {
		err = os.Remove(st.dir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the prune state %s: %w", st.dir, err)
	}
	return nil
}

// release ends the use of the state by a run that failed: a state that
// holds blocks is kept, and named; an empty one is removed.
func (st *pruneState) release() {
	if st == nil {
		return
	}
	if st.man == nil || st.man.Done == 0 {
		st.remove()
		return
	}
	st.kept()
	st.close()
}

// kept tells the user what a failed or interrupted run leaves.
func (st *pruneState) kept() {
	if st == nil || st.man == nil || st.man.Done == 0 {
		return
	}
	if st.man.Done == st.man.Layers {
		fmt.Fprintf(st.progress, "prune: all %d pruned blocks are kept in %s; the same command resumes after the pruning\n", st.man.Layers, st.dir)
		return
	}
	fmt.Fprintf(st.progress, "prune: blocks 1–%d of %d are kept in %s; the same command resumes from block %d\n",
		st.man.Done, st.man.Layers, st.dir, st.man.Done+1)
}

// checkSpace refuses a state whose files would not fit where it is kept.
func (st *pruneState) checkSpace(m *model.Model, nseq, T int) error {
	need := linearBytes(m) + 2*4*int64(nseq)*int64(T)*int64(m.Config.Dim) + 1<<20
	anc := st.dir
	for {
		if _, err := os.Stat(anc); err == nil || filepath.Dir(anc) == anc {
			break
		}
		anc = filepath.Dir(anc)
	}
	if st.man != nil {
		for _, f := range st.man.Blocks {
			need -= f.Size
		}
	}
	if free, ok := sysmem.DiskFree(anc); ok {
		if free < need {
			return fmt.Errorf("--state %s: keeping the pruning state needs about %d MB but only %d MB are free in %s; name another --state directory or pass --resume=false",
				st.dir, need>>20, free>>20, anc)
		}
	}
	return nil
}

// load puts the finished blocks of the state into m and returns where the
// pipeline resumes (nil: from block 0), the finished blocks' results and
// the calibration chunk to go on with: the block forward's last bits
// depend on the chunk, so the state's is kept when it needs no more memory
// than the run's (chunk, 0 = all).
// Every file is checked against its size and sha256 before m is touched; a
// damaged file drops it and the blocks after it, and the inputs of the
// first missing block are then recomputed through the blocks before it.
func (st *pruneState) load(ctx context.Context, m *model.Model, calib [][]int, chunk int) (*prune.Checkpoint, []prune.BlockResult, int, error) {
	resume, prior, err := st.loadChunk(ctx, m, calib, &chunk)
	return resume, prior, chunk, err
}

// effChunk is the sequences per block forward that chunk means.
func effChunk(chunk, nseq int) int {
	if chunk <= 0 || chunk >= nseq {
		return nseq
	}
	return chunk
}

func (st *pruneState) loadChunk(ctx context.Context, m *model.Model, calib [][]int, chunkp *int) (*prune.Checkpoint, []prune.BlockResult, error) {
	man := st.man
	if man == nil {
		return nil, nil, nil
	}
	cfg := &m.Config
	nseq, T := len(calib), 0
	if nseq > 0 {
		T = len(calib[0])
	}
	if man.Layers != cfg.Layers || man.Samples != nseq || man.SeqLen != T || man.Dim != cfg.Dim {
		fmt.Fprintf(st.progress, "prune: %s is for %d blocks of width %d and %d×%d calibration tokens, not %d, %d and %d×%d: starting from block 1\n",
			filepath.Join(st.dir, stateManifest), man.Layers, man.Dim, man.Samples, man.SeqLen, cfg.Layers, cfg.Dim, nseq, T)
		return nil, nil, st.clear(0)
	}
	orig := *chunkp
	switch kept, now := effChunk(man.Chunk, nseq), effChunk(*chunkp, nseq); {
	case kept < now:
		*chunkp = kept
		fmt.Fprintf(st.progress, "prune: %d of %d calibration sequences per block forward, as the state was written with, for the weights of an uninterrupted run\n", kept, nseq)
	case kept > now:
		fmt.Fprintf(st.progress, "prune: note: the state was written with %d calibration sequences per block forward, more than this run's %d: the weights may differ from an uninterrupted run's in the last bits\n", kept, now)
	}
	chunk := *chunkp
	valid, why := 0, ""
	for valid < man.Done {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("prune: %w", err)
		}
		if err := st.verify(man.Blocks[valid], blockFloats(m)); err != nil {
			why = err.Error()
			break
		}
		valid++
	}
	var x []float32
	if valid == man.Done && man.Inputs != nil {
		var err error
		if x, err = st.newInputs(nseq * T * cfg.Dim); err != nil {
			return nil, nil, fmt.Errorf("prune: %w", err)
		}
		if err := st.read(*man.Inputs, x); err != nil {
			why, x = err.Error(), nil
		}
	}
	for l := range valid {
		if err := st.readBlock(man.Blocks[l], m, l); err != nil {
			// Verified a moment ago: the file changed under us.
			return nil, nil, fmt.Errorf("prune: %w", err)
		}
	}
	prior := make([]prune.BlockResult, valid)
	for l := range valid {
		prior[l] = man.Results[l].result()
	}
	st.base = float64(man.Seconds)
	if valid == man.Layers {
		fmt.Fprintf(st.progress, "prune: all %d blocks were pruned already, read from %s\n", valid, st.dir)
		return nil, prior, nil
	}
	if why == "" {
		fmt.Fprintf(st.progress, "prune: resuming from %s: blocks 1–%d of %d pruned already, going on with block %d\n", st.dir, valid, cfg.Layers, valid+1)
		return &prune.Checkpoint{Block: valid, X: x}, prior, nil
	}
	if valid == 0 {
		fmt.Fprintf(st.progress, "prune: %s: starting from block 1\n", why)
		*chunkp = orig
		st.base = 0
		return nil, nil, st.clear(0)
	}
	// The blocks' results are kept; their time is not counted twice.
	st.base = 0
	for _, b := range prior {
		st.base += b.Seconds
	}
	fmt.Fprintf(st.progress, "prune: %s: resuming from block %d, its inputs recomputed through blocks 1–%d\n", why, valid+1, valid)
	if err := st.clear(valid); err != nil {
		return nil, nil, err
	}
	man.Done, man.Blocks, man.Results, man.Inputs = valid, man.Blocks[:valid], man.Results[:valid], nil
	flat := make([]int, 0, nseq*T)
	for _, w := range calib {
		flat = append(flat, w...)
	}
	x, err := st.newInputs(len(flat) * cfg.Dim)
	if err != nil {
		return nil, nil, fmt.Errorf("prune: %w", err)
	}
	if err := m.EmbedInto(x, flat); err != nil {
		return nil, nil, fmt.Errorf("prune: calibration: %w", err)
	}
	cs := nseq
	if chunk > 0 && chunk < nseq {
		cs = chunk
	}
	step := T * cfg.Dim
	var ws model.Workspace
	for l := range valid {
		b, release, err := m.Block(l)
		if err != nil {
			return nil, nil, fmt.Errorf("prune: block %d inputs: %w", valid, err)
		}
		for s := 0; s < nseq && err == nil; s += cs {
			n := min(cs, nseq-s)
			err = ws.BlockForward(ctx, cfg, b, x[s*step:(s+n)*step], n, T, nil)
		}
		release()
		if err != nil {
			return nil, nil, fmt.Errorf("prune: block %d inputs: %w", valid, err)
		}
	}
	return &prune.Checkpoint{Block: valid, X: x}, prior, nil
}

// blockFloats is the number of weights in a block's 7 linears.
func blockFloats(m *model.Model) int {
	return int(linearBytes(m) / 4 / int64(m.Config.Layers))
}

// save is the pipeline's OnBlock: it keeps block br's pruned linears, the
// inputs of the next block and the results, then replaces the manifest.
// A write that fails stops the state, not the run.
func (st *pruneState) save(m *model.Model, br prune.BlockResult, pruned *model.Block, next prune.Checkpoint, chunk int) error {
	if st.broken {
		return nil
	}
	start := time.Now()
	if err := st.commit(m, br, pruned, next, chunk); err != nil {
		st.broken = true
		fmt.Fprintf(st.progress, "prune: cannot keep the state: %v; going on without it\n", err)
		if st.man != nil && st.man.Done > 0 {
			fmt.Fprintf(st.progress, "prune: a kill now resumes from block %d\n", st.man.Done+1)
		}
		return nil
	}
	written := st.man.Blocks[br.Block].Size
	if st.man.Inputs != nil {
		written += st.man.Inputs.Size
	}
	fmt.Fprintf(st.progress, "prune: block %d/%d kept in %s (%s in %.2fs)\n", br.Block+1, st.man.Layers, st.dir,
		formatBytes(uint64(written)), time.Since(start).Seconds())
	if stateHook != nil {
		return stateHook(br.Block)
	}
	return nil
}

func (st *pruneState) commit(m *model.Model, br prune.BlockResult, pruned *model.Block, next prune.Checkpoint, chunk int) error {
	if err := st.takeLock(); err != nil {
		return err
	}
	cfg := &m.Config
	l := br.Block
	man := stateManifestV{Format: stateFormat, ID: st.id, Run: st.run, Layers: cfg.Layers, Dim: cfg.Dim}
	if st.man != nil {
		man = *st.man
	}
	man.Chunk = effChunk(chunk, st.nseq)
	if l != man.Done {
		return fmt.Errorf("block %d finished after %d kept", l, man.Done)
	}
	man.Samples, man.SeqLen = st.nseq, st.T
	bf, err := st.write(fmt.Sprintf("block-%03d.bin", l), func(w *floatWriter) error {
		for _, lin := range pruned.Linears() {
			if err := w.write(lin.W); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	old := man.Inputs
	man.Inputs = nil
	if next.Block < cfg.Layers {
		in, err := st.write(fmt.Sprintf("inputs-%03d.bin", next.Block), func(w *floatWriter) error { return w.write(next.X) })
		if err != nil {
			return err
		}
		man.Inputs = &in
	}
	man.Done = l + 1
	man.Blocks = append(man.Blocks[:l:l], bf)
	man.Results = append(man.Results[:l:l], toStateBlock(br))
	man.Seconds = stateFloat(st.base + time.Since(st.start).Seconds())
	body, err := json.Marshal(man)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	sum := sha256.Sum256(body)
	raw, err := json.Marshal(stateEnvelope{SHA256: hex.EncodeToString(sum[:]), State: body})
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(st.dir, stateManifest), append(raw, '\n')); err != nil {
		return err
	}
	st.man = &man
	if old != nil && (man.Inputs == nil || old.Name != man.Inputs.Name) {
		os.Remove(filepath.Join(st.dir, old.Name))
	}
	return nil
}

// floatWriter streams float32 values little-endian through a small
// buffer into a file and its checksum, so that a checkpoint of gigabytes
// is never copied in memory.
type floatWriter struct {
	w   *bufio.Writer
	buf []byte
}

const floatChunk = 1 << 16 // values per conversion

func (w *floatWriter) write(v []float32) error {
	for len(v) > 0 {
		n := min(len(v), floatChunk)
		b := w.buf[:4*n]
		for i, f := range v[:n] {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
		if _, err := w.w.Write(b); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}

// write writes the state file name with fill, atomically, and returns its
// size and checksum.
func (st *pruneState) write(name string, fill func(*floatWriter) error) (stateFile, error) {
	path := filepath.Join(st.dir, name)
	f, err := atomicfile.Create(path)
	if err != nil {
		return stateFile{}, err
	}
	defer f.Abort()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	w := &floatWriter{w: bufio.NewWriterSize(cw, 1<<20), buf: make([]byte, 4*floatChunk)}
	if err := fill(w); err != nil {
		return stateFile{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := w.w.Flush(); err != nil {
		return stateFile{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Commit(); err != nil {
		return stateFile{}, err
	}
	return stateFile{Name: name, Size: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// scan reads the state file f, checks its size (n float32 values) and
// sha256, and hands its values to use chunk by chunk (nil: checksum only).
// The checksum is known only at the end: a caller that must not keep
// damaged values verifies first.
func (st *pruneState) scan(f stateFile, n int, use func(off int, v []float32)) error {
	path := filepath.Join(st.dir, f.Name)
	if f.Size != 4*int64(n) {
		return fmt.Errorf("%s: the manifest gives %d bytes, the model needs %d", path, f.Size, 4*int64(n))
	}
	file, err := openRegular(path)
	if err != nil {
		return err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != f.Size {
		return fmt.Errorf("%s: %d bytes, the manifest gives %d (torn or changed)", path, fi.Size(), f.Size)
	}
	h := sha256.New()
	r := bufio.NewReaderSize(file, 1<<20)
	buf := make([]byte, 4*floatChunk)
	var vals []float32
	if use != nil {
		vals = make([]float32, floatChunk)
	}
	for off := 0; off < n; {
		k := min(n-off, floatChunk)
		b := buf[:4*k]
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		h.Write(b)
		if use != nil {
			for i := range k {
				vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
			use(off, vals[:k])
		}
		off += k
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("%s: sha256 %s, the manifest gives %s (damaged)", path, got[:12], shortSum(f.SHA256))
	}
	return nil
}

func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// verify checks f against its checksum without keeping its values.
func (st *pruneState) verify(f stateFile, n int) error { return st.scan(f, n, nil) }

// read fills x with the state file f.
func (st *pruneState) read(f stateFile, x []float32) error {
	return st.scan(f, len(x), func(off int, v []float32) { copy(x[off:], v) })
}

// readBlock puts the linears of the state file f into block l of m.
func (st *pruneState) readBlock(f stateFile, m *model.Model, l int) error {
	b, release, err := m.Block(l)
	if err != nil {
		return err
	}
	defer release()
	lins := b.Linears()
	err = st.scan(f, blockFloats(m), func(off int, v []float32) {
		for _, lin := range lins {
			if off < len(lin.W) {
				k := copy(lin.W[off:], v)
				v = v[k:]
				off = 0
				if len(v) == 0 {
					return
				}
				continue
			}
			off -= len(lin.W)
		}
	})
	if err != nil {
		return err
	}
	return m.CommitBlock(l, b)
}

// pruneStateID is the ID of the pruning part of a run, the run's ID
// (runID) without its evaluations: a state is kept for the pruned weights,
// which the evaluations do not change.
func (s *session) pruneStateID(method MethodSpec, p prune.Pattern, calib data.CalibSpec, calibFiles []data.FileRef) string {
	return s.runID(&prepared{spec: RunSpec{Method: method, Pattern: p, Calib: calib}, method: method}, calibFiles)
}

// describeRun names a pruning run in state messages.
func describeRun(model string, method MethodSpec, p prune.Pattern, c data.CalibSpec) string {
	mode := c.Mode
	if mode == "" {
		mode = data.ModeContiguous
	}
	return fmt.Sprintf("%s %s of %s, calibration %s %d×%d", method.Name, p, model, mode, c.NSamples, c.SeqLen)
}

// standaloneStateID is pruneStateID for Prune, which gets a loaded model
// rather than a session: the model's files are hashed here.
func standaloneStateID(m *model.Model, s PruneSpec, method MethodSpec) (string, error) {
	files := make([]data.FileRef, len(m.Files))
	for i, f := range m.Files {
		var err error
		if files[i], err = data.Ref(f); err != nil {
			return "", fmt.Errorf("--state: %w", err)
		}
	}
	c := s.Calib
	if c.Mode == data.ModeContiguous || c.Mode == "" {
		c.Seed = 0 // contiguous draws nothing
	}
	calibFiles, err := calibSourceFiles(data.Dir(s.DataDir), c)
	if err != nil {
		return "", err
	}
	sess := &session{m: m, files: files}
	return sess.pruneStateID(method, s.Pattern, c, calibFiles), nil
}

// mergeResult puts the results of the blocks resumed from before those the
// pipeline pruned and totals them as the pipeline does (Result.Total), so that the report
// of a resumed run equals an uninterrupted one's (times aside).
func mergeResult(res *prune.Result, prior []prune.BlockResult, base float64) {
	res.Blocks = append(prior, res.Blocks...)
	res.Total()
	res.Seconds += base
}

// checkStatePaths refuses a state directory that is the output directory
// or lies inside it, or holds it: the save needs a new or empty --out.
func checkStatePaths(state, out string) error {
	if state == "" || out == "" {
		return nil
	}
	a, errA := filepath.Abs(state)
	b, errB := filepath.Abs(out)
	if errA != nil || errB != nil {
		return nil
	}
	inside := func(x, dir string) bool {
		rel, err := filepath.Rel(dir, x)
		return err == nil && (rel == "." || rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
	}
	if inside(a, b) || inside(b, a) {
		return fmt.Errorf("--state %s and --out %s: the state directory must lie outside the output directory and not hold it", state, out)
	}
	return nil
}

// finishState ends the state of the run execute ran: removed when the run
// succeeded (its output saved), kept and named when it failed after the
// pruning (an evaluation, the save, a signal).
func (s *session) finishState(o *Outcome, err error) (*Outcome, error) {
	po := s.lastPrune
	s.lastPrune = nil
	if po == nil || po.state == nil {
		if o != nil && po != nil {
			o.Resumed = po.Resumed
		}
		return o, err
	}
	if err != nil {
		po.state.release()
		po.state = nil
		return nil, err
	}
	o.Resumed = po.Resumed
	po.removeState(s.progress)
	return o, nil
}
