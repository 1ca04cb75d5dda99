package experiments

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/prunebench/prunebench/runners"
)

// expand checks every method spec the grid makes and builds the runs.
func (p *parser) expand(root *yaml.Node, c *config) (*Experiment, error) {
	axesOf := map[string][]*gridAxis{}
	for _, a := range c.axes {
		axesOf[a.Method] = append(axesOf[a.Method], a)
	}
	// Count first: a grid is a product, and the runs are built only when
	// there are not too many.
	perModel := 1
	for _, it := range c.items {
		n := mulCap(len(c.sparsities), len(c.seeds))
		for _, a := range axesOf[it.spec.Name] {
			n = mulCap(n, len(a.Values))
		}
		perModel = min(perModel+n, MaxRuns+1)
	}
	if total := mulCap(perModel, len(c.models)); total > MaxRuns {
		each := fmt.Sprintf("more than %d runs per model", MaxRuns)
		if perModel <= MaxRuns {
			each = fmt.Sprintf("%d models × %d runs", len(c.models), perModel)
		}
		return nil, p.errorf(root, "", "the config expands to more runs than the limit of %d (%s): split it or shrink the grid", MaxRuns, each)
	}

	// variants are the method specs of the runs, in order: each item of
	// methods with each combination of its method's grid values.
	var variants []runners.MethodSpec
	seen := map[string]*methodItem{}
	for _, it := range c.items {
		axes := axesOf[it.spec.Name]
		for ci, combo := range combinations(axes) {
			spec := runners.MethodSpec{Name: it.spec.Name, Options: maps.Clone(it.spec.Options)}
			for i, a := range axes {
				spec.Options[a.Option] = a.Values[combo[i]]
			}
			r, err := spec.Resolved()
			if err != nil {
				return nil, p.resolveError(it, axes, combo, err)
			}
			// Grid values are the same for every item of a method and set
			// in none, so items that differ, differ in every combination.
			if ci == 0 {
				key := r.String()
				if first, dup := seen[key]; dup {
					return nil, p.errorf(it.node, it.path, "the same options as %s once defaults are filled in (%s): the runs would repeat", first.path, key)
				}
				seen[key] = it
			}
			variants = append(variants, spec)
		}
	}

	exp := &Experiment{
		Name: c.name, Title: c.title, Output: c.output,
		Models: c.models, Calib: c.calib, Seeds: c.seeds, ChunkSeqs: c.chunk,
		Sparsities: c.sparsities, Eval: cloneEval(c.eval),
	}
	for _, it := range c.items {
		exp.Methods = append(exp.Methods, runners.MethodSpec{Name: it.spec.Name, Options: maps.Clone(it.spec.Options)})
	}
	for _, a := range c.axes {
		exp.Grid = append(exp.Grid, GridAxis{Method: a.Method, Option: a.Option, Values: slices.Clone(a.Values)})
	}
	exp.Runs = make([]runners.RunSpec, 0, perModel*len(c.models))
	for _, model := range c.models {
		exp.Runs = append(exp.Runs, runners.RunSpec{
			Config: c.name, Model: model,
			Method: runners.MethodSpec{Name: runners.Dense},
			Eval:   cloneEval(c.eval),
		})
		for _, v := range variants {
			for _, pat := range c.sparsities {
				for _, seed := range c.seeds {
					calib := c.calib
					calib.Seed = seed
					exp.Runs = append(exp.Runs, runners.RunSpec{
						Config: c.name, Model: model,
						Method:    runners.MethodSpec{Name: v.Name, Options: maps.Clone(v.Options)},
						Pattern:   pat,
						Calib:     calib,
						ChunkSeqs: c.chunk,
						Eval:      cloneEval(c.eval),
					})
				}
			}
		}
	}
	return exp, nil
}

// mulCap multiplies counts, saturating above MaxRuns.
func mulCap(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > (MaxRuns+1)/b {
		return MaxRuns + 1
	}
	return min(a*b, MaxRuns+1)
}

// combinations lists the grid combinations of axes as indices into each
// axis's values: the first axis varies slowest. No axes give one empty
// combination.
func combinations(axes []*gridAxis) [][]int {
	out := [][]int{{}}
	for _, a := range axes {
		next := make([][]int, 0, len(out)*len(a.Values))
		for _, c := range out {
			for i := range a.Values {
				next = append(next, append(slices.Clone(c), i))
			}
		}
		out = next
	}
	return out
}

// flagRef is how the method packages name an option in their errors.
var flagRef = regexp.MustCompile(`--[a-z][a-z0-9-]*`)

// resolveError places an error of MethodSpec.Resolved, which involves
// several options (admm-grad's iters below steps), at the first option it
// names that the config sets, and says it in the config's words.
func (p *parser) resolveError(it *methodItem, axes []*gridAxis, combo []int, err error) error {
	name := it.spec.Name
	defs, _ := runners.MethodOptions(name)
	msg := strings.TrimPrefix(err.Error(), name+": ")
	var named []string
	msg = flagRef.ReplaceAllStringFunc(msg, func(f string) string {
		o := f[2:]
		if _, ok := lookupOption(defs, o); !ok {
			return f
		}
		if !slices.Contains(named, o) {
			named = append(named, o)
		}
		return o
	})
	gridIndex := func(o string) int {
		for i, a := range axes {
			if a.Option == o {
				return i
			}
		}
		return -1
	}
	node, path, at := it.node, join(it.path, name), ""
	for _, o := range named {
		if n, ok := it.vals[o]; ok {
			node, path, at = n, it.optPath(o), o
			break
		}
		if i := gridIndex(o); i >= 0 {
			node, path, at = axes[i].vals[combo[i]], index(axes[i].path, combo[i]), o
			break
		}
	}
	if at != "" {
		// "iters 10: must be ≥ steps 15" at the key iters: "10: must be …"
		msg = strings.TrimPrefix(msg, at+" ")
	}
	var defaults []string
	for _, o := range named {
		if _, set := it.vals[o]; set || gridIndex(o) >= 0 {
			continue
		}
		if d, ok := lookupOption(defs, o); ok {
			defaults = append(defaults, fmt.Sprintf("%s %s", o, runners.FormatValue(d.Default)))
		}
	}
	if len(defaults) > 0 {
		msg += " (not set: " + strings.Join(defaults, ", ") + " by default)"
	}
	if len(axes) > 0 {
		vals := make([]string, len(axes))
		for i, a := range axes {
			vals[i] = a.Key() + "=" + runners.FormatValue(a.Values[combo[i]])
		}
		where := ""
		if at != "" && gridIndex(at) >= 0 {
			where = " in " + it.path
		}
		msg += " (grid: " + strings.Join(vals, ", ") + where + ")"
	}
	return p.errorf(node, path, "%s", msg)
}

// cloneEval copies an evaluation so that no two runs share its slices or
// pointers.
func cloneEval(e runners.EvalSpec) runners.EvalSpec {
	out := runners.EvalSpec{PPL: slices.Clone(e.PPL)}
	if e.ZeroShot != nil {
		z := *e.ZeroShot
		z.Tasks = slices.Clone(z.Tasks)
		out.ZeroShot = &z
	}
	if e.KLD != nil {
		k := *e.KLD
		out.KLD = &k
	}
	return out
}
