package runners

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/model"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/results"
	"github.com/prunebench/prunebench/safetensors"
	"github.com/prunebench/prunebench/tokenizer"
)

// Outcome is what Run produced: the record, and the details behind it that
// the CLI verbs print.
type Outcome struct {
	Record results.Record
	// Method is the resolved method spec (Dense for the dense model).
	Method MethodSpec
	// ModelFiles are the files the model was loaded from.
	ModelFiles []data.FileRef
	// Prune holds the per-linear results; nil for the dense model.
	Prune    *prune.Result
	Calib    data.Provenance
	PPL      []PPLOutcome
	ZeroShot []eval.TaskResult // in Eval.ZeroShot.Tasks order
	KLD      *eval.KLDResult
	// Resumed is the number of pruned blocks taken from the state an
	// earlier, interrupted run of the same settings left (RunSpec.State).
	Resumed int
}

// PPLOutcome is one perplexity evaluation with the text it scored.
type PPLOutcome struct {
	Spec   PPLSpec
	Metric string
	Text   data.FileRef
	eval.PPLResult
}

// Run executes one run: resolve the model (path and sha256) → calibrate →
// prune → evaluate → optionally save → record. The CLI verbs are thin
// wrappers over it and the experiment harness (Sweep) runs every run of a
// config through the same session code. Everything in s is validated, and
// the evaluation inputs read, before the model is pruned, so that a wrong
// file fails in a second rather than after the pruning.
func Run(ctx context.Context, s RunSpec) (*Outcome, error) {
	sess := newSession(s.DataDir, s.Model, s.Progress)
	defer sess.close()
	p, err := sess.prepare(ctx, s)
	if err != nil {
		return nil, err
	}
	o, err := sess.execute(ctx, p)
	return sess.finishState(o, err)
}

// Validate checks s on its own, before any file is read: the method and
// its options, the pattern, the calibration counts and the evaluation
// settings. Messages name the CLI flags; the experiment configs check the
// same things with file positions first.
func Validate(s RunSpec) error {
	if s.Model == "" {
		return errors.New("--model is required")
	}
	if s.State != "" {
		if s.Method.Name == Dense {
			return errors.New("--state applies to a pruning run (--method)")
		}
		if err := checkStatePaths(s.State, s.Out); err != nil {
			return err
		}
	}
	if s.Method.Name != Dense {
		if _, err := s.Method.Resolved(); err != nil {
			return err
		}
		if err := s.Pattern.Validate(); err != nil {
			return err
		}
		c := s.Calib
		switch {
		case c.NSamples < 1:
			return fmt.Errorf("--nsamples %d: must be ≥ 1", c.NSamples)
		case c.SeqLen != 0 && c.SeqLen < 2:
			return fmt.Errorf("--seqlen %d: a calibration window needs at least 2 tokens (0 = the model's context length)", c.SeqLen)
		case s.ChunkSeqs < 0:
			return fmt.Errorf("--chunk %d: must be ≥ 0 (0 = all sequences at once)", s.ChunkSeqs)
		case c.SeqLen > 0 && c.NSamples > data.MaxCalibTokens/c.SeqLen:
			return fmt.Errorf("--nsamples %d × --seqlen %d: more than %d tokens, the limit for one calibration", c.NSamples, c.SeqLen, data.MaxCalibTokens)
		}
		switch c.Mode {
		case data.ModeContiguous, data.ModeRandom:
		case data.ModeC4:
			for i, shard := range strings.Split(c.Source, ",") {
				if strings.TrimSpace(shard) == "" {
					return fmt.Errorf("--calib %q: shard %d of the comma-separated list is empty", c.Source, i+1)
				}
			}
		default:
			return fmt.Errorf("--calib-mode %q: want %s, %s or %s", c.Mode, data.ModeContiguous, data.ModeRandom, data.ModeC4)
		}
	}
	for _, p := range s.Eval.PPL {
		if err := checkWindows(p.Protocol, p.SeqLen, p.MaxWindows); err != nil {
			return err
		}
	}
	if k := s.Eval.KLD; k != nil {
		if err := checkWindows(eval.ProtocolWanda, k.SeqLen, k.MaxWindows); err != nil {
			return fmt.Errorf("kld: %w", err)
		}
	}
	if z := s.Eval.ZeroShot; z != nil {
		if z.Limit < 0 {
			return fmt.Errorf("--limit %d: must be ≥ 0", z.Limit)
		}
		switch z.HellaSwagCtx {
		case "", eval.HellaSwagCapitalizeTail, eval.HellaSwagAsIs:
		default:
			return fmt.Errorf("--hellaswag-ctx %q: want %s or %s", z.HellaSwagCtx, eval.HellaSwagCapitalizeTail, eval.HellaSwagAsIs)
		}
		seen := map[string]bool{}
		for _, n := range z.Tasks {
			switch {
			case n == "":
				return fmt.Errorf("--tasks: empty task name (want a comma-separated list from %s)", strings.Join(eval.TaskNames(), ","))
			case seen[n]:
				// Twice the same task would count twice in the mean accuracy.
				return fmt.Errorf("--tasks: %s is named twice", n)
			}
			seen[n] = true
		}
	}
	return nil
}

