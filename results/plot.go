package results

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/prunebench/prunebench/internal/atomicfile"
)

// PlotOptions shape a plot of one metric against a setting.
type PlotOptions struct {
	// X is a numeric method option ("rho", "iters", "steps") or
	// "sparsity" (unstructured ratios; N:M runs are left out).
	X string
	// Y is a metric name.
	Y string
	// Series makes one line per "method" (default), "model", "sparsity"
	// or option value. Settings that differ within a method besides X and
	// the seed split its line further, as they split table rows.
	Series string
	// LogX puts X on a log scale; every X must then be positive.
	LogX  bool
	Title string // default "Y vs X"
	// Path is the file to write; its extension, .png or .svg, picks the
	// format.
	Path string
	// MethodOrder orders method series (and so their colours and markers).
	MethodOrder []string
}

// Plot draws metric Y against setting X as one line per series, points
// sorted by X, with markers and a legend, and writes it to o.Path (making
// its directory) through a temporary file renamed into place, so a failed
// plot leaves no half file. Runs that differ only in the seed are averaged
// into one point. Dense runs have no X: where they have Y they are drawn as
// a dashed horizontal line labelled "dense" (one per model when there are
// several). Runs lacking X, Y or the series setting are left out; an error
// is returned when no point remains.
func Plot(recs []Record, o PlotOptions) error {
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(o.Path), "."))
	if format != "png" && format != "svg" {
		return fmt.Errorf("plot %s: want a .png or .svg file", o.Path)
	}
	xName, series, dense, err := plotData(recs, o)
	if err != nil {
		return err
	}

	p := plot.New()
	p.Title.Text = cmp.Or(o.Title, o.Y+" vs "+xName)
	p.X.Label.Text = xName
	p.Y.Label.Text = o.Y
	if o.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	for i, s := range series {
		line, marks, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return fmt.Errorf("plot %s: %s: %w", o.Path, s.label, err)
		}
		line.Color = plotutil.Color(i)
		marks.Color = plotutil.Color(i)
		marks.Shape = plotutil.Shape(i)
		p.Add(line, marks)
		p.Legend.Add(s.label, line, marks)
	}
	for i, d := range dense {
		y := d.y
		// A Function spans the X axis whatever its range, but has no data
		// range of its own: Y is widened by hand to show it.
		f := plotter.NewFunction(func(float64) float64 { return y })
		f.Color = color.Gray{Y: uint8(0x30 + 0x30*(i%3))}
		f.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		f.Samples = 2
		p.Add(f)
		p.Legend.Add(d.label, f)
		p.Y.Min, p.Y.Max = math.Min(p.Y.Min, y), math.Max(p.Y.Max, y)
	}

	// gonum widens a one-value axis [x, x] to [x−1, x+1], which reaches 0
	// for x ≤ 1 and makes its log ticks panic: widen by a factor instead.
	if o.LogX && p.X.Min == p.X.Max {
		p.X.Min, p.X.Max = p.X.Min/2, p.X.Max*2
	}

	// The legend goes in a strip right of the plot, where it cannot hide
	// points (a plot of many runs has no free corner).
	wt, err := draw.NewFormattedCanvas(6*vg.Inch, 4*vg.Inch, format)
	if err != nil {
		return fmt.Errorf("plot %s: %w", o.Path, err)
	}
	dc := draw.New(wt)
	p.Legend.Top = true
	r := p.Legend.Rectangle(dc)
	width := dc.Max.X - dc.Min.X
	if lw := r.Max.X - r.Min.X + vg.Points(8); lw < width/2 {
		legend := p.Legend
		p.Legend = plot.NewLegend()
		p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
		legend.Draw(draw.Crop(dc, width-lw, 0, 0, -p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y))
	} else {
		p.Draw(dc) // labels too long for a strip: the legend goes inside
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
		return err
	}
	f, err := atomicfile.Create(o.Path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := wt.WriteTo(f); err != nil {
		return fmt.Errorf("plot %s: %w", o.Path, err)
	}
	return f.Commit()
}

