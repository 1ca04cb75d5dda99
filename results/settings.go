package results

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Tables, compare and plots see a run as a list of settings (model,
// method, pattern, each method option, calibration): they group and label
// runs by them. This file holds that shared view.

// Setting keys. An option's key is optPrefix + its name, so that an option
// cannot be taken for one of the fixed settings.
const (
	keyModel    = "model"
	keyMethod   = "method"
	keySparsity = "sparsity"
	keySource   = "calib.source"
	keyMode     = "calib.mode"
	keyNSamples = "calib.nsamples"
	keySeqLen   = "calib.seqlen"
	keySeed     = "calib.seed"
	optPrefix   = "opt."
	absentText  = "\x00absent"
)

// value is one setting's value.
type value struct {
	text  string // canonical: equal values have equal text
	num   float64
	isNum bool
}

var absent = value{text: absentText}

func numValue(f float64) value {
	return value{text: strconv.FormatFloat(f, 'g', -1, 64), num: f, isNum: true}
}

// optionValue reads an option as decoded from JSON (float64, string, bool)
// or as set in memory (any integer or float type).
func optionValue(v any) value {
	switch x := v.(type) {
	case float64:
		return numValue(x)
	case float32:
		return numValue(float64(x))
	case int:
		return numValue(float64(x))
	case int64:
		return numValue(float64(x))
	case int32:
		return numValue(float64(x))
	case uint:
		return numValue(float64(x))
	case uint64:
		return numValue(float64(x))
	case uint32:
		return numValue(float64(x))
	case string:
		return value{text: x}
	case bool:
		return value{text: strconv.FormatBool(x)}
	}
	return value{text: fmt.Sprint(v)}
}

// compareValues orders numbers numerically before strings.
func compareValues(a, b value) int {
	if a.text == b.text {
		return 0
	}
	switch {
	case a == absent:
		return -1
	case b == absent:
		return 1
	case a.isNum && b.isNum:
		return cmp.Compare(a.num, b.num)
	case a.isNum:
		return -1
	case b.isNum:
		return 1
	}
	return strings.Compare(a.text, b.text)
}

// neutral holds per method the options that records leave out at their
// neutral value (one that computes what runs did before the option
// existed): a record without such an option ran with that value, and
// tables, compare and plots read it so.
var neutral = map[string]map[string]any{}

// SetNeutral declares that records of method leave option key (a record
// key) out at value v. The method table declares its options' neutral
// values at initialisation.
func SetNeutral(method, key string, v any) {
	if neutral[method] == nil {
		neutral[method] = map[string]any{}
	}
	neutral[method][key] = v
}

// setting is a key and its value.
type setting struct {
	key string
	v   value
}

// settings lists what a run ran with, in label order: model, method,
// pattern, options (in the method's order), calibration, seed.
func settings(r Record) []setting {
	s := []setting{{keyModel, value{text: r.Model.Name}}, {keyMethod, value{text: r.Method.Name}}}
	if r.Pattern != "" {
		s = append(s, setting{keySparsity, value{text: r.Pattern}})
	}
	for _, k := range r.Method.orderedKeys() {
		s = append(s, setting{optPrefix + k, optionValue(r.Method.Options[k])})
	}
	for _, k := range slices.Sorted(maps.Keys(neutral[r.Method.Name])) {
		if _, ok := r.Method.Options[k]; !ok {
			s = append(s, setting{optPrefix + k, optionValue(neutral[r.Method.Name][k])})
		}
	}
	if c := r.Calibration; c != nil {
		s = append(s,
			setting{keySource, value{text: c.Source}},
			setting{keyMode, value{text: c.Mode}},
			setting{keyNSamples, numValue(float64(c.NSamples))},
			setting{keySeqLen, numValue(float64(c.SeqLen))},
			setting{keySeed, value{text: strconv.FormatUint(c.Seed, 10), num: float64(c.Seed), isNum: true}})
	}
	return s
}

// get returns one setting of r.
func get(r Record, key string) (value, bool) {
	for _, s := range settings(r) {
		if s.key == key {
			return s.v, true
		}
	}
	return value{}, false
}

// dimKey turns a user's dimension name ("method", "model", "sparsity" or
// an option name) into a setting key.
func dimKey(name string) string {
	switch name {
	case keyModel, keyMethod, keySparsity:
		return name
	case "pattern":
		return keySparsity
	}
	return optPrefix + name
}

// settingsKey identifies what a run ran with: the settings that change its
// numbers, without file checksums, timings or provenance.
func settingsKey(r Record) string {
	var b strings.Builder
	for _, s := range settings(r) {
		b.WriteString(strconv.Quote(s.key))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(s.v.text))
		b.WriteByte(';')
	}
	return b.String()
}

// varying tells, per method name, which settings differ between the
// records of that method (a setting some lack counts as differing): the
// ones a label must show to tell the runs apart.
func varying(recs []Record) map[string]map[string]bool {
	values := map[string]map[string]map[string]bool{} // method → key → value texts
	count := map[string]int{}
	for _, r := range recs {
		m := r.Method.Name
		if values[m] == nil {
			values[m] = map[string]map[string]bool{}
		}
		count[m]++
		for _, s := range settings(r) {
			if values[m][s.key] == nil {
				values[m][s.key] = map[string]bool{}
			}
			values[m][s.key][s.v.text] = true
		}
	}
	// Keys some records of the method lack: add the absent value.
	seen := map[string]map[string]int{}
	for _, r := range recs {
		m := r.Method.Name
		if seen[m] == nil {
			seen[m] = map[string]int{}
		}
		for _, s := range settings(r) {
			seen[m][s.key]++
		}
	}
	out := map[string]map[string]bool{}
	for m, keys := range values {
		out[m] = map[string]bool{}
		for k, vs := range keys {
			if len(vs) > 1 || seen[m][k] < count[m] {
				out[m][k] = true
			}
		}
	}
	return out
}

