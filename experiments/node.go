package experiments

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML tags of scalars, as yaml.Node.ShortTag gives them.
const (
	tagStr   = "!!str"
	tagInt   = "!!int"
	tagFloat = "!!float"
	tagBool  = "!!bool"
	tagNull  = "!!null"
)

// parser walks the node tree of one config; every error it makes names
// the file.
type parser struct {
	file string
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) error {
	return &Error{File: p.file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// want reports a value of the wrong type.
func (p *parser) want(n *yaml.Node, path, what string) error {
	return p.errorf(n, path, "want %s, got %s", what, describe(n))
}

// describe names a node's value for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := clip(n.Value)
	switch n.ShortTag() {
	case tagStr:
		if n.Value == "" {
			return "an empty string"
		}
		return "the string " + strconv.Quote(v)
	case tagNull:
		return "nothing (null)"
	case tagInt, tagFloat, tagBool:
		return v
	case "!!timestamp":
		return "the date " + v + " (quote it to make it a string)"
	}
	return fmt.Sprintf("a value tagged %s", clip(n.Tag))
}

// clip shortens what a message quotes from the config.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xc0 != 0x80 }

// quote quotes a string taken from the config for a message.
func quote(s string) string { return strconv.Quote(clip(s)) }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == tagNull }

func isScalar(n *yaml.Node, tag string) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == tag }

// checkRefs refuses anchors and aliases anywhere in the tree: an alias
// would let a small file expand to a huge one (billion laughs), and the
// config needs none.
func (p *parser) checkRefs(n *yaml.Node, path string) error {
	if n.Kind == yaml.AliasNode {
		return p.errorf(n, path, "alias *%s: anchors and aliases are not supported (write the value out)", clip(n.Value))
	}
	if n.Anchor != "" {
		return p.errorf(n, path, "anchor &%s: anchors and aliases are not supported (write the value out)", clip(n.Anchor))
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if err := p.checkRefs(k, path); err != nil {
				return err
			}
			if err := p.checkRefs(v, join(path, clip(k.Value))); err != nil {
				return err
			}
		}
	default:
		for i, c := range n.Content {
			if err := p.checkRefs(c, index(path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry is one key and its value in a mapping.
type entry struct {
	key, val *yaml.Node
}

func (e entry) name() string { return e.key.Value }

// entries returns the keys and values of a mapping, in order, after
// checking that the keys are plain scalars and distinct.
func (p *parser) entries(n *yaml.Node, path string) ([]entry, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.want(n, path, "a mapping")
	}
	out := make([]entry, 0, len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errorf(k, path, "want a name as key, got %s", describe(k))
		}
		if first, dup := seen[k.Value]; dup {
			return nil, p.errorf(k, path, "duplicate key %s (first at line %d, column %d)", quote(k.Value), first.Line, first.Column)
		}
		seen[k.Value] = k
		out = append(out, entry{k, v})
	}
	return out, nil
}

// fields returns the entries of a mapping by key, refusing keys outside
// allowed. A null node is an empty mapping when nullOK.
func (p *parser) fields(n *yaml.Node, path string, allowed []string, nullOK bool) (map[string]entry, error) {
	if nullOK && isNull(n) {
		return map[string]entry{}, nil
	}
	es, err := p.entries(n, path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]entry, len(es))
	for _, e := range es {
		if !contains(allowed, e.name()) {
			return nil, p.errorf(e.key, path, "unknown key %s (keys: %s)", quote(e.name()), strings.Join(allowed, ", "))
		}
		out[e.name()] = e
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// seq returns the items of a list; an empty list is an error.
func (p *parser) seq(n *yaml.Node, path, what string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.want(n, path, what)
	}
	if len(n.Content) == 0 {
		return nil, p.errorf(n, path, "want %s, got an empty list", what)
	}
	return n.Content, nil
}

func (p *parser) str(n *yaml.Node, path string) (string, error) {
	if !isScalar(n, tagStr) {
		return "", p.want(n, path, "a string")
	}
	return n.Value, nil
}

// name is a non-empty string.
func (p *parser) name(n *yaml.Node, path string) (string, error) {
	s, err := p.str(n, path)
	if err == nil && strings.TrimSpace(s) == "" {
		err = p.errorf(n, path, "want a non-empty string")
	}
	return s, err
}

// choice is a string from choices.
func (p *parser) choice(n *yaml.Node, path string, choices ...string) (string, error) {
	s, err := p.str(n, path)
	if err != nil {
		return "", p.errorf(n, path, "want one of %s, got %s", strings.Join(choices, ", "), describe(n))
	}
	if !contains(choices, s) {
		return "", p.errorf(n, path, "%s: want one of %s", quote(s), strings.Join(choices, ", "))
	}
	return s, nil
}

// integerText matches a decimal integer too large for an int, which the
// YAML resolver turns into a float.
var integerText = regexp.MustCompile(`^[-+]?[0-9_]+$`)

// integer reads an int; floats are errors, even 2.0.
func (p *parser) integer(n *yaml.Node, path string) (int, error) {
	switch {
	case isScalar(n, tagInt):
		var v any
		if err := n.Decode(&v); err != nil {
			return 0, p.errorf(n, path, "want an integer, got %s", quote(n.Value))
		}
		switch v := v.(type) {
		case int:
			return v, nil
		case int64:
			if v == int64(int(v)) {
				return int(v), nil
			}
		}
		return 0, p.errorf(n, path, "%s: integer out of range", clip(n.Value))
	case isScalar(n, tagFloat) && integerText.MatchString(n.Value):
		return 0, p.errorf(n, path, "%s: integer out of range", clip(n.Value))
	}
	return 0, p.want(n, path, "an integer")
}

// intAtLeast reads an int ≥ min; note explains the bound.
func (p *parser) intAtLeast(n *yaml.Node, path string, min int, note string) (int, error) {
	v, err := p.integer(n, path)
	if err == nil && v < min {
		err = p.errorf(n, path, "%d: must be ≥ %d%s", v, min, note)
	}
	return v, err
}

// uint64Value reads a non-negative integer up to 2⁶⁴−1.
func (p *parser) uint64Value(n *yaml.Node, path string) (uint64, error) {
	if isScalar(n, tagInt) {
		var v any
		if err := n.Decode(&v); err == nil {
			switch v := v.(type) {
			case int:
				if v >= 0 {
					return uint64(v), nil
				}
				return 0, p.errorf(n, path, "%d: must be ≥ 0", v)
			case int64:
				if v >= 0 {
					return uint64(v), nil
				}
				return 0, p.errorf(n, path, "%d: must be ≥ 0", v)
			case uint64:
				return v, nil
			}
		}
	}
	if isScalar(n, tagInt) || isScalar(n, tagFloat) && integerText.MatchString(n.Value) {
		return 0, p.errorf(n, path, "%s: integer out of range (0 to %d)", clip(n.Value), uint64(math.MaxUint64))
	}
	return 0, p.want(n, path, "a non-negative integer")
}

// number reads a float64 from a YAML int or float (.inf and .nan
// included: the caller's range check refuses them).
func (p *parser) number(n *yaml.Node, path string) (float64, error) {
	if isScalar(n, tagInt) || isScalar(n, tagFloat) {
		var v float64
		if err := n.Decode(&v); err == nil {
			return v, nil
		}
		return 0, p.errorf(n, path, "want a number, got %s", quote(n.Value))
	}
	return 0, p.want(n, path, "a number")
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, error) {
	if isScalar(n, tagBool) {
		var v bool
		if err := n.Decode(&v); err == nil {
			return v, nil
		}
	}
	return false, p.want(n, path, "true or false")
}
