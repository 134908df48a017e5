package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The size of the curves' PNGs in pixels, and the resolution at which
// lengths in points are turned into pixels.
const (
	plotW, plotH = 800, 480
	plotDPI      = 96
)

// Colours of the curves (the first of Matplotlib's "tab10").
var (
	blue   = color.RGBA{31, 119, 180, 255}
	orange = color.RGBA{255, 127, 14, 255}
	green  = color.RGBA{44, 160, 44, 255}
	red    = color.RGBA{214, 39, 40, 255}
)

// runMetrics is what the plots take from a run's metrics.jsonl.
type runMetrics struct {
	// Logged steps in the order of the global step: loss, cosine to the
	// positive and to the hallucinated positive (zero without the
	// Hallucinator).
	steps []stepPoint
	// Completed epochs in order (1-based), with the mean loss and the
	// monitor's kNN accuracy where it ran.
	epochs []epochPoint
	// The largest step within an epoch seen in the step records: the
	// steps per epoch, or 0 without step records.
	stepsPerEpoch int
	// The final evaluation's kNN accuracy (a fraction), if there is one.
	finalKNN    float64
	hasFinalKNN bool
	// monitorSplit is the split the monitor read ("val" or "test"; empty
	// in runs that predate the record).
	monitorSplit string
}

type stepPoint struct {
	step                 float64
	loss, posCos, halCos float64
}

type epochPoint struct {
	epoch  int
	loss   float64
	knn    float64
	hasKNN bool
}

// readMetrics reads the step, epoch and final records of metrics.jsonl.
// A record written again (a step repeated after a resume, a finished run
// evaluated again) replaces the earlier one.
func readMetrics(r io.Reader) (*runMetrics, error) {
	m := &runMetrics{}
	steps := map[float64]stepPoint{}
	epochs := map[int]epochPoint{}
	dec := json.NewDecoder(r)
	for {
		var rec map[string]any
		if err := dec.Decode(&rec); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		num := func(k string) (float64, bool) {
			v, ok := rec[k].(float64)
			return v, ok && !math.IsNaN(v) && !math.IsInf(v, 0)
		}
		switch rec["type"] {
		case "step":
			gs, ok := num("global_step")
			if !ok {
				continue
			}
			p := stepPoint{step: gs, loss: math.NaN(), posCos: math.NaN(), halCos: math.NaN()}
			if v, ok := num("loss"); ok {
				p.loss = v
			}
			if v, ok := num("pos_cos"); ok {
				p.posCos = v
			}
			if v, ok := num("hal_cos"); ok {
				p.halCos = v
			}
			steps[gs] = p
			if s, ok := num("step"); ok {
				m.stepsPerEpoch = max(m.stepsPerEpoch, int(s))
			}
		case "epoch":
			e, ok := num("epoch")
			if !ok {
				continue
			}
			p := epochPoint{epoch: int(e), loss: math.NaN()}
			if v, ok := num("loss"); ok {
				p.loss = v
			}
			p.knn, p.hasKNN = num("knn")
			if split, ok := rec["knn_split"].(string); ok && p.hasKNN {
				m.monitorSplit = split
			}
			epochs[p.epoch] = p
		case "final":
			if v, ok := num("knn"); ok {
				m.finalKNN, m.hasFinalKNN = v, true
			}
		}
	}
	for _, p := range steps {
		m.steps = append(m.steps, p)
	}
	sort.Slice(m.steps, func(i, j int) bool { return m.steps[i].step < m.steps[j].step })
	for _, p := range epochs {
		m.epochs = append(m.epochs, p)
	}
	sort.Slice(m.epochs, func(i, j int) bool { return m.epochs[i].epoch < m.epochs[j].epoch })
	return m, nil
}

// writeRunPlots writes loss.png, similarity.png and accuracy.png from the
// run's metrics.jsonl, and probe.png from the linear probe's curve in
// summary.json when the run has one.
func writeRunPlots(dir string) error {
	f, err := os.Open(filepath.Join(dir, metricsFile))
	if err != nil {
		return err
	}
	m, err := readMetrics(bufio.NewReader(f))
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", metricsFile, err)
	}
	if err := writeLossPlot(filepath.Join(dir, "loss.png"), m); err != nil {
		return err
	}
	if err := writeSimilarityPlot(filepath.Join(dir, "similarity.png"), m); err != nil {
		return err
	}
	if err := writeAccuracyPlot(filepath.Join(dir, "accuracy.png"), m); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(dir, summaryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var sum summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		return fmt.Errorf("%s: %w", summaryFile, err)
	}
	if len(sum.LinearCurve) == 0 {
		return nil
	}
	return writeProbePlot(filepath.Join(dir, "probe.png"), sum.LinearCurve)
}

