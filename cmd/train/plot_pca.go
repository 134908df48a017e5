package main

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

const (
	// pcaMaxPoints bounds the points that embedding.png projects: more
	// features are thinned to this many, evenly spaced.
	pcaMaxPoints = 3000
	// The legend names the classes up to this many.
	pcaMaxLegend = 20
	embedW       = 800
	embedH       = 600
)

// tab10 is Matplotlib's palette of ten distinct colours.
var tab10 = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// classColour is the colour of class k of c: tab10 for ten classes or
// fewer, hues evenly spaced around the circle (alternately darker) for
// more.
func classColour(k, c int) color.RGBA {
	if c <= len(tab10) {
		return tab10[k]
	}
	h := 6 * float64(k) / float64(c)
	v := 0.9
	if k%2 == 1 {
		v = 0.6
	}
	s := 0.8
	i := math.Floor(h)
	f := h - i
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	var r, g, b float64
	switch int(i) % 6 {
	case 0:
		r, g, b = v, t, p
	case 1:
		r, g, b = q, v, p
	case 2:
		r, g, b = p, v, t
	case 3:
		r, g, b = p, q, v
	case 4:
		r, g, b = t, p, v
	default:
		r, g, b = v, p, q
	}
	return color.RGBA{uint8(255*r + 0.5), uint8(255*g + 0.5), uint8(255*b + 0.5), 255}
}

// The subspace that pca2 iterates has pcaRank dimensions (two needed,
// the others so that the two converge quickly), refined pcaIters times.
const (
	pcaRank  = 10
	pcaIters = 8
)