// plotSeries is one line of a plot.
type plotSeries struct {
	label string
	xys   plotter.XYs // sorted by X
}

// denseLine is a dense model's level.
type denseLine struct {
	label string
	y     float64
}

// plotData works out what Plot draws: the X axis name, the series and the
// dense levels.
func plotData(recs []Record, o PlotOptions) (xName string, series []plotSeries, dense []denseLine, err error) {
	if o.X == "" || o.Y == "" {
		return "", nil, nil, fmt.Errorf("plot: X and Y must be given")
	}
	xKey, seriesKey := dimKey(o.X), dimKey(cmp.Or(o.Series, keyMethod))
	if xKey == keyModel || xKey == keyMethod {
		return "", nil, nil, fmt.Errorf("plot X %s: want sparsity or a method option", o.X)
	}
	if xKey == seriesKey {
		return "", nil, nil, fmt.Errorf("plot X and series are both %s", o.X)
	}
	recs = uniqueIDs(recs)
	if err := haveMetric(recs, o.Y); err != nil {
		return "", nil, nil, fmt.Errorf("plot: %w", err)
	}

	var points, denseRecs []Record
	skippedNM := 0
	for _, r := range recs {
		if _, ok := r.Metrics[o.Y]; !ok {
			continue
		}
		if r.Method.Name == MethodDense {
			denseRecs = append(denseRecs, r)
			continue
		}
		v, ok := get(r, xKey)
		if !ok {
			continue
		}
		if xKey == keySparsity {
			if p := parsePattern(v.text); !p.ok || p.nm {
				skippedNM++
				continue
			}
		} else if !v.isNum {
			return "", nil, nil, fmt.Errorf("plot X %s: run %s has %s %s, not a number", o.X, r.ID, o.X, v.text)
		}
		points = append(points, r)
	}
	lab := newLabeller(recs, o.MethodOrder, true)
	// Lines of different models must not merge.
	g := buildGrid(points, seriesKey, xKey, o.Y, lab, seriesKey != keyModel && len(models(points)) > 1)
	if len(g.rows) == 0 {
		msg := fmt.Sprintf("plot: no run has %s, %s and %s", dimWords(xKey), dimWords(seriesKey), o.Y)
		if skippedNM > 0 {
			msg += fmt.Sprintf(" (%d N:M runs left out: they have no sparsity ratio)", skippedNM)
		}
		return "", nil, nil, fmt.Errorf("%s", msg)
	}
	xOf := func(v value) float64 {
		if xKey == keySparsity {
			return parsePattern(v.text).ratio
		}
		return v.num
	}
	if o.LogX {
		for _, c := range g.cols {
			if !(xOf(c) > 0) {
				return "", nil, nil, fmt.Errorf("plot: log scale for %s, but a run has %s %s", o.X, o.X, c.text)
			}
		}
	}
	for _, row := range g.rows {
		s := plotSeries{label: lab.join(row.parts, false)}
		for _, c := range g.cols { // sorted by X
			if ys := row.cells[c.text]; len(ys) > 0 {
				mean, _ := meanStd(ys)
				s.xys = append(s.xys, plotter.XY{X: xOf(c), Y: mean})
			}
		}
		series = append(series, s)
	}
	denseModels := models(denseRecs)
	for _, m := range denseModels {
		var ys []float64
		for _, r := range denseRecs {
			if r.Model.Name == m {
				ys = append(ys, r.Metrics[o.Y])
			}
		}
		y, _ := meanStd(ys)
		if math.IsNaN(y) || math.IsInf(y, 0) {
			continue // no level to draw
		}
		d := denseLine{label: MethodDense, y: y}
		if len(denseModels) > 1 {
			d.label += " " + m
		}
		dense = append(dense, d)
	}
	return dimName(xKey), series, dense, nil
}