// writeLossPlot draws the loss of the logged steps as a line and the mean
// loss of each epoch as a point in the middle of the epoch.
func writeLossPlot(path string, m *runMetrics) error {
	p := newPlot("pre-training loss", "step", "loss")
	leg := plot.NewLegend()
	var xs, ys []float64
	for _, s := range m.steps {
		xs, ys = append(xs, s.step), append(ys, s.loss)
	}
	if err := addLine(p, &leg, "loss (logged steps)", xs, ys, blue); err != nil {
		return err
	}
	var ex, ey []float64
	if m.stepsPerEpoch > 0 {
		for _, e := range m.epochs {
			ex, ey = append(ex, (float64(e.epoch)-0.5)*float64(m.stepsPerEpoch)), append(ey, e.loss)
		}
	}
	if err := addPoints(p, &leg, "epoch mean (mid-epoch)", ex, ey, orange, draw.CircleGlyph{}, 3.5); err != nil {
		return err
	}
	all := append(append([]float64(nil), ys...), ey...)
	lo, hi := dataRange(all)
	c := math.Max(math.Abs(lo), math.Abs(hi))
	p.Y.Min, p.Y.Max = niceRange(lo, hi, 1e-3*math.Max(c, 1), math.Inf(-1), math.Inf(1))
	p.X.Min, p.X.Max = stepRange(append(xs, ex...))
	return savePlot(path, p, &leg, plotW, plotH)
}

// writeSimilarityPlot draws the cosine similarity of the embeddings of the
// two views (positive) and, with the Hallucinator, of a view and its
// hallucinated positive, by step.
func writeSimilarityPlot(path string, m *runMetrics) error {
	p := newPlot("cosine similarity to the positive", "step", "cosine similarity")
	leg := plot.NewLegend()
	var xs, pos, hx, hal []float64
	for _, s := range m.steps {
		xs, pos = append(xs, s.step), append(pos, s.posCos)
		if s.halCos != 0 && !math.IsNaN(s.halCos) {
			hx, hal = append(hx, s.step), append(hal, s.halCos)
		}
	}
	if err := addLine(p, &leg, "positive", xs, pos, blue); err != nil {
		return err
	}
	if err := addLine(p, &leg, "hallucinated", hx, hal, red); err != nil {
		return err
	}
	lo, hi := dataRange(append(append([]float64(nil), pos...), hal...))
	p.Y.Min, p.Y.Max = niceRange(lo, hi, 0.05, -1, 1)
	p.X.Min, p.X.Max = stepRange(xs)
	return savePlot(path, p, &leg, plotW, plotH)
}

// writeAccuracyPlot draws the kNN accuracy in percent by epoch: the
// monitor's evaluations at their epoch and the final evaluation, after
// the last epoch, at the last epoch.
func writeAccuracyPlot(path string, m *runMetrics) error {
	title := "kNN accuracy on the test set"
	monitor := "monitor (during training)"
	if m.monitorSplit == "val" {
		// The monitor read the validation split, the final evaluation
		// the test split: two curves, not one.
		title, monitor = "kNN accuracy: monitor on validation, final on test", "monitor on validation"
	}
	if m.hasFinalKNN {
		title += fmt.Sprintf(" (final %.2f %%)", 100*m.finalKNN)
	}
	p := newPlot(title, "epoch", "accuracy (%)")
	leg := plot.NewLegend()
	var xs, ys []float64
	for _, e := range m.epochs {
		if e.hasKNN {
			xs, ys = append(xs, float64(e.epoch)), append(ys, 100*e.knn)
		}
	}
	last := 0
	if len(m.epochs) > 0 {
		last = m.epochs[len(m.epochs)-1].epoch
	}
	var fx, fy []float64
	if m.hasFinalKNN {
		fx, fy = []float64{float64(max(last, 1))}, []float64{100 * m.finalKNN}
	}
	// One line through the monitor's points and on to the final one.
	if len(xs) > 0 && len(fx) > 0 && m.monitorSplit != "val" {
		if err := addLine(p, nil, "", append(append([]float64(nil), xs...), fx...), append(append([]float64(nil), ys...), fy...), blue); err != nil {
			return err
		}
	}
	if m.monitorSplit == "val" && len(xs) > 1 {
		if err := addLine(p, nil, "", xs, ys, blue); err != nil {
			return err
		}
	}
	if err := addPoints(p, &leg, monitor, xs, ys, blue, draw.CircleGlyph{}, 3); err != nil {
		return err
	}
	final := "final"
	if m.monitorSplit == "val" {
		final = "final, on test"
	}
	if err := addPoints(p, &leg, final, fx, fy, red, draw.PyramidGlyph{}, 5.5); err != nil {
		return err
	}
	if len(fx) > 0 {
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: fx[0], Y: fy[0]}}, Labels: []string{fmt.Sprintf("%.2f %%", fy[0])}})
		if err != nil {
			return err
		}
		lab.TextStyle[0].XAlign, lab.TextStyle[0].Color = draw.XRight, red
		lab.Offset = vg.Point{X: -vg.Points(8), Y: vg.Points(4)}
		p.Add(lab)
	}
	lo, hi := dataRange(append(append([]float64(nil), ys...), fy...))
	p.Y.Min, p.Y.Max = percentRange(lo, hi)
	p.X.Min, p.X.Max = epochRange(append(xs, fx...))
	return savePlot(path, p, &leg, plotW, plotH)
}