// pca2 projects the n rows of x (n by d, row-major) on their first two
// principal components. It returns the projections (n by 2, row-major),
// the fraction of the total variance that each component explains and
// the components, unit vectors of length d with their largest entry
// positive.
//
// The components are the leading right singular vectors of the centred
// rows X, found by subspace iteration (a randomised SVD): an orthonormal
// basis Q of X times a fixed random d by k matrix, refined by Q <- orth(X
// orth(X^T Q)), then the eigenvectors of the k by k matrix B B^T with B =
// Q^T X. It costs O(n d k) a round where the eigendecomposition of the
// covariance would cost O(d^3): 3000 points of 2048 dimensions in
// seconds rather than minutes.
func pca2(x []float64, n, d int) (proj []float64, explained [2]float64, comps [2][]float64, err error) {
	if n < 2 || d < 2 || len(x) != n*d {
		return nil, explained, comps, fmt.Errorf("PCA of %d values as %d points of %d dimensions: need at least 2 of each", len(x), n, d)
	}
	xc := make([]float64, n*d)
	mean := make([]float64, d)
	for i := range n {
		for j := range d {
			mean[j] += x[i*d+j]
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	var total float64
	for i := range n {
		for j := range d {
			v := x[i*d+j] - mean[j]
			xc[i*d+j] = v
			total += v * v
		}
	}
	if !(total > 0) || math.IsInf(total, 0) {
		return nil, explained, comps, errors.New("PCA: the points do not vary (or are not finite)")
	}
	X := mat.NewDense(n, d, xc)
	k := min(pcaRank, n, d)
	rng := rand.New(rand.NewPCG(1, 2))
	omega := mat.NewDense(d, k, nil)
	for i := range d {
		for j := range k {
			omega.Set(i, j, rng.NormFloat64())
		}
	}
	q := mat.NewDense(n, k, nil)
	z := mat.NewDense(d, k, nil)
	q.Mul(X, omega)
	orthonormalise(q)
	for range pcaIters {
		z.Mul(X.T(), q)
		orthonormalise(z)
		q.Mul(X, z)
		orthonormalise(q)
	}
	// B^T = X^T Q (d by k); the eigenvectors w of B B^T give the right
	// singular vectors B^T w / sigma.
	z.Mul(X.T(), q)
	bbt := mat.NewSymDense(k, nil)
	bbt.SymRankK(bbt, 1, z.T())
	var eig mat.EigenSym
	if !eig.Factorize(bbt, true) {
		return nil, explained, comps, errors.New("PCA: the eigendecomposition failed")
	}
	var w mat.Dense
	eig.VectorsTo(&w)
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	vecs.Mul(z, &w)
	for c := range 2 {
		col := len(vals) - 1 - c
		v := mat.Col(nil, col, &vecs)
		var norm float64
		big := 0
		for j := range v {
			norm += v[j] * v[j]
			if math.Abs(v[j]) > math.Abs(v[big]) {
				big = j
			}
		}
		norm = math.Sqrt(norm)
		if !(norm > 1e-12*math.Sqrt(total)) {
			return nil, explained, comps, errors.New("PCA: fewer than two directions of variance")
		}
		if v[big] < 0 {
			norm = -norm
		}
		for j := range v {
			v[j] /= norm
		}
		comps[c] = v
		explained[c] = math.Max(vals[col], 0) / total
	}
	proj = make([]float64, 2*n)
	for i := range n {
		row := xc[i*d : (i+1)*d]
		for c := range 2 {
			var s float64
			for j, v := range row {
				s += v * comps[c][j]
			}
			proj[2*i+c] = s
		}
	}
	return proj, explained, comps, nil
}

// orthonormalise makes the columns of a orthonormal by modified
// Gram-Schmidt, run twice for accuracy; a column that depends on those
// before it becomes zero.
func orthonormalise(a *mat.Dense) {
	r, c := a.Dims()
	col := make([][]float64, c)
	for j := range c {
		col[j] = mat.Col(nil, j, a)
	}
	dot := func(x, y []float64) (s float64) {
		for i := range x {
			s += x[i] * y[i]
		}
		return s
	}
	for range 2 {
		for j := range c {
			for i := range j {
				p := dot(col[j], col[i])
				for t := range r {
					col[j][t] -= p * col[i][t]
				}
			}
			norm := math.Sqrt(dot(col[j], col[j]))
			if norm < 1e-150 {
				norm = math.Inf(1)
			}
			for t := range r {
				col[j][t] /= norm
			}
		}
	}
	for j := range c {
		a.SetCol(j, col[j])
	}
}

// writePCAPlot writes a scatter plot of the features (n rows of d values,
// row-major) projected on their first two principal components, each
// point coloured by its class (labels, one per row; classNames names them,
// "class k" where it has no name; a negative label, unlabelled, is grey). More than pcaMaxPoints rows are
// thinned to that many, evenly spaced.
func writePCAPlot(path string, feats []float32, d int, labels []int32, classNames []string) error {
	if d < 2 || len(feats)%d != 0 {
		return fmt.Errorf("embedding plot: %d feature values are not rows of %d", len(feats), d)
	}
	n := len(feats) / d
	if len(labels) != n {
		return fmt.Errorf("embedding plot: %d labels for %d feature rows", len(labels), n)
	}
	m := min(n, pcaMaxPoints)
	x := make([]float64, m*d)
	lab := make([]int32, m)
	classes := len(classNames)
	for i := range m {
		r := i * n / m
		for j := range d {
			x[i*d+j] = float64(feats[r*d+j])
		}
		lab[i] = labels[r]
		classes = max(classes, int(lab[i])+1)
	}
	proj, explained, _, err := pca2(x, m, d)
	if err != nil {
		return fmt.Errorf("embedding plot: %w", err)
	}
	title := fmt.Sprintf("test features (%d dimensions): PCA of %d points", d, m)
	if m < n {
		title = fmt.Sprintf("test features (%d dimensions): PCA of %d of %d points", d, m, n)
	}
	p := newPlot(title, fmt.Sprintf("PC1 (%.1f %% of the variance)", 100*explained[0]),
		fmt.Sprintf("PC2 (%.1f %% of the variance)", 100*explained[1]))
	p.X.Tick.Marker = niceTicks{n: 8}
	leg := plot.NewLegend()
	var legend *plot.Legend
	if classes <= pcaMaxLegend {
		legend = &leg
	}
	var px, py []float64
	// Unlabelled points (label -1) in grey beneath the classes.
	var ux, uy []float64
	for i := range m {
		if lab[i] < 0 {
			ux, uy = append(ux, proj[2*i]), append(uy, proj[2*i+1])
		}
	}
	if err := addPoints(p, legend, "unlabelled", ux, uy, color.NRGBA{190, 190, 190, 150}, draw.CircleGlyph{}, 1.5); err != nil {
		return err
	}
	px, py = append(px, ux...), append(py, uy...)
	for k := range classes {
		var xs, ys []float64
		for i := range m {
			if int(lab[i]) == k {
				xs, ys = append(xs, proj[2*i]), append(ys, proj[2*i+1])
			}
		}
		name := fmt.Sprintf("class %d", k)
		if k < len(classNames) && classNames[k] != "" {
			name = classNames[k]
		}
		col := classColour(k, classes)
		// A little transparent, so that overlapping classes both show.
		col.A = 200
		if err := addPoints(p, legend, name, xs, ys, color.NRGBA(col), draw.CircleGlyph{}, 1.8); err != nil {
			return err
		}
		px, py = append(px, xs...), append(py, ys...)
	}
	for _, r := range []struct {
		ax     *plot.Axis
		values []float64
	}{{&p.X, px}, {&p.Y, py}} {
		lo, hi := dataRange(r.values)
		c := math.Max(math.Abs(lo), math.Abs(hi))
		r.ax.Min, r.ax.Max = niceRange(lo, hi, 1e-3*math.Max(c, 1e-12), math.Inf(-1), math.Inf(1))
	}
	if legend != nil {
		legend.ThumbnailWidth = vg.Points(10)
	}
	return savePlot(path, p, legend, embedW, embedH)
}