func checkWindows(protocol string, seqlen, maxWindows int) error {
	if protocol != "" && protocol != eval.ProtocolWanda && protocol != eval.ProtocolLlamaCpp {
		return fmt.Errorf("--protocol %q: want wanda or llamacpp", protocol)
	}
	if protocol == "" {
		protocol = eval.ProtocolWanda
	}
	if maxWindows < 0 {
		return fmt.Errorf("--max-windows %d: must be ≥ 0 (0 = all windows)", maxWindows)
	}
	if minT := eval.MinSeqLen(protocol); seqlen != 0 && seqlen < minT {
		return fmt.Errorf("--seqlen %d: the %s protocol needs windows of at least %d tokens to score one (0 = the model's context length)", seqlen, protocol, minT)
	}
	return nil
}

// session holds what the runs of one model share: the opened model
// (streaming its blocks; a run's pruned blocks are spilled to disk and
// forgotten before the next run, and its checkpoint serves as KLD's dense
// reference) and the checksums of its files, the calibration windows
// (identical for every method), tokenised evaluation texts and loaded
// tasks.
type session struct {
	dataDir, name string
	progress      io.Writer
	m             *model.Model
	files         []data.FileRef
	loadSeconds   float64
	// pruned tells whether m has pruned blocks (spilled to disk), which the
	// next run forgets.
	pruned bool
	calib  map[string]*calibCapture
	texts  map[string]*evalText
	tasks  map[string]*eval.Task

	// lastPrune is the pruning of the run under way, whose state (when
	// kept) finishState removes or keeps.
	lastPrune *PruneOutcome
}

type calibCapture struct {
	windows [][]int
	prov    data.Provenance
	seconds float64
}

type evalText struct {
	ref    data.FileRef
	tokens []int
}

func newSession(dataDir, name string, progress io.Writer) *session {
	if progress == nil {
		progress = io.Discard
	}
	return &session{dataDir: data.Dir(dataDir), name: name, progress: progress,
		calib: map[string]*calibCapture{}, texts: map[string]*evalText{}, tasks: map[string]*eval.Task{}}
}

// open loads the model once.
func (s *session) open() error {
	if s.m != nil {
		return nil
	}
	start := time.Now()
	m, files, err := OpenModel(s.dataDir, s.name)
	if err != nil {
		return err
	}
	s.m, s.files, s.loadSeconds = m, files, time.Since(start).Seconds()
	return nil
}

// close releases the model's files and its spilled blocks; a nil or
// unopened session is a no-op.
func (s *session) close() {
	if s == nil || s.m == nil {
		return
	}
	if err := s.m.Close(); err != nil {
		fmt.Fprintf(s.progress, "closing %s: %v\n", s.name, err)
	}
	s.m = nil
}

// OpenModel resolves name (a short name in the data directory only, or a
// path), verifies the registered files it involves, opens the model
// streaming its blocks (model.Open; Close releases it) and returns the
// path, size and sha256 of every file it was loaded from.
func OpenModel(dataDir, name string) (*model.Model, []data.FileRef, error) {
	m, err := openResolved(dataDir, name)
	if err != nil {
		return nil, nil, err
	}
	files := make([]data.FileRef, len(m.Files))
	for i, f := range m.Files {
		if files[i], err = data.Ref(f); err != nil {
			m.Close()
			return nil, nil, fmt.Errorf("--model %s: %w", name, err)
		}
	}
	return m, files, nil
}