// writeProbePlot draws the linear probe's test accuracy (fractions in
// curve) in percent by probe epoch.
func writeProbePlot(path string, curve []float64) error {
	var xs, ys []float64
	best := math.Inf(-1)
	for i, v := range curve {
		xs, ys = append(xs, float64(i+1)), append(ys, 100*v)
		best = math.Max(best, 100*v)
	}
	p := newPlot(fmt.Sprintf("linear probe on the frozen features (last %.2f %%, best %.2f %%)", ys[len(ys)-1], best), "probe epoch", "test accuracy (%)")
	if err := addLine(p, nil, "", xs, ys, green); err != nil {
		return err
	}
	if err := addPoints(p, nil, "", xs, ys, green, draw.CircleGlyph{}, 2.5); err != nil {
		return err
	}
	lo, hi := dataRange(ys)
	p.Y.Min, p.Y.Max = percentRange(lo, hi)
	p.X.Min, p.X.Max = epochRange(xs)
	return savePlot(path, p, nil, plotW, plotH)
}

// newPlot returns a plot with a title, axis labels, round ticks and a
// light grid.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	// Steps and epochs are whole numbers.
	p.X.Tick.Marker = niceTicks{n: 8, integer: true}
	p.Y.Tick.Marker = niceTicks{n: 6}
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{215}
	g.Horizontal.Color = color.Gray{215}
	p.Add(g)
	return p
}