// valueOf is r's setting key, absent when r lacks it.
func valueOf(r Record, key string) value {
	if v, ok := get(r, key); ok {
		return v
	}
	return absent
}

// optionName is how labels and axes print an option: Greek where the
// paper uses it.
func optionName(opt string) string {
	if opt == "rho" {
		return "ρ"
	}
	return opt
}

// dimName is the heading for a dimension.
func dimName(key string) string {
	if o, ok := strings.CutPrefix(key, optPrefix); ok {
		return optionName(o)
	}
	return key
}

// pattern is a parsed Pattern string.
type pattern struct {
	ratio float64
	n, m  int
	nm    bool
	ok    bool
}

func parsePattern(s string) pattern {
	if a, b, found := strings.Cut(s, ":"); found {
		n, err1 := strconv.Atoi(a)
		m, err2 := strconv.Atoi(b)
		return pattern{n: n, m: m, nm: true, ok: err1 == nil && err2 == nil && m > 0}
	}
	r, err := strconv.ParseFloat(s, 64)
	return pattern{ratio: r, ok: err == nil}
}

// comparePatterns orders unstructured ratios ascending, then N:M patterns
// by density N/M and then group size, then anything unparsable by text.
func comparePatterns(a, b string) int {
	pa, pb := parsePattern(a), parsePattern(b)
	rank := func(p pattern) int {
		switch {
		case !p.ok:
			return 2
		case p.nm:
			return 1
		}
		return 0
	}
	if c := cmp.Compare(rank(pa), rank(pb)); c != 0 {
		return c
	}
	switch rank(pa) {
	case 0:
		return cmp.Compare(pa.ratio, pb.ratio)
	case 1:
		return cmp.Or(cmp.Compare(float64(pa.n)/float64(pa.m), float64(pb.n)/float64(pb.m)), cmp.Compare(pa.m, pb.m))
	}
	return strings.Compare(a, b)
}

// percentPattern prints an unstructured ratio as a percentage ("0.5" →
// "50%"); N:M patterns stay as they are.
func percentPattern(s string) string {
	p := parsePattern(s)
	if !p.ok || p.nm {
		return s
	}
	return strconv.FormatFloat(math.Round(p.ratio*1e8)/1e6, 'g', -1, 64) + "%"
}

// labeller prints settings and orders runs by them.
type labeller struct {
	methodRank map[string]int // dense first, then the caller's order
	modelRank  map[string]int // first appearance
	percent    bool           // patterns as "50%" rather than "0.5"
}

func newLabeller(recs []Record, methodOrder []string, percent bool) *labeller {
	l := &labeller{methodRank: map[string]int{MethodDense: 0}, modelRank: map[string]int{}, percent: percent}
	for _, m := range methodOrder {
		if _, ok := l.methodRank[m]; !ok {
			l.methodRank[m] = len(l.methodRank)
		}
	}
	for _, r := range recs {
		if _, ok := l.modelRank[r.Model.Name]; !ok {
			l.modelRank[r.Model.Name] = len(l.modelRank)
		}
	}
	return l
}

// text prints a setting: bare for the model, method and pattern, and for
// the dimension a table row is named by; key=value otherwise.
func (l *labeller) text(s setting, bare bool) string {
	v := s.v.text
	if s.v == absent {
		v = "none"
	}
	switch s.key {
	case keyModel, keyMethod:
		return v
	case keySparsity:
		if l.percent {
			return percentPattern(v)
		}
		return v
	}
	if bare {
		return v
	}
	name := strings.TrimPrefix(s.key, "calib.")
	if o, ok := strings.CutPrefix(s.key, optPrefix); ok {
		name = optionName(o)
	} else if s.key == keySource {
		name = "calib"
	}
	return name + "=" + v
}

// compare orders two settings of the same key.
func (l *labeller) compare(key string, a, b value) int {
	switch key {
	case keyMethod:
		ra, oka := l.methodRank[a.text]
		rb, okb := l.methodRank[b.text]
		switch {
		case oka && okb:
			return cmp.Compare(ra, rb)
		case oka:
			return -1
		case okb:
			return 1
		}
		return strings.Compare(a.text, b.text)
	case keyModel:
		return cmp.Or(cmp.Compare(l.modelRank[a.text], l.modelRank[b.text]), strings.Compare(a.text, b.text))
	case keySparsity:
		if a == absent || b == absent {
			return compareValues(a, b)
		}
		return comparePatterns(a.text, b.text)
	}
	return compareValues(a, b)
}

// compareLists orders two label lists setting by setting.
func (l *labeller) compareLists(a, b []setting) int {
	for i := range min(len(a), len(b)) {
		if a[i].key != b[i].key {
			return strings.Compare(a[i].key, b[i].key)
		}
		if c := l.compare(a[i].key, a[i].v, b[i].v); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// join prints a label; the first setting is bare when firstBare.
func (l *labeller) join(parts []setting, firstBare bool) string {
	words := make([]string, len(parts))
	for i, p := range parts {
		words[i] = l.text(p, i == 0 && firstBare)
	}
	return strings.Join(words, " ")
}

// sortValues sorts the distinct values of one key.
func (l *labeller) sortValues(key string, vs []value) {
	slices.SortFunc(vs, func(a, b value) int { return l.compare(key, a, b) })
}

// meanStd is the mean and sample standard deviation (n−1) of xs.
func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}