// openResolved opens (streaming) the model name names in the data
// directory dataDir, after verifying its registered files.
func openResolved(dataDir, name string) (*model.Model, error) {
	dir := data.Dir(dataDir)
	path, err := data.ResolveModel(dir, name)
	if err != nil {
		return nil, fmt.Errorf("--model %s: %w", name, err)
	}
	// A checkpoint file is read with the vocabulary beside it: verify the
	// registered files of its directory too, before anything is parsed, and
	// of where a symbolic link leads as well as of where it lies.
	for _, p := range modelPaths(path) {
		if err := data.VerifyPath(dir, p); err != nil {
			return nil, fmt.Errorf("--model %s: %w", name, err)
		}
	}
	return model.Open(path)
}

// ModelTokenizer returns the vocabulary of the model name names, as
// OpenModel finds the model but without hashing its files, which a run
// records and a look at the vocabulary does not need (the sha256 of an 8B
// checkpoint's 16 GB).
func ModelTokenizer(dataDir, name string) (tokenizer.Tokenizer, error) {
	m, err := openResolved(dataDir, name)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("--model %s: the model has no vocabulary", name)
	}
	return m.Tokenizer, nil
}

// prepared is a run whose settings are resolved against the model and the
// data: everything its ID depends on is known.
type prepared struct {
	spec     RunSpec
	id       string
	method   MethodSpec // resolved
	calibKey string
	ppl      []pplInput
	tasks    []*eval.Task
	kld      *evalText
	kldOpts  eval.KLDOptions
	// stateID identifies the pruning for its state (pruneStateID).
	stateID string
}

type pplInput struct {
	spec   PPLSpec
	metric string
	text   *evalText
	opts   eval.PPLOptions
}