// finiteXYs keeps the points whose coordinates are both finite.
func finiteXYs(xs, ys []float64) plotter.XYs {
	var pts plotter.XYs
	for i := range xs {
		if finite(xs[i]) && finite(ys[i]) {
			pts = append(pts, plotter.XY{X: xs[i], Y: ys[i]})
		}
	}
	return pts
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// addLine adds a line through the finite points, named in leg unless leg
// is nil; it adds nothing without a point.
func addLine(p *plot.Plot, leg *plot.Legend, name string, xs, ys []float64, c color.Color) error {
	pts := finiteXYs(xs, ys)
	if len(pts) == 0 {
		return nil
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color, l.Width = c, vg.Points(1.5)
	p.Add(l)
	if leg != nil {
		leg.Add(name, l)
	}
	if len(pts) == 1 {
		// A line through one point draws nothing: mark the point.
		return addPoints(p, nil, "", xs, ys, c, draw.CircleGlyph{}, 2.5)
	}
	return nil
}

// addPoints adds the finite points as glyphs of radius r points, named in
// leg; it adds nothing without a point.
func addPoints(p *plot.Plot, leg *plot.Legend, name string, xs, ys []float64, c color.Color, shape draw.GlyphDrawer, r float64) error {
	pts := finiteXYs(xs, ys)
	if len(pts) == 0 {
		return nil
	}
	s, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	s.GlyphStyle = draw.GlyphStyle{Color: c, Shape: shape, Radius: vg.Points(r)}
	p.Add(s)
	if leg != nil {
		leg.Add(name, s)
	}
	return nil
}

// dataRange returns the smallest and largest finite values, or NaNs
// without one.
func dataRange(vs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if finite(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo > hi {
		return math.NaN(), math.NaN()
	}
	return lo, hi
}

// niceRange returns an axis range for values between lo and hi: padded by
// 5 % of their spread on either side, widened about its centre to at
// least minSpan, moved (not shrunk) inside [floor, ceil] and rounded out to
// a 1-2-5 step of about a tenth of it. Without values (NaN) it is the
// whole of [floor, ceil] where that is finite, [0, 1] otherwise.
func niceRange(lo, hi, minSpan, floor, ceil float64) (float64, float64) {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		if finite(floor) && finite(ceil) {
			return floor, ceil
		}
		return 0, 1
	}
	pad := 0.05 * (hi - lo)
	lo, hi = lo-pad, hi+pad
	if hi-lo < minSpan {
		c := (lo + hi) / 2
		lo, hi = c-minSpan/2, c+minSpan/2
	}
	if lo < floor {
		lo, hi = floor, hi+(floor-lo)
	}
	if hi > ceil {
		lo, hi = lo-(hi-ceil), ceil
	}
	lo, hi = math.Max(lo, floor), math.Min(hi, ceil)
	step := niceStep((hi - lo) / 10)
	lo = math.Max(math.Floor(lo/step+1e-9)*step, floor)
	hi = math.Min(math.Ceil(hi/step-1e-9)*step, ceil)
	return lo, hi
}

// percentRange is the range of an accuracy axis in percent: at least
// 5 points wide, within [0, 100].
func percentRange(lo, hi float64) (float64, float64) {
	return niceRange(lo, hi, 5, 0, 100)
}

// stepRange is the range of a step axis: from 0 to the last step.
func stepRange(xs []float64) (float64, float64) {
	_, hi := dataRange(xs)
	if math.IsNaN(hi) || hi <= 0 {
		return 0, 1
	}
	return 0, hi
}

// epochRange is the range of an epoch axis: from half an epoch before
// the first to half an epoch after the last (or 3 % of the span for many
// epochs).
func epochRange(xs []float64) (float64, float64) {
	lo, hi := dataRange(xs)
	if math.IsNaN(lo) {
		return 0.5, 1.5
	}
	pad := math.Max(0.5, 0.03*(hi-lo))
	return lo - pad, hi + pad
}

// niceStep is the smallest of 1, 2 and 5 times a power of ten that is at
// least x (1 for x not positive).
func niceStep(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5} {
		if m*e >= x*(1-1e-9) {
			return m * e
		}
	}
	return 10 * e
}

// niceTicks labels multiples of a 1-2-5 step chosen for about n labelled
// ticks, with unlabelled minor ticks between them; with integer, the step
// is at least 1.
type niceTicks struct {
	n       int
	integer bool
}

// Ticks implements plot.Ticker.
func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	step := niceStep((hi - lo) / float64(max(t.n, 1)))
	if t.integer {
		step = math.Max(step, 1)
	}
	prec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	var ticks []plot.Tick
	first, last := math.Ceil(lo/step-1e-9), math.Floor(hi/step+1e-9)
	for i := first; i <= last; i++ {
		v := i * step
		if v == 0 {
			v = 0 // no "-0"
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
	}
	// Minor ticks: fifths of 1 and 5, quarters of 2.
	minor := step / 5
	if m := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9)); math.Abs(m-2) < 1e-6 {
		minor = step / 4
	}
	if t.integer && minor < 1 {
		return ticks
	}
	for i := math.Ceil(lo/minor - 1e-9); i <= math.Floor(hi/minor+1e-9); i++ {
		v := i * minor
		if r := math.Abs(v/step - math.Round(v/step)); r > 1e-6 {
			ticks = append(ticks, plot.Tick{Value: v})
		}
	}
	return ticks
}

// savePlot draws the plot on a w by h pixel canvas, with the legend (if it
// has entries) to the right of the plot, outside its data, and writes it
// as a PNG.
func savePlot(path string, p *plot.Plot, leg *plot.Legend, w, h int) error {
	px := func(n int) vg.Length { return vg.Length(n) * vg.Inch / plotDPI }
	c := vgimg.NewWith(vgimg.UseWH(px(w), px(h)), vgimg.UseDPI(plotDPI))
	dc := draw.New(c)
	margin := vg.Points(8)
	area := draw.Crop(dc, margin/2, -margin, margin/2, -margin/2)
	if leg != nil {
		r := leg.Rectangle(dc)
		if lw := r.Max.X - r.Min.X; lw > 0 {
			leg.Top, leg.Left = true, true
			leg.Padding = vg.Points(3)
			// Level with the top of the data area, below the title.
			top := p.Title.TextStyle.Height(p.Title.Text) + p.Title.Padding + margin
			leg.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-lw-margin, -margin, 0, -top))
			area = draw.Crop(area, 0, -lw-2*margin, 0, 0)
		}
	}
	p.Draw(area)
	return writePNG(path, c.Image())
}

func writePNG(path string, img image.Image) error {
	return writeAtomic(path, func(f *os.File) error {
		bw := bufio.NewWriter(f)
		if err := png.Encode(bw, img); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// writeAtomic writes a file through a temporary file in the same
// directory, fsync and rename, so that readers never see half a file.
func writeAtomic(path string, fill func(*os.File) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = fill(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; outputs are readable like the
	// checkpoint and the metrics.
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
