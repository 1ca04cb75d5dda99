package results

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Table writes rows under header as a text table.
func Table(w io.Writer, header []string, rows [][]string) error {
	t := tablewriter.NewWriter(w)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

// MetricWikiText2PPL is the default metric of a paper table.
const MetricWikiText2PPL = "wikitext2_ppl"

// TableOptions shape a paper table.
type TableOptions struct {
	// Metric is the number in the cells; default MetricWikiText2PPL.
	Metric string
	// Rows and Cols name what rows and columns stand for: "method",
	// "model", "sparsity" (the pattern) or a method option ("rho",
	// "iters"). Defaults: Rows "method", Cols "sparsity".
	Rows, Cols string
	// Format is "text" (default), "markdown" or "csv".
	Format string
	// MethodOrder orders method rows after the dense one; methods not in
	// it follow in name order.
	MethodOrder []string
	// Caption is printed above the table; empty means the one Caption
	// builds from the table's records. With one table per model a given
	// caption gets " (model)" appended. CSV has no caption.
	Caption   string
	NoCaption bool
}

// PaperTable writes the metric of recs in the paper's layout: one row per
// method (dense first, its value in the first column only), one column per
// sparsity (unstructured ratios ascending, then N:M patterns). Settings
// that differ between the runs of one method (grid options, calibration)
// join the row label ("admm-grad ρ=0.1 iters=20"); runs that differ only
// in the calibration seed share a cell as mean ± std.
//
// When the records hold several models and neither Rows nor Cols is
// "model", text and markdown get one table per model, each with its own
// caption, as papers print them; CSV gets a leading model column instead.
// Records with the same ID count once.
func PaperTable(w io.Writer, recs []Record, o TableOptions) error {
	o.Metric = cmp.Or(o.Metric, MetricWikiText2PPL)
	o.Rows = cmp.Or(o.Rows, keyMethod)
	o.Cols = cmp.Or(o.Cols, keySparsity)
	o.Format = cmp.Or(o.Format, "text")
	switch o.Format {
	case "text", "markdown", "csv":
	default:
		return fmt.Errorf("table format %q: want text, markdown or csv", o.Format)
	}
	rowKey, colKey := dimKey(o.Rows), dimKey(o.Cols)
	if rowKey == colKey {
		return fmt.Errorf("table rows and columns are both %s", o.Rows)
	}
	recs = uniqueIDs(recs)
	if err := haveMetric(recs, o.Metric); err != nil {
		return err
	}

	type table struct {
		model string
		recs  []Record
		grid  grid
	}
	var tables []table
	split := rowKey != keyModel && colKey != keyModel
	if split {
		for _, m := range models(recs) {
			tables = append(tables, table{model: m, recs: slices.DeleteFunc(slices.Clone(recs), func(r Record) bool { return r.Model.Name != m })})
		}
	} else {
		tables = []table{{recs: recs}}
	}
	lab := newLabeller(recs, o.MethodOrder, true)
	empty := true
	for i := range tables {
		tables[i].grid = buildGrid(tables[i].recs, rowKey, colKey, o.Metric, lab, false)
		if len(tables[i].grid.rows) > 0 {
			empty = false
		}
	}
	if empty {
		return fmt.Errorf("no run has %s and %s together with %s", dimWords(rowKey), dimWords(colKey), o.Metric)
	}
	tables = slices.DeleteFunc(tables, func(t table) bool { return len(t.grid.rows) == 0 })

	if o.Format == "csv" {
		cw := csv.NewWriter(w)
		modelCol := split && len(tables) > 1
		for i, t := range tables {
			header, rows := t.grid.cells(lab, o.Metric)
			if modelCol {
				header = append([]string{keyModel}, header...)
				for j := range rows {
					rows[j] = append([]string{t.model}, rows[j]...)
				}
			}
			if i == 0 {
				cw.Write(header)
			}
			cw.WriteAll(rows)
		}
		cw.Flush()
		return cw.Error()
	}
	for i, t := range tables {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if !o.NoCaption {
			c := o.Caption
			if c == "" {
				c = Caption(t.grid.recs, o.Metric)
			} else if len(tables) > 1 {
				c += " (" + t.model + ")"
			}
			if _, err := fmt.Fprintf(w, "%s\n\n", c); err != nil {
				return err
			}
		}
		header, rows := t.grid.cells(lab, o.Metric)
		opts := []tablewriter.Option{tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithHeaderAlignment(tw.AlignLeft)}
		if o.Format == "markdown" {
			opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
		}
		tbl := tablewriter.NewTable(w, opts...)
		tbl.Header(header)
		if err := tbl.Bulk(rows); err != nil {
			return err
		}
		if err := tbl.Render(); err != nil {
			return err
		}
	}
	return nil
}

// dimWords names a dimension in an error message.
func dimWords(key string) string {
	if o, ok := strings.CutPrefix(key, optPrefix); ok {
		return "option " + o
	}
	return "a " + key
}

// uniqueIDs drops records whose ID came before, as when the same file is
// given twice.
func uniqueIDs(recs []Record) []Record {
	seen := map[string]bool{}
	var out []Record
	for _, r := range recs {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out
}

// models lists the model names in order of first appearance.
func models(recs []Record) []string {
	var ms []string
	for _, r := range recs {
		if !slices.Contains(ms, r.Model.Name) {
			ms = append(ms, r.Model.Name)
		}
	}
	return ms
}

// haveMetric fails, listing the metrics there are, when no record has
// metric.
func haveMetric(recs []Record, metric string) error {
	have := map[string]bool{}
	for _, r := range recs {
		if _, ok := r.Metrics[metric]; ok {
			return nil
		}
		for k := range r.Metrics {
			have[k] = true
		}
	}
	if len(have) == 0 {
		return fmt.Errorf("no run has metric %s (the runs have no metrics)", metric)
	}
	return fmt.Errorf("no run has metric %s; the runs have %s", metric, strings.Join(slices.Sorted(maps.Keys(have)), ", "))
}

// grid is a metric's values by row label and column.
type grid struct {
	recs           []Record // those placed
	rowKey, colKey string
	cols           []value
	rows           []gridRow
}

type gridRow struct {
	parts []setting // what the label prints
	dense bool
	cells map[string][]float64 // by column text
}

// buildGrid places every record that has metric: its row is the rowKey
// setting plus the settings that vary among its method's records (but not
// colKey, the seed, over which cells average, or the model unless
// withModel, when it leads); its column the
// colKey setting. Records lacking either are left out, except dense ones,
// which have no pattern or options: they make a "dense" row and sit in the
// first column.
func buildGrid(recs []Record, rowKey, colKey, metric string, lab *labeller, withModel bool) grid {
	g := grid{rowKey: rowKey, colKey: colKey}
	recs = slices.DeleteFunc(slices.Clone(recs), func(r Record) bool {
		_, ok := r.Metrics[metric]
		_, hasCol := get(r, colKey)
		_, hasRow := get(r, rowKey)
		return !ok || (!hasCol || !hasRow) && r.Method.Name != MethodDense
	})
	g.recs = recs
	// Labels tell apart only the runs in the grid.
	vary := varying(recs)
	methods := map[string]bool{}
	for _, r := range recs {
		if r.Method.Name != MethodDense {
			methods[r.Method.Name] = true
		}
	}
	byLabel := map[string]*gridRow{}
	var order []string
	cols := map[string]value{}
	for _, r := range recs {
		y := r.Metrics[metric]
		dense := r.Method.Name == MethodDense
		cv, hasCol := get(r, colKey)
		rv, hasRow := get(r, rowKey)
		var parts []setting
		if hasRow {
			parts = append(parts, setting{rowKey, rv})
		} else {
			parts = append(parts, setting{keyMethod, value{text: MethodDense}})
		}
		for _, s := range settings(r) {
			switch s.key {
			case rowKey, colKey, keySeed:
				continue
			case keyModel:
				if withModel {
					parts = append([]setting{s}, parts...)
				}
				continue
			case keyMethod:
				if len(methods) > 1 && parts[0].key != keyMethod {
					parts = append(parts, s)
				}
				continue
			}
			if vary[r.Method.Name][s.key] {
				parts = append(parts, s)
			}
		}
		label := lab.join(parts, true)
		row := byLabel[label]
		if row == nil {
			row = &gridRow{parts: parts, dense: dense, cells: map[string][]float64{}}
			byLabel[label] = row
			order = append(order, label)
		}
		col := ""
		if hasCol {
			col = cv.text
			cols[col] = cv
		}
		row.cells[col] = append(row.cells[col], y)
	}
	g.cols = slices.Collect(maps.Values(cols))
	lab.sortValues(colKey, g.cols)
	first := ""
	if len(g.cols) > 0 {
		first = g.cols[0].text
	}
	for _, label := range order {
		row := byLabel[label]
		if xs, ok := row.cells[""]; ok && first != "" {
			delete(row.cells, "")
			row.cells[first] = append(row.cells[first], xs...)
		}
		g.rows = append(g.rows, *row)
	}
	slices.SortStableFunc(g.rows, func(a, b gridRow) int {
		// A row labelled "dense" leads; by model, each model's dense row
		// leads that model's rows anyway.
		if a.dense != b.dense {
			if a.dense && a.parts[0].key == keyMethod {
				return -1
			}
			if b.dense && b.parts[0].key == keyMethod {
				return 1
			}
		}
		return lab.compareLists(a.parts, b.parts)
	})
	return g
}

// cells prints the grid: a header and one line per row.
func (g grid) cells(lab *labeller, metric string) (header []string, rows [][]string) {
	header = []string{dimName(g.rowKey)}
	cols := g.cols
	if len(cols) == 0 {
		cols = []value{{}} // only dense runs: one column named by the metric
		header = append(header, metric)
	} else {
		for _, c := range cols {
			header = append(header, lab.text(setting{g.colKey, c}, false))
		}
	}
	// A single value is plainly one run; the count of a mean is worth
	// printing when means are over different numbers of runs.
	counts := map[int]bool{}
	for _, r := range g.rows {
		for _, xs := range r.cells {
			if len(xs) > 1 {
				counts[len(xs)] = true
			}
		}
	}
	for _, r := range g.rows {
		line := []string{lab.join(r.parts, true)}
		for _, c := range cols {
			xs := r.cells[c.text]
			line = append(line, formatCell(metric, xs, len(counts) > 1))
		}
		rows = append(rows, line)
	}
	return header, rows
}

// formatCell prints a cell: the value, or mean ± std over seeds with the
// count when showN.
func formatCell(metric string, xs []float64, showN bool) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return formatValue(metric, xs[0])
	}
	mean, std := meanStd(xs)
	s := formatValue(metric, mean) + " ± " + formatStd(metric, mean, std)
	if showN {
		s += fmt.Sprintf(" (n=%d)", len(xs))
	}
	return s
}

// isFraction tells metrics printed as percentages: accuracies and
// agreement rates, the metrics where higher is better.
func isFraction(metric string) bool { return HigherIsBetter(metric) }

// formatValue prints a metric's value: fractions as percentages with two
// decimals, large values (perplexities) with two decimals, small ones (KL
// divergences, ratios) with four significant digits.
func formatValue(metric string, v float64) string {
	switch {
	case isFraction(metric):
		return fmt.Sprintf("%.2f", 100*v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

func formatStd(metric string, mean, std float64) string {
	switch {
	case isFraction(metric):
		return fmt.Sprintf("%.2f", 100*std)
	case math.Abs(mean) >= 10:
		return fmt.Sprintf("%.2f", std)
	}
	return fmt.Sprintf("%.2g", std)
}
