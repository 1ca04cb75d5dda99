package experiments

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/eval"
	"github.com/prunebench/prunebench/prune"
	"github.com/prunebench/prunebench/runners"
)

// config is a validated config before expansion, with the nodes that
// later checks point at.
type config struct {
	name, title, output string
	models              []string
	calib               data.CalibSpec
	seeds               []uint64
	chunk               int
	items               []*methodItem
	axes                []*gridAxis
	sparsities          []prune.Pattern
	eval                runners.EvalSpec
}

// methodItem is one item of methods.
type methodItem struct {
	path string     // methods[i]
	node *yaml.Node // the method's name
	spec runners.MethodSpec
	// vals are the nodes of the options given, by option name.
	vals map[string]*yaml.Node
}

// optPath is the key path of one of the item's options.
func (it *methodItem) optPath(opt string) string { return join(it.path, it.spec.Name+"."+opt) }

// gridAxis is one key of grid.
type gridAxis struct {
	GridAxis
	path string     // grid.admm-grad.rho
	key  *yaml.Node // the key
	vals []*yaml.Node
}

var (
	topKeys      = []string{"name", "title", "models", "model", "calibration", "methods", "sparsities", "grid", "evaluate", "output"}
	requiredKeys = []string{"name", "models", "methods", "sparsities", "evaluate", "output"}
	calibKeys    = []string{"source", "nsamples", "seqlen", "mode", "seeds", "seed", "chunk"}
	evalKeys     = []string{"ppl", "zeroshot", "kld"}
	pplKeys      = []string{"dataset", "protocol", "seqlen", "max_windows", "metric"}
	zeroShotKeys = []string{"tasks", "limit", "hellaswag_ctx"}
	kldKeys      = []string{"dataset", "seqlen", "max_windows"}

	validName   = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	validMetric = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

func (p *parser) config(root *yaml.Node) (*config, error) {
	fs, err := p.fields(root, "", topKeys, false)
	if err != nil {
		return nil, err
	}
	for _, k := range requiredKeys {
		if _, ok := fs[k]; ok {
			continue
		}
		if k == "models" {
			if _, ok := fs["model"]; ok {
				continue
			}
			return nil, p.errorf(root, "", "missing required key \"models\" (or \"model\" for one model)")
		}
		return nil, p.errorf(root, "", "missing required key %q", k)
	}
	c := &config{}
	if c.name, err = p.str(fs["name"].val, "name"); err != nil {
		return nil, err
	}
	switch {
	case !validName.MatchString(c.name):
		return nil, p.errorf(fs["name"].val, "name", "%s: want letters, digits, '.', '_' and '-' only", quote(c.name))
	case strings.Trim(c.name, ".") == "":
		return nil, p.errorf(fs["name"].val, "name", "%s: want a name, not only dots", quote(c.name))
	}
	c.title = c.name
	if e, ok := fs["title"]; ok {
		if c.title, err = p.name(e.val, "title"); err != nil {
			return nil, err
		}
	}
	if c.models, err = p.models(fs); err != nil {
		return nil, err
	}
	if c.calib, c.seeds, c.chunk, err = p.calibration(fs["calibration"]); err != nil {
		return nil, err
	}
	if c.items, err = p.methods(fs["methods"].val); err != nil {
		return nil, err
	}
	if c.sparsities, err = p.sparsities(fs["sparsities"].val); err != nil {
		return nil, err
	}
	if e, ok := fs["grid"]; ok {
		if c.axes, err = p.grid(e.val, c.items); err != nil {
			return nil, err
		}
	}
	if c.eval, err = p.evaluate(fs["evaluate"].val); err != nil {
		return nil, err
	}
	if c.output, err = p.name(fs["output"].val, "output"); err != nil {
		return nil, err
	}
	return c, nil
}

func (p *parser) models(fs map[string]entry) ([]string, error) {
	ms, hasList := fs["models"]
	m, hasOne := fs["model"]
	switch {
	case hasList && hasOne:
		later := ms.key
		if m.key.Line > later.Line || m.key.Line == later.Line && m.key.Column > later.Column {
			later = m.key
		}
		return nil, p.errorf(later, "", "give models or model, not both")
	case hasOne:
		s, err := p.name(m.val, "model")
		return []string{s}, err
	}
	items, err := p.seq(ms.val, "models", "a list of models, e.g. [stories260K]")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	seen := map[string]int{}
	for i, n := range items {
		path := index("models", i)
		s, err := p.name(n, path)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[s]; dup {
			return nil, p.errorf(n, path, "%s is listed twice (also models[%d])", quote(s), j)
		}
		seen[s] = i
		out[i] = s
	}
	return out, nil
}

// calibration reads the calibration settings; e is the zero entry when
// the key is absent.
func (p *parser) calibration(e entry) (c data.CalibSpec, seeds []uint64, chunk int, err error) {
	c = data.CalibSpec{Mode: data.ModeContiguous, NSamples: data.DefaultNSamples}
	seeds = []uint64{0}
	if e.val == nil {
		c.Source = data.CorpusWikiText2Valid
		return c, seeds, 0, nil
	}
	const path = "calibration"
	fs, err := p.fields(e.val, path, calibKeys, true)
	if err != nil {
		return c, nil, 0, err
	}
	fail := func(err error) (data.CalibSpec, []uint64, int, error) { return c, nil, 0, err }
	if f, ok := fs["mode"]; ok {
		if c.Mode, err = p.choice(f.val, join(path, "mode"), data.ModeContiguous, data.ModeRandom, data.ModeC4); err != nil {
			return fail(err)
		}
	}
	if f, ok := fs["source"]; ok {
		if c.Source, err = p.source(f.val, join(path, "source"), c.Mode); err != nil {
			return fail(err)
		}
	} else if c.Mode == data.ModeC4 {
		return fail(p.errorf(fs["mode"].val, join(path, "mode"), "mode c4 needs calibration.source: the path of a C4 shard (.json or .json.gz), or a list of them"))
	} else {
		c.Source = data.CorpusWikiText2Valid
	}
	if f, ok := fs["nsamples"]; ok {
		if c.NSamples, err = p.intAtLeast(f.val, join(path, "nsamples"), 1, ""); err != nil {
			return fail(err)
		}
	}
	if f, ok := fs["seqlen"]; ok {
		sp := join(path, "seqlen")
		if c.SeqLen, err = p.integer(f.val, sp); err != nil {
			return fail(err)
		}
		if c.SeqLen < 0 || c.SeqLen == 1 {
			return fail(p.errorf(f.val, sp, "%d: a calibration window needs at least 2 tokens (0 = the model's context length)", c.SeqLen))
		}
	}
	if c.SeqLen > 0 && c.NSamples > data.MaxCalibTokens/c.SeqLen {
		n := fs["nsamples"].val
		if n == nil {
			n = fs["seqlen"].val
		}
		return fail(p.errorf(n, path, "nsamples %d × seqlen %d: more than %d tokens, the limit for one calibration", c.NSamples, c.SeqLen, data.MaxCalibTokens))
	}
	if f, ok := fs["chunk"]; ok {
		if chunk, err = p.intAtLeast(f.val, join(path, "chunk"), 0, " (0 = all sequences at once)"); err != nil {
			return fail(err)
		}
	}
	ss, hasSeeds := fs["seeds"]
	s1, hasSeed := fs["seed"]
	switch {
	case hasSeeds && hasSeed:
		later := ss.key
		if s1.key.Line > later.Line || s1.key.Line == later.Line && s1.key.Column > later.Column {
			later = s1.key
		}
		return fail(p.errorf(later, path, "give seeds or seed, not both"))
	case hasSeed:
		v, err := p.uint64Value(s1.val, join(path, "seed"))
		if err != nil {
			return fail(err)
		}
		seeds = []uint64{v}
	case hasSeeds:
		sp := join(path, "seeds")
		items, err := p.seq(ss.val, sp, "a list of seeds, e.g. [0, 1, 2]")
		if err != nil {
			return fail(err)
		}
		seeds = make([]uint64, len(items))
		seen := map[uint64]int{}
		for i, n := range items {
			v, err := p.uint64Value(n, index(sp, i))
			if err != nil {
				return fail(err)
			}
			if j, dup := seen[v]; dup {
				return fail(p.errorf(n, index(sp, i), "seed %d is given twice (also seeds[%d])", v, j))
			}
			seen[v] = i
			seeds[i] = v
		}
		if len(seeds) > 1 && c.Mode == data.ModeContiguous {
			how := "mode is contiguous"
			if _, ok := fs["mode"]; !ok {
				how = "mode is contiguous by default"
			}
			return fail(p.errorf(ss.val, sp, "%d seeds, but %s, which draws nothing: every seed would give the same windows (use mode random or c4 for several seeds)", len(seeds), how))
		}
	}
	c.Seed = seeds[0]
	return c, seeds, chunk, nil
}

// source reads calibration.source: a corpus name or text file, or for c4
// one or more shard paths (comma-separated, or a list).
func (p *parser) source(n *yaml.Node, path, mode string) (string, error) {
	if n.Kind == yaml.SequenceNode {
		if mode != data.ModeC4 {
			return "", p.errorf(n, path, "a list of sources is for mode c4 (C4 shards); mode %s reads one corpus or text file", mode)
		}
		items, err := p.seq(n, path, "a list of C4 shard paths")
		if err != nil {
			return "", err
		}
		paths := make([]string, len(items))
		for i, it := range items {
			s, err := p.name(it, index(path, i))
			if err != nil {
				return "", err
			}
			if strings.Contains(s, ",") {
				return "", p.errorf(it, index(path, i), "%s: a path in the list cannot contain a comma", quote(s))
			}
			paths[i] = strings.TrimSpace(s)
		}
		return strings.Join(paths, ","), nil
	}
	s, err := p.str(n, path)
	if err != nil {
		return "", p.errorf(n, path, "want a string (or for mode c4 a list of paths), got %s", describe(n))
	}
	if strings.TrimSpace(s) == "" {
		return "", p.errorf(n, path, "want a corpus name (%s) or a path, got an empty string", data.CorpusWikiText2Valid)
	}
	if mode == data.ModeC4 {
		for i, shard := range strings.Split(s, ",") {
			if strings.TrimSpace(shard) == "" {
				return "", p.errorf(n, path, "%s: shard %d of the comma-separated list is empty", quote(s), i+1)
			}
		}
	}
	return s, nil
}

func (p *parser) methods(n *yaml.Node) ([]*methodItem, error) {
	items, err := p.seq(n, "methods", "a list of methods, e.g. [magnitude, wanda]")
	if err != nil {
		return nil, err
	}
	out := make([]*methodItem, len(items))
	for i, n := range items {
		if out[i], err = p.methodItem(n, index("methods", i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const methodItemWant = "a method name or a mapping {method: {option: value, …}}"

func (p *parser) methodItem(n *yaml.Node, path string) (*methodItem, error) {
	it := &methodItem{path: path, vals: map[string]*yaml.Node{}}
	var opts *yaml.Node
	switch {
	case isScalar(n, tagStr):
		it.node = n
	case n.Kind == yaml.MappingNode:
		es, err := p.entries(n, path)
		if err != nil {
			return nil, err
		}
		switch len(es) {
		case 0:
			return nil, p.errorf(n, path, "want %s, got an empty mapping", methodItemWant)
		case 1:
		default:
			return nil, p.errorf(es[1].key, path, "an item of methods is one method name with its options in a mapping below it, got the keys %s and %s side by side (indent the options under %s)",
				quote(es[0].name()), quote(es[1].name()), clip(es[0].name()))
		}
		it.node, opts = es[0].key, es[0].val
		if !isScalar(it.node, tagStr) {
			return nil, p.want(it.node, path, "a method name")
		}
	default:
		return nil, p.want(n, path, methodItemWant)
	}
	name := it.node.Value
	if name == runners.Dense {
		return nil, p.errorf(it.node, path, "dense is not a method to list: every model's dense run comes first on its own")
	}
	defs, err := runners.MethodOptions(name)
	if err != nil {
		return nil, p.errorf(it.node, path, "unknown method %s (methods: %s)", quote(name), strings.Join(runners.MethodNames, ", "))
	}
	it.spec = runners.MethodSpec{Name: name, Options: map[string]any{}}
	if opts == nil || isNull(opts) {
		return it, nil
	}
	mpath := join(path, name)
	if opts.Kind != yaml.MappingNode {
		return nil, p.errorf(opts, mpath, "want a mapping of options, e.g. {%s}, got %s", optionExample(name, defs), describe(opts))
	}
	es, err := p.entries(opts, mpath)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		o, err := p.option(name, defs, e.key, mpath)
		if err != nil {
			return nil, err
		}
		v, err := p.optionValue(o, e.val, join(mpath, o.Name))
		if err != nil {
			return nil, err
		}
		it.spec.Options[o.Name] = v
		it.vals[o.Name] = e.val
	}
	return it, nil
}

// optionExample shows the syntax of a method's options.
func optionExample(method string, defs []runners.MethodOption) string {
	if len(defs) == 0 {
		return method + " has no options"
	}
	return defs[0].Name + ": " + runners.FormatValue(defs[0].Default)
}

// option looks up the option key names among the method's options.
func (p *parser) option(method string, defs []runners.MethodOption, key *yaml.Node, path string) (runners.MethodOption, error) {
	if o, ok := lookupOption(defs, key.Value); ok {
		return o, nil
	}
	return runners.MethodOption{}, p.errorf(key, path, "%s", noOption(method, key.Value, defs))
}

func lookupOption(defs []runners.MethodOption, name string) (runners.MethodOption, bool) {
	for _, o := range defs {
		if o.Name == name {
			return o, true
		}
	}
	return runners.MethodOption{}, false
}

// noOption says that the method has no option name and lists those it has.
func noOption(method, name string, defs []runners.MethodOption) string {
	if len(defs) == 0 {
		return fmt.Sprintf("unknown option %s (%s has no options)", quote(name), method)
	}
	names := make([]string, len(defs))
	for i, o := range defs {
		names[i] = o.Name
	}
	return fmt.Sprintf("unknown option %s (options: %s)", quote(name), strings.Join(names, ", "))
}

// optionValue reads an option's value as its kind wants and checks its
// range with the method table's own check.
func (p *parser) optionValue(o runners.MethodOption, n *yaml.Node, path string) (any, error) {
	var (
		v   any
		err error
	)
	switch o.Kind {
	case runners.Float:
		v, err = p.number(n, path)
	case runners.Int:
		v, err = p.integer(n, path)
	case runners.String:
		if !isScalar(n, tagStr) && len(o.Choices) > 0 {
			return nil, p.errorf(n, path, "want one of %s, got %s", strings.Join(o.Choices, ", "), describe(n))
		}
		v, err = p.str(n, path)
	case runners.Bool:
		v, err = p.boolean(n, path)
	}
	if err != nil {
		return nil, err
	}
	if err := o.Check(v); err != nil {
		return nil, p.errorf(n, path, "%s: %v", shown(n), err)
	}
	return v, nil
}

// shown is a scalar as the config wrote it.
func shown(n *yaml.Node) string {
	if isScalar(n, tagStr) {
		return quote(n.Value)
	}
	return clip(n.Value)
}

const patternWant = `a ratio (0.5), a percentage ("50%") or N:M ("2:4")`

func (p *parser) sparsities(n *yaml.Node) ([]prune.Pattern, error) {
	items, err := p.seq(n, "sparsities", "a list of sparsities, e.g. [0.5, 0.6, \"2:4\"]")
	if err != nil {
		return nil, err
	}
	out := make([]prune.Pattern, len(items))
	seen := map[prune.Pattern]int{}
	for i, n := range items {
		path := index("sparsities", i)
		pat, err := p.pattern(n, path)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[pat]; dup {
			return nil, p.errorf(n, path, "%s is the same sparsity as sparsities[%d] (%s)", shown(n), j, pat)
		}
		seen[pat] = i
		out[i] = pat
	}
	return out, nil
}

func (p *parser) pattern(n *yaml.Node, path string) (prune.Pattern, error) {
	var (
		pat prune.Pattern
		err error
	)
	switch {
	case isScalar(n, tagInt) || isScalar(n, tagFloat):
		var r float64
		if r, err = p.number(n, path); err != nil {
			return pat, err
		}
		pat = prune.Pattern{Ratio: r}
		err = pat.Validate()
	case isScalar(n, tagStr):
		pat, err = prune.ParsePattern(n.Value)
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && isScalar(n.Content[0], tagInt) && isScalar(n.Content[1], tagInt):
		// [2: 4] in a flow list is a mapping.
		return pat, p.errorf(n, path, "got the mapping {%s: %s}: write N:M without a space, or quoted: \"%s:%s\"",
			clip(n.Content[0].Value), clip(n.Content[1].Value), clip(n.Content[0].Value), clip(n.Content[1].Value))
	default:
		return pat, p.want(n, path, patternWant)
	}
	if err != nil {
		return pat, p.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "sparsity "))
	}
	return pat, nil
}

func (p *parser) grid(n *yaml.Node, items []*methodItem) ([]*gridAxis, error) {
	if isNull(n) {
		return nil, nil
	}
	es, err := p.entries(n, "grid")
	if err != nil {
		return nil, err
	}
	var axes []*gridAxis
	for _, e := range es {
		key := e.name()
		path := join("grid", key)
		method, opt, ok := strings.Cut(key, ".")
		if !ok {
			return nil, p.errorf(e.key, "grid", "key %s: want <method>.<option>, e.g. admm-grad.rho", quote(key))
		}
		defs, err := runners.MethodOptions(method)
		if err != nil {
			return nil, p.errorf(e.key, "grid", "key %s: unknown method %s (methods: %s)", quote(key), quote(method), strings.Join(runners.MethodNames, ", "))
		}
		o, ok := lookupOption(defs, opt)
		if !ok {
			return nil, p.errorf(e.key, "grid", "key %s: %s", quote(key), noOption(method, opt, defs))
		}
		var listed []string
		found := false
		for _, it := range items {
			listed = append(listed, it.spec.Name)
			if it.spec.Name != method {
				continue
			}
			found = true
			if _, set := it.spec.Options[opt]; set {
				return nil, p.errorf(e.key, path, "%s is set both in %s and grid: give it in one place", opt, it.path)
			}
		}
		if !found {
			return nil, p.errorf(e.key, path, "%s is not in methods (methods: %s)", method, strings.Join(listed, ", "))
		}
		vals, err := p.seq(e.val, path, "a list of values, e.g. ["+runners.FormatValue(o.Default)+"]")
		if err != nil {
			return nil, err
		}
		a := &gridAxis{GridAxis: GridAxis{Method: method, Option: opt}, path: path, key: e.key, vals: vals}
		seen := map[any]int{}
		for i, vn := range vals {
			v, err := p.optionValue(o, vn, index(path, i))
			if err != nil {
				return nil, err
			}
			if j, dup := seen[v]; dup {
				return nil, p.errorf(vn, index(path, i), "%s is given twice (also [%d])", shown(vn), j)
			}
			seen[v] = i
			a.Values = append(a.Values, v)
		}
		axes = append(axes, a)
	}
	sort.Slice(axes, func(i, j int) bool { return axes[i].Key() < axes[j].Key() })
	return axes, nil
}

func (p *parser) evaluate(n *yaml.Node) (runners.EvalSpec, error) {
	var ev runners.EvalSpec
	const path = "evaluate"
	fs, err := p.fields(n, path, evalKeys, true)
	if err != nil {
		return ev, err
	}
	if len(fs) == 0 {
		return ev, p.errorf(n, path, "want at least one of %s", strings.Join(evalKeys, ", "))
	}
	if e, ok := fs["ppl"]; ok {
		if ev.PPL, err = p.ppls(e.val, join(path, "ppl")); err != nil {
			return ev, err
		}
	}
	if e, ok := fs["zeroshot"]; ok {
		if ev.ZeroShot, err = p.zeroShot(e.val, join(path, "zeroshot")); err != nil {
			return ev, err
		}
	}
	if e, ok := fs["kld"]; ok {
		if ev.KLD, err = p.kld(e.val, join(path, "kld")); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

func (p *parser) ppls(n *yaml.Node, path string) ([]runners.PPLSpec, error) {
	if n.Kind != yaml.SequenceNode {
		s, err := p.ppl(n, path)
		return []runners.PPLSpec{s}, err
	}
	items, err := p.seq(n, path, "a mapping or a list of mappings")
	if err != nil {
		return nil, err
	}
	out := make([]runners.PPLSpec, len(items))
	for i, it := range items {
		ip := index(path, i)
		s, err := p.ppl(it, ip)
		if err != nil {
			return nil, err
		}
		for j, t := range out[:i] {
			switch {
			case s.Metric != "" && s.Metric == t.Metric:
				return nil, p.errorf(it, ip, "metric %s is the name of %s too", s.Metric, index(path, j))
			case s.Metric == "" && t.Metric == "" && s.Dataset == t.Dataset && s.Protocol == t.Protocol && s.SeqLen == t.SeqLen:
				return nil, p.errorf(it, ip, "the same dataset, protocol and seqlen as %s: both would record the same metric (give one a metric name)", index(path, j))
			}
		}
		out[i] = s
	}
	return out, nil
}

func (p *parser) ppl(n *yaml.Node, path string) (runners.PPLSpec, error) {
	s := runners.PPLSpec{Dataset: data.CorpusWikiText2, Protocol: eval.ProtocolWanda}
	fs, err := p.fields(n, path, pplKeys, true)
	if err != nil {
		return s, err
	}
	if f, ok := fs["dataset"]; ok {
		if s.Dataset, err = p.name(f.val, join(path, "dataset")); err != nil {
			return s, err
		}
	}
	if f, ok := fs["protocol"]; ok {
		if s.Protocol, err = p.choice(f.val, join(path, "protocol"), eval.ProtocolWanda, eval.ProtocolLlamaCpp); err != nil {
			return s, err
		}
	}
	if s.SeqLen, err = p.evalSeqLen(fs, path, s.Protocol); err != nil {
		return s, err
	}
	if s.MaxWindows, err = p.maxWindows(fs, path); err != nil {
		return s, err
	}
	if f, ok := fs["metric"]; ok {
		mp := join(path, "metric")
		if s.Metric, err = p.str(f.val, mp); err != nil {
			return s, err
		}
		if !validMetric.MatchString(s.Metric) {
			return s, p.errorf(f.val, mp, "%s: want letters, digits and '_' only", quote(s.Metric))
		}
	}
	return s, nil
}

// evalSeqLen reads the seqlen of an evaluation: 0 (the model's context) or
// a window long enough for the protocol to score a token.
func (p *parser) evalSeqLen(fs map[string]entry, path, protocol string) (int, error) {
	f, ok := fs["seqlen"]
	if !ok {
		return 0, nil
	}
	sp := join(path, "seqlen")
	v, err := p.integer(f.val, sp)
	if err != nil {
		return 0, err
	}
	if minT := eval.MinSeqLen(protocol); v < 0 || v != 0 && v < minT {
		return 0, p.errorf(f.val, sp, "%d: the %s protocol needs windows of at least %d tokens to score one (0 = the model's context length)", v, protocol, minT)
	}
	return v, nil
}

func (p *parser) maxWindows(fs map[string]entry, path string) (int, error) {
	f, ok := fs["max_windows"]
	if !ok {
		return 0, nil
	}
	return p.intAtLeast(f.val, join(path, "max_windows"), 0, " (0 = all windows)")
}

func (p *parser) zeroShot(n *yaml.Node, path string) (*runners.ZeroShotSpec, error) {
	fs, err := p.fields(n, path, zeroShotKeys, true)
	if err != nil {
		return nil, err
	}
	z := &runners.ZeroShotSpec{Tasks: eval.PaperTaskNames()}
	if f, ok := fs["tasks"]; ok {
		tp := join(path, "tasks")
		known := eval.TaskNames()
		items, err := p.seq(f.val, tp, "a list of tasks, e.g. [boolq, rte] (tasks: "+strings.Join(known, ", ")+")")
		if err != nil {
			return nil, err
		}
		z.Tasks = make([]string, len(items))
		seen := map[string]int{}
		for i, it := range items {
			ip := index(tp, i)
			s, err := p.str(it, ip)
			if err != nil {
				return nil, err
			}
			if !contains(known, s) {
				return nil, p.errorf(it, ip, "unknown task %s (tasks: %s)", quote(s), strings.Join(known, ", "))
			}
			if j, dup := seen[s]; dup {
				return nil, p.errorf(it, ip, "%s is listed twice (also tasks[%d]): it would count twice in the mean accuracy", s, j)
			}
			seen[s] = i
			z.Tasks[i] = s
		}
	}
	if f, ok := fs["limit"]; ok {
		if z.Limit, err = p.intAtLeast(f.val, join(path, "limit"), 0, " (0 = all documents)"); err != nil {
			return nil, err
		}
	}
	if f, ok := fs["hellaswag_ctx"]; ok {
		if z.HellaSwagCtx, err = p.choice(f.val, join(path, "hellaswag_ctx"), eval.HellaSwagCapitalizeTail, eval.HellaSwagAsIs); err != nil {
			return nil, err
		}
	}
	return z, nil
}

func (p *parser) kld(n *yaml.Node, path string) (*runners.KLDSpec, error) {
	fs, err := p.fields(n, path, kldKeys, true)
	if err != nil {
		return nil, err
	}
	k := &runners.KLDSpec{Dataset: data.CorpusWikiText2}
	if f, ok := fs["dataset"]; ok {
		if k.Dataset, err = p.name(f.val, join(path, "dataset")); err != nil {
			return nil, err
		}
	}
	if k.SeqLen, err = p.evalSeqLen(fs, path, eval.ProtocolWanda); err != nil {
		return nil, err
	}
	if k.MaxWindows, err = p.maxWindows(fs, path); err != nil {
		return nil, err
	}
	return k, nil
}
