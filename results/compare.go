package results

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// CompareOptions say what counts as a regression.
type CompareOptions struct {
	// Tolerance is the relative change allowed in the worse direction:
	// 0.02 lets a perplexity rise by 2% and an accuracy fall by 2% of its
	// value. 0 flags any worsening.
	Tolerance float64
	// Metrics limits the comparison; empty means every metric of the base
	// runs except standard errors ("…_stderr"), which are not results.
	Metrics []string
}

// CompareRow is one metric of one run in both files.
type CompareRow struct {
	Run       string // label: method, pattern, then the settings that tell runs apart
	Metric    string
	Base, New float64
	// Change is (New−Base)/|Base|; NaN when it has no meaning (a NaN or
	// infinite base).
	Change    float64
	Regressed bool
}

// CompareResult is what Compare found.
type CompareResult struct {
	Tolerance     float64
	Rows          []CompareRow
	MissingInNew  []string // runs of base that new lacks (labels)
	MissingInBase []string // runs of new that base lacks
	// MissingMetrics are metrics a base run has and its new run lacks, as
	// "metric of run".
	MissingMetrics []string
	// Notes report runs recorded more than once on one side; the last
	// record counts, being the latest appended.
	Notes []string
	// Regressions counts the rows worse beyond the tolerance. Missing
	// runs and metrics are not regressions: a partial run is not a worse
	// one, and Print lists them for the reader to judge.
	Regressions int
}

// Compare pairs the runs of base and newer by their settings (model name,
// method and every option, pattern, calibration source, mode, samples,
// length and seed), not by ID: an ID also hashes the model and data files,
// and a comparison is meant to show what changes when they or the code
// change. File checksums, timings and provenance are ignored. A metric
// regresses when it is worse in newer than in base by more than the
// tolerance, in the metric's direction (HigherIsBetter); one that becomes
// NaN, or infinite in the worse direction, from a finite base always does.
//
// An error is returned for a negative tolerance and for a requested metric
// no run of either side has (most likely a typo that would hide every
// regression).
func Compare(base, newer []Record, o CompareOptions) (CompareResult, error) {
	if !(o.Tolerance >= 0) || math.IsInf(o.Tolerance, 0) {
		return CompareResult{}, fmt.Errorf("compare tolerance %v: want a finite number ≥ 0", o.Tolerance)
	}
	res := CompareResult{Tolerance: o.Tolerance}
	all := append(slices.Clone(base), newer...)
	for _, m := range o.Metrics {
		if !slices.ContainsFunc(all, func(r Record) bool { _, ok := r.Metrics[m]; return ok }) {
			return res, haveMetric(all, m)
		}
	}

	lab := newLabeller(all, nil, false)
	vary := varying(all)
	multiModel := len(models(all)) > 1
	label := func(r Record) string {
		var parts []setting
		for _, s := range settings(r) {
			switch {
			case s.key == keyModel && !multiModel:
			case s.key == keyModel, s.key == keyMethod, s.key == keySparsity, vary[r.Method.Name][s.key]:
				parts = append(parts, s)
			}
		}
		return lab.join(parts, false)
	}
	index := func(side string, recs []Record) ([]string, map[string]Record) {
		var order []string
		byKey := map[string]Record{}
		count := map[string]int{}
		for _, r := range recs {
			k := settingsKey(r)
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = r
			count[k]++
		}
		for _, k := range order {
			if count[k] > 1 {
				res.Notes = append(res.Notes, fmt.Sprintf("%s has %d records of %s; the last counts", side, count[k], label(byKey[k])))
			}
		}
		return order, byKey
	}
	baseKeys, baseRuns := index("base", base)
	newKeys, newRuns := index("new", newer)

	for _, k := range baseKeys {
		b := baseRuns[k]
		n, ok := newRuns[k]
		if !ok {
			res.MissingInNew = append(res.MissingInNew, label(b))
			continue
		}
		metrics := o.Metrics
		if len(metrics) == 0 {
			metrics = slices.DeleteFunc(slices.Sorted(maps.Keys(b.Metrics)), func(m string) bool {
				return strings.HasSuffix(m, "_stderr")
			})
		}
		for _, m := range metrics {
			bv, inBase := b.Metrics[m]
			nv, inNew := n.Metrics[m]
			switch {
			case !inBase:
				continue
			case !inNew:
				res.MissingMetrics = append(res.MissingMetrics, m+" of "+label(b))
				continue
			}
			change, worse := judge(m, bv, nv, o.Tolerance)
			res.Rows = append(res.Rows, CompareRow{Run: label(b), Metric: m, Base: bv, New: nv, Change: change, Regressed: worse})
			if worse {
				res.Regressions++
			}
		}
	}
	for _, k := range newKeys {
		if _, ok := baseRuns[k]; !ok {
			res.MissingInBase = append(res.MissingInBase, label(newRuns[k]))
		}
	}
	return res, nil
}

// judge returns the relative change from b to n and whether it is worse
// than tol allows.
func judge(metric string, b, n, tol float64) (change float64, regressed bool) {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case b == n:
		return 0, false
	case !finite(b):
		// Nothing can get worse than a broken base.
		return math.NaN(), false
	case math.IsNaN(n):
		return math.NaN(), true
	case b == 0:
		change = math.Inf(1)
		if n < 0 {
			change = math.Inf(-1)
		}
	default:
		change = (n - b) / math.Abs(b)
	}
	worse := change
	if HigherIsBetter(metric) {
		worse = -change
	}
	return change, worse > tol
}

// Print writes the comparison as a text table, then the missing runs and
// metrics, notes and the verdict ("no regression beyond 2%").
func (c CompareResult) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	var errs []error
	p := func(format string, a ...any) {
		_, err := fmt.Fprintf(tw, format, a...)
		errs = append(errs, err)
	}
	if len(c.Rows) > 0 {
		p("run\tmetric\tbase\tnew\tchange\n")
		for _, r := range c.Rows {
			change := formatChange(r.Change)
			if r.Regressed {
				change += "  REGRESSED"
			}
			p("%s\t%s\t%s\t%s\t%s\n", r.Run, r.Metric, formatValue(r.Metric, r.Base), formatValue(r.Metric, r.New), change)
		}
	}
	errs = append(errs, tw.Flush())
	pl := func(format string, a ...any) {
		_, err := fmt.Fprintf(w, format, a...)
		errs = append(errs, err)
	}
	for _, r := range c.MissingInNew {
		pl("missing in new: %s\n", r)
	}
	for _, r := range c.MissingInBase {
		pl("missing in base: %s\n", r)
	}
	for _, m := range c.MissingMetrics {
		pl("missing in new: %s\n", m)
	}
	for _, n := range c.Notes {
		pl("note: %s\n", n)
	}
	tol := fmt.Sprintf("%.4g%%", 100*c.Tolerance)
	switch c.Regressions {
	case 0:
		pl("no regression beyond %s\n", tol)
	case 1:
		pl("1 regression beyond %s\n", tol)
	default:
		pl("%d regressions beyond %s\n", c.Regressions, tol)
	}
	return errors.Join(errs...)
}

func formatChange(c float64) string {
	switch {
	case math.IsNaN(c):
		return "n/a"
	case c == 0:
		return "0.0%"
	}
	return fmt.Sprintf("%+.1f%%", 100*c)
}