// prepare validates spec, loads the model and reads every evaluation input,
// and computes the run's ID.
func (s *session) prepare(ctx context.Context, spec RunSpec) (*prepared, error) {
	if err := Validate(spec); err != nil {
		return nil, err
	}
	if spec.Model != s.name {
		return nil, fmt.Errorf("run of model %s in the session of %s", spec.Model, s.name)
	}
	p := &prepared{spec: spec, method: MethodSpec{Name: Dense}}
	// Tasks first: a bad task file fails before a large model loads.
	if z := spec.Eval.ZeroShot; z != nil {
		names := z.Tasks
		if len(names) == 0 {
			names = eval.PaperTaskNames()
		}
		for _, n := range names {
			t, err := s.task(n, z.HellaSwagCtx)
			if err != nil {
				return nil, err
			}
			p.tasks = append(p.tasks, t)
		}
	}
	if spec.Fetch != nil && s.m == nil {
		if err := spec.Fetch(ctx, spec.Model); err != nil {
			return nil, err
		}
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	m := s.m
	if spec.Out != "" {
		// Every reason the save would fail, before hours of pruning.
		if err := checkOut(m, spec.Out); err != nil {
			return nil, fmt.Errorf("--out %s: %w", spec.Out, err)
		}
	}
	names := PPLMetricNames(spec.Eval.PPL)
	for i, ps := range spec.Eval.PPL {
		in := pplInput{spec: ps, metric: names[i]}
		in.opts = eval.PPLOptions{Protocol: ps.Protocol, SeqLen: ps.SeqLen, MaxWindows: ps.MaxWindows, BOS: chunkBOS(m)}
		if in.opts.Protocol == "" {
			in.opts.Protocol = eval.ProtocolWanda
		}
		if ps.SeqLen > m.Config.SeqLen {
			return nil, fmt.Errorf("evaluation seqlen %d exceeds the model's context length %d", ps.SeqLen, m.Config.SeqLen)
		}
		var err error
		if in.text, err = s.text(ps.Dataset); err != nil {
			return nil, err
		}
		if _, err := eval.PlanPerplexity(len(in.text.tokens), m.Config.SeqLen, in.opts); err != nil {
			return nil, fmt.Errorf("--dataset %s (%s): %w", ps.Dataset, in.text.ref.Path, err)
		}
		p.ppl = append(p.ppl, in)
	}
	if k := spec.Eval.KLD; k != nil {
		if k.SeqLen > m.Config.SeqLen {
			return nil, fmt.Errorf("kld: --seqlen %d exceeds the model's context length %d", k.SeqLen, m.Config.SeqLen)
		}
		var err error
		if p.kld, err = s.text(k.Dataset); err != nil {
			return nil, fmt.Errorf("kld: %w", err)
		}
		p.kldOpts = eval.KLDOptions{SeqLen: k.SeqLen, MaxWindows: k.MaxWindows}
		if _, err := eval.PlanPerplexity(len(p.kld.tokens), m.Config.SeqLen, eval.PPLOptions{SeqLen: k.SeqLen, MaxWindows: k.MaxWindows}); err != nil {
			return nil, fmt.Errorf("kld: --dataset %s (%s): %w", k.Dataset, p.kld.ref.Path, err)
		}
	}
	var calibFiles []data.FileRef
	if spec.Method.Name != Dense {
		var err error
		if p.method, err = spec.Method.Resolved(); err != nil {
			return nil, err
		}
		if p.spec.Calib, err = checkPrune(m, p.pruneSpec()); err != nil {
			return nil, err
		}
		if p.spec.Calib.Mode == data.ModeContiguous || p.spec.Calib.Mode == "" {
			p.spec.Calib.Seed = 0 // contiguous draws nothing
		}
		if calibFiles, err = calibSourceFiles(s.dataDir, p.spec.Calib); err != nil {
			return nil, err
		}
		p.calibKey = calibKey(p.spec.Calib)
	}
	p.id = s.runID(p, calibFiles)
	if spec.State != "" && spec.Method.Name != Dense {
		p.stateID = s.pruneStateID(p.method, p.spec.Pattern, p.spec.Calib, calibFiles)
	}
	return p, nil
}

// calibSourceFiles resolves the calibration's files without sampling from
// them, for the run's ID.
func calibSourceFiles(dir string, c data.CalibSpec) ([]data.FileRef, error) {
	if c.Mode != data.ModeC4 {
		src := c.Source
		if src == "" {
			src = data.CorpusWikiText2Valid
		}
		t, err := data.ReadText(dir, src)
		if err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
		return []data.FileRef{t.FileRef}, nil
	}
	var refs []data.FileRef
	for _, shard := range strings.Split(c.Source, ",") {
		path, err := data.ResolvePath(strings.TrimSpace(shard))
		if err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
		ref, err := data.Ref(path)
		if err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

func calibKey(c data.CalibSpec) string {
	return fmt.Sprintf("%s\x00%s\x00%d\x00%d\x00%d", c.Mode, c.Source, c.NSamples, c.SeqLen, c.Seed)
}

// text reads and tokenises an evaluation dataset once per session (BOS
// once, dummy prefix once).
func (s *session) text(dataset string) (*evalText, error) {
	if t, ok := s.texts[dataset]; ok {
		return t, nil
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	text, err := data.ReadText(s.dataDir, dataset)
	if err != nil {
		return nil, fmt.Errorf("--dataset %s: %w", dataset, err)
	}
	t := &evalText{ref: text.FileRef, tokens: s.m.Tokenizer.Encode(text.Text, s.m.AddBOS(), false)}
	s.texts[dataset] = t
	return t, nil
}

func (s *session) task(name, hsCtx string) (*eval.Task, error) {
	if hsCtx == "" {
		hsCtx = eval.HellaSwagCapitalizeTail
	}
	key := name + "\x00" + hsCtx
	if t, ok := s.tasks[key]; ok {
		return t, nil
	}
	t, err := eval.LoadTask(name, s.dataDir, eval.LoadOptions{HellaSwagCtx: hsCtx})
	if err != nil {
		return nil, fmt.Errorf("--tasks: %w", err)
	}
	s.tasks[key] = t
	return t, nil
}

// PPLMetricNames names each perplexity metric "<dataset>_ppl", with
// "_llamacpp" for that protocol, and "_<seqlen>" when one run scores the
// same dataset and protocol at several lengths. A dataset given as a path
// is named by its file name without extension.
func PPLMetricNames(specs []PPLSpec) []string {
	base := make([]string, len(specs))
	count := map[string]int{}
	for i, p := range specs {
		name := datasetName(p.Dataset) + "_ppl"
		if p.Protocol == eval.ProtocolLlamaCpp {
			name += "_llamacpp"
		}
		base[i] = name
		count[name]++
	}
	names := make([]string, len(specs))
	for i, p := range specs {
		switch {
		case p.Metric != "":
			names[i] = p.Metric
		case count[base[i]] > 1:
			names[i] = fmt.Sprintf("%s_%d", base[i], p.SeqLen)
		default:
			names[i] = base[i]
		}
	}
	return names
}

// EvalMetrics lists the metric names a run with evaluations e may record,
// for checking a metric asked for before the runs.
func EvalMetrics(e EvalSpec) []string {
	names := PPLMetricNames(e.PPL)
	if z := e.ZeroShot; z != nil {
		tasks := z.Tasks
		if len(tasks) == 0 {
			tasks = eval.PaperTaskNames()
		}
		for _, t := range tasks {
			names = append(names, t+"_acc", t+"_acc_norm")
		}
		names = append(names, results.MetricMeanAccPaper7)
	}
	if e.KLD != nil {
		names = append(names, results.MetricKLD, results.MetricSameTop, results.MetricPPLRatio)
	}
	return names
}

var unsafeMetric = regexp.MustCompile(`[^A-Za-z0-9]+`)

// ggufOut tells a GGUF output (a file named *.gguf, written in F32, which
// keeps the pruned float32 weights exactly) from a Hugging Face directory.
func ggufOut(out string) bool { return strings.EqualFold(filepath.Ext(out), ".gguf") }

// checkOut runs, before any work, the checks saveOut would fail on.
func checkOut(m *model.Model, out string) error {
	if ggufOut(out) {
		return model.CheckSaveGGUF(m, out, safetensors.F32)
	}
	return model.CheckSaveHF(m, out)
}

// saveOut saves the pruned model to out, a GGUF file or an HF directory.
func saveOut(ctx context.Context, m *model.Model, out string) error {
	if ggufOut(out) {
		return model.SaveGGUF(ctx, m, out, safetensors.F32)
	}
	return model.SaveHFContext(ctx, m, out)
}

// chunkBOS is the BOS the llamacpp protocol puts first in each chunk: the
// vocabulary's, when texts fed to the model start with one (Model.AddBOS,
// which is how the calibration and evaluation texts are encoded too), else
// none, as llama.cpp's perplexity tool decides from add_bos_token.
func chunkBOS(m *model.Model) int {
	if m.AddBOS() {
		return m.Tokenizer.BOS()
	}
	return -1
}

func datasetName(d string) string {
	if data.IsName(d) {
		return strings.ReplaceAll(d, "-", "_")
	}
	base := filepath.Base(d)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	return strings.Trim(unsafeMetric.ReplaceAllString(base, "_"), "_")
}

// runIDVersion changes when what an ID covers changes.
const runIDVersion = "prunebench-run-1"

// runID hashes everything that changes a run's numbers: the model's and
// the data's checksums and every resolved setting, and nothing that does
// not (output paths, progress, the calibration chunk). The calibration's
// source is identified by its checksum, not by how it was named.
func (s *session) runID(p *prepared, calibFiles []data.FileRef) string {
	type evalKey struct {
		PPL []any `json:"ppl,omitempty"`
		ZS  any   `json:"zeroshot,omitempty"`
		KLD any   `json:"kld,omitempty"`
	}
	sums := func(refs []data.FileRef) []string {
		out := make([]string, len(refs))
		for i, r := range refs {
			out[i] = r.SHA256
		}
		return out
	}
	var ek evalKey
	for _, in := range p.ppl {
		seqlen := in.spec.SeqLen
		if seqlen == 0 {
			seqlen = s.m.Config.SeqLen
		}
		ek.PPL = append(ek.PPL, []any{in.metric, in.text.ref.SHA256, in.opts.Protocol, seqlen, in.spec.MaxWindows})
	}
	if z := p.spec.Eval.ZeroShot; z != nil {
		var tasks []any
		for _, t := range p.tasks {
			tasks = append(tasks, []any{t.Name, sums(t.Files), t.Settings})
		}
		ek.ZS = []any{tasks, z.Limit}
	}
	if k := p.spec.Eval.KLD; k != nil {
		seqlen := k.SeqLen
		if seqlen == 0 {
			seqlen = s.m.Config.SeqLen
		}
		ek.KLD = []any{p.kld.ref.SHA256, seqlen, k.MaxWindows}
	}
	key := map[string]any{
		"v":      runIDVersion,
		"model":  sums(s.files),
		"method": p.method.Record(),
		"eval":   ek,
	}
	if p.method.Name != Dense {
		c := p.spec.Calib
		mode := c.Mode
		if mode == "" {
			mode = data.ModeContiguous
		}
		key["pattern"] = p.spec.Pattern.String()
		key["calibration"] = []any{mode, sums(calibFiles), c.NSamples, c.SeqLen, c.Seed}
	}
	b, err := json.Marshal(key)
	if err != nil {
		panic(fmt.Sprintf("run ID of plain values: %v", err)) // cannot happen: only strings, numbers and maps
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// pruneSpec is the pruning step's part of the run.
func (p *prepared) pruneSpec() PruneSpec {
	return PruneSpec{Method: p.spec.Method, Pattern: p.spec.Pattern, Calib: p.spec.Calib, DataDir: p.spec.DataDir,
		ChunkSeqs: p.spec.ChunkSeqs, Progress: p.spec.Progress,
		State: p.spec.State, FreshState: p.spec.FreshState, stateID: p.stateID,
		stateRun: describeRun(p.spec.Model, p.method, p.spec.Pattern, p.spec.Calib)}
}

// execute prunes and evaluates a prepared run. The model is restored to
// its dense weights first when an earlier run pruned it.
func (s *session) execute(ctx context.Context, p *prepared) (*Outcome, error) {
	start := time.Now()
	spec := p.spec
	out := &Outcome{Method: p.method, ModelFiles: s.files}
	rec := results.Record{
		ID: p.id, Config: spec.Config,
		Model:   results.ModelRef{Name: spec.Model, Files: fileRefs(s.files)},
		Method:  p.method.Record(),
		Metrics: map[string]float64{},
	}
	rec.Seconds.Load = s.loadSeconds
	s.loadSeconds = 0 // counted once, by the session's first run
	if err := s.restoreDense(); err != nil {
		return nil, err
	}
	if p.method.Name != Dense {
		s.pruned = true
		var calibSeconds float64
		ps := p.pruneSpec()
		if ps.ChunkSeqs == 0 {
			ps.ChunkSeqs, ps.SpillInputs = autoChunk(&s.m.Config, ps.Calib.NSamples, ps.Calib.SeqLen, memoryBudget(spec.MaxMemory))
			reportChunk(s.progress, ps.ChunkSeqs, ps.SpillInputs, ps.Calib.NSamples)
		}
		po, err := prunePrepared(ctx, s.m, ps, func(c data.CalibSpec) ([][]int, data.Provenance, error) {
			cc, fresh, err := s.calibrate(p)
			if err != nil {
				return nil, data.Provenance{}, err
			}
			if fresh {
				// Windows reused from an earlier run cost this one nothing.
				calibSeconds = cc.seconds
			}
			return cc.windows, cc.prov, nil
		})
		if err != nil {
			return nil, err
		}
		s.lastPrune = po
		res, prov := po.Result, po.Calib
		rec.Seconds.Calibration = calibSeconds
		out.Prune, out.Calib = res, prov
		rec.Pattern = spec.Pattern.String()
		rec.Achieved = &res.Sparsity
		rec.Calibration = &results.Calibration{Source: calibSourceName(spec.Calib), Mode: prov.Mode, NSamples: prov.NSamples,
			SeqLen: prov.SeqLen, Seed: prov.Seed, Tokens: prov.Tokens, Files: fileRefs(prov.Files)}
		rec.Layers = layerSummary(res)
		rec.Seconds.Prune = res.Seconds
	}
	evalStart := time.Now()
	if err := s.evaluate(ctx, p, out, &rec); err != nil {
		return nil, err
	}
	rec.Seconds.Eval = time.Since(evalStart).Seconds()
	if spec.Out != "" {
		fmt.Fprintf(s.progress, "prune: saving %s\n", spec.Out)
		if err := saveOut(ctx, s.m, spec.Out); err != nil {
			return nil, fmt.Errorf("--out %s: %w", spec.Out, err)
		}
		rec.Out = spec.Out
		fmt.Fprintf(s.progress, "prune: saved %s\n", spec.Out)
	}
	rec.Seconds.Total = time.Since(start).Seconds() + rec.Seconds.Load
	rec.Provenance = provenance()
	out.Record = rec
	return out, nil
}
