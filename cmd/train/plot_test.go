package main

import (
	"encoding/json"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// writeSyntheticRun writes a metrics.jsonl and a summary.json like those
// of a run of the given epochs with the kNN monitor every other epoch.
func writeSyntheticRun(t *testing.T, dir string, epochs, stepsPerEpoch int, hal bool, probe []float64) {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	gs := 0
	for e := 0; e < epochs; e++ {
		sum, n := 0.0, 0
		for s := 1; s <= stepsPerEpoch; s++ {
			gs++
			loss := -0.9 + 0.8*math.Exp(-float64(gs)/40) + 0.02*math.Sin(float64(gs))
			sum += loss
			n++
			if s%20 != 0 && s != stepsPerEpoch {
				continue
			}
			rec := map[string]any{"type": "step", "epoch": e, "step": s, "global_step": gs, "loss": loss,
				"pos_cos": -loss, "hal_cos": 0.0}
			if hal {
				rec["hal_cos"] = -loss - 0.1
			}
			if err := enc.Encode(rec); err != nil {
				t.Fatal(err)
			}
		}
		rec := map[string]any{"type": "epoch", "epoch": e + 1, "loss": sum / float64(n)}
		if (e+1)%2 == 0 && e+1 < epochs {
			rec["knn"] = 0.5 + 0.3*float64(e+1)/float64(epochs)
		}
		if err := enc.Encode(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Encode(map[string]any{"type": "final", "knn": 0.86, "linear_last": 0.88}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, metricsFile), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(filepath.Join(dir, summaryFile), &summary{KNN: 0.86, LinearCurve: probe}); err != nil {
		t.Fatal(err)
	}
}

// checkPNG decodes a PNG and checks its size and that it is not blank:
// a meaningful share of pixels differ from the (white) background and
// there are several distinct colours.
func checkPNG(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s: %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	ink, colours := 0, map[[3]uint32]bool{}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || b < 0xf000 {
				ink++
			}
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	if frac := float64(ink) / float64(w*h); frac < 0.01 || frac > 0.5 {
		t.Errorf("%s: %.3f of the pixels drawn", path, frac)
	}
	if len(colours) < 8 {
		t.Errorf("%s: %d distinct colours", path, len(colours))
	}
	return img
}

func TestPlotRun(t *testing.T) {
	for _, tc := range []struct {
		name          string
		epochs, steps int
		hal           bool
		probe         []float64
	}{
		{"long", 10, 50, true, []float64{0.6, 0.7, 0.75, 0.8, 0.82, 0.84, 0.85, 0.86, 0.865, 0.87}},
		{"one-epoch", 1, 7, false, []float64{0.86}},
		{"no-probe", 3, 30, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSyntheticRun(t, dir, tc.epochs, tc.steps, tc.hal, tc.probe)
			if err := writeRunPlots(dir); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"loss.png", "similarity.png", "accuracy.png"} {
				checkPNG(t, filepath.Join(dir, name), plotW, plotH)
			}
			if tc.probe != nil {
				checkPNG(t, filepath.Join(dir, "probe.png"), plotW, plotH)
			} else if _, err := os.Stat(filepath.Join(dir, "probe.png")); err == nil {
				t.Error("probe.png without a linear curve")
			}
			if out := os.Getenv("PLOT_OUT"); out != "" {
				// Keep the images for a look.
				for _, name := range []string{"loss.png", "similarity.png", "accuracy.png", "probe.png"} {
					if raw, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
						_ = os.WriteFile(filepath.Join(out, tc.name+"-"+name), raw, 0o644)
					}
				}
			}
		})
	}
}

func TestPlotReadMetrics(t *testing.T) {
	// A step repeated after a resume, a skipped step (its loss a string),
	// a non-finite value and a finished run evaluated twice.
	in := `{"type":"step","epoch":0,"step":20,"global_step":20,"loss":1,"pos_cos":0.5,"hal_cos":0}
{"type":"step","epoch":0,"step":40,"global_step":40,"loss":0.9,"pos_cos":0.6,"hal_cos":0}
{"type":"skip","epoch":0,"step":41,"global_step":41,"loss":"NaN","grad_norm":"+Inf"}
{"type":"step","epoch":0,"step":40,"global_step":40,"loss":0.8,"pos_cos":0.7,"hal_cos":0}
{"type":"epoch","epoch":1,"loss":0.85}
{"type":"epoch","epoch":2,"loss":0.7,"knn":0.5}
{"type":"final","knn":0.6}
{"type":"final","knn":0.61}
`
	m, err := readMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.steps) != 2 || m.steps[1].loss != 0.8 || m.steps[1].posCos != 0.7 || m.stepsPerEpoch != 40 {
		t.Errorf("steps %+v, steps per epoch %d", m.steps, m.stepsPerEpoch)
	}
	if len(m.epochs) != 2 || m.epochs[0].hasKNN || !m.epochs[1].hasKNN || m.epochs[1].knn != 0.5 {
		t.Errorf("epochs %+v", m.epochs)
	}
	if !m.hasFinalKNN || m.finalKNN != 0.61 {
		t.Errorf("final %v %v", m.finalKNN, m.hasFinalKNN)
	}
	if _, err := readMetrics(strings.NewReader(`{"type":`)); err == nil {
		t.Error("a truncated record read without error")
	}
}

func TestPlotPercentRange(t *testing.T) {
	for _, tc := range []struct{ lo, hi float64 }{
		{86, 86}, {0, 0}, {100, 100}, {99.7, 99.9}, {0.1, 0.3}, {10, 90}, {0, 100}, {85.2, 86.1},
	} {
		lo, hi := percentRange(tc.lo, tc.hi)
		if !(lo <= tc.lo && hi >= tc.hi) || lo < 0 || hi > 100 || hi-lo < 4 {
			t.Errorf("percentRange(%v, %v) = [%v, %v]", tc.lo, tc.hi, lo, hi)
		}
		if hi-lo > math.Max(10, 2*(tc.hi-tc.lo)) {
			t.Errorf("percentRange(%v, %v) = [%v, %v]: too wide", tc.lo, tc.hi, lo, hi)
		}
		// The ends are round: multiples of half a point at least.
		for _, v := range []float64{lo, hi} {
			if 2*v != math.Round(2*v) {
				t.Errorf("percentRange(%v, %v) = [%v, %v]: ends not round", tc.lo, tc.hi, lo, hi)
			}
		}
	}
	if lo, hi := percentRange(86, 86); lo > 84 || hi < 88 || lo < 82 || hi > 90 {
		t.Errorf("one point at 86: [%v, %v]", lo, hi)
	}
	if lo, hi := percentRange(math.NaN(), math.NaN()); lo != 0 || hi != 100 {
		t.Errorf("no point: [%v, %v]", lo, hi)
	}
}

func TestPlotTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi  float64
		integer bool
		want    string
	}{
		{83, 89, false, "84 86 88"},
		{0.8333, 0.8629, false, "0.84 0.85 0.86"},
		{0, 1000, false, "0 200 400 600 800 1000"},
		{-1, 1, false, "-1.0 -0.5 0.0 0.5 1.0"},
		{0.5, 1.5, true, "1"},
		{0.5, 30.5, true, "10 20 30"},
	} {
		var labels []string
		for _, tk := range (niceTicks{n: 5, integer: tc.integer}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if got := strings.Join(labels, " "); got != tc.want {
			t.Errorf("ticks of [%v, %v]: %s, want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
	for _, x := range []float64{0.8, 1, 1.2, 3, 7, 0.013} {
		s := niceStep(x)
		m := s / math.Pow(10, math.Floor(math.Log10(s)+1e-9))
		if s < x || (math.Abs(m-1) > 1e-9 && math.Abs(m-2) > 1e-9 && math.Abs(m-5) > 1e-9) {
			t.Errorf("niceStep(%v) = %v", x, s)
		}
	}
}

// planePoints returns n points of d dimensions on the plane through c
// spanned by the orthonormal u and v: c + a u + b v, a of standard
// deviation 3 and b of 1, and u and v.
func planePoints(n, d int, seed uint64) (x []float64, u, v []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	u, v = make([]float64, d), make([]float64, d)
	for j := range d {
		u[j], v[j] = rng.NormFloat64(), rng.NormFloat64()
	}
	dot := func(a, b []float64) (s float64) {
		for j := range a {
			s += a[j] * b[j]
		}
		return s
	}
	nu := math.Sqrt(dot(u, u))
	for j := range u {
		u[j] /= nu
	}
	uv := dot(u, v)
	for j := range v {
		v[j] -= uv * u[j]
	}
	nv := math.Sqrt(dot(v, v))
	for j := range v {
		v[j] /= nv
	}
	x = make([]float64, n*d)
	for i := range n {
		a, b := 3*rng.NormFloat64(), rng.NormFloat64()
		for j := range d {
			x[i*d+j] = 5 + float64(j) + a*u[j] + b*v[j]
		}
	}
	return x, u, v
}

func TestPlotPCAOnAPlane(t *testing.T) {
	dot := func(a, b []float64) (s float64) {
		for j := range a {
			s += a[j] * b[j]
		}
		return s
	}
	// More points than dimensions and fewer.
	for _, tc := range []struct{ n, d int }{{500, 8}, {30, 64}} {
		x, u, v := planePoints(tc.n, tc.d, uint64(tc.d))
		proj, explained, comps, err := pca2(x, tc.n, tc.d)
		if err != nil {
			t.Fatal(err)
		}
		if s := explained[0] + explained[1]; math.Abs(s-1) > 1e-9 {
			t.Errorf("n %d d %d: the two components explain %v of the variance, want 1", tc.n, tc.d, s)
		}
		// The sample's variance along u is about 9 times that along v.
		if !(explained[0] > 0.75 && explained[1] > 0.02 && explained[1] < 0.25) {
			t.Errorf("n %d d %d: explained %v", tc.n, tc.d, explained)
		}
		c1, c2 := comps[0], comps[1]
		if math.Abs(dot(c1, c1)-1) > 1e-9 || math.Abs(dot(c2, c2)-1) > 1e-9 || math.Abs(dot(c1, c2)) > 1e-9 {
			t.Errorf("n %d d %d: components not orthonormal: %v %v %v", tc.n, tc.d, dot(c1, c1), dot(c2, c2), dot(c1, c2))
		}
		// Both lie in the plane, the first close to u.
		for _, c := range comps {
			if in := dot(c, u)*dot(c, u) + dot(c, v)*dot(c, v); math.Abs(in-1) > 1e-9 {
				t.Errorf("n %d d %d: a component out of the plane (%v of it in)", tc.n, tc.d, in)
			}
		}
		if math.Abs(dot(c1, u)) < 0.95 {
			t.Errorf("n %d d %d: first component . u = %v", tc.n, tc.d, dot(c1, u))
		}
		// The projections are centred and uncorrelated, and keep the
		// distances between points (the points lie in the plane).
		var m1, m2, cross float64
		for i := range tc.n {
			m1, m2, cross = m1+proj[2*i], m2+proj[2*i+1], cross+proj[2*i]*proj[2*i+1]
		}
		if math.Abs(m1) > 1e-6 || math.Abs(m2) > 1e-6 || math.Abs(cross) > 1e-6*float64(tc.n) {
			t.Errorf("n %d d %d: projection means %v %v, cross product %v", tc.n, tc.d, m1, m2, cross)
		}
		for _, pair := range [][2]int{{0, 1}, {2, tc.n - 1}} {
			i, j := pair[0], pair[1]
			var dx float64
			for k := range tc.d {
				dx += (x[i*tc.d+k] - x[j*tc.d+k]) * (x[i*tc.d+k] - x[j*tc.d+k])
			}
			dp := math.Pow(proj[2*i]-proj[2*j], 2) + math.Pow(proj[2*i+1]-proj[2*j+1], 2)
			if math.Abs(dx-dp) > 1e-9*dx {
				t.Errorf("n %d d %d: distance %v in space, %v projected", tc.n, tc.d, math.Sqrt(dx), math.Sqrt(dp))
			}
		}
	}
	if _, _, _, err := pca2(make([]float64, 20), 10, 2); err == nil {
		t.Error("PCA of identical points without error")
	}
}

func TestPlotPCAAgainstTheCovariance(t *testing.T) {
	// Full-rank points with a decaying spectrum: the iteration agrees with
	// the eigendecomposition of the covariance.
	const n, d = 400, 24
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, n*d)
	for i := range n {
		for j := range d {
			x[i*d+j] = rng.NormFloat64() * math.Pow(0.8, float64(j))
		}
	}
	// Mix the coordinates so that the components are not axes.
	mix := mat.NewDense(d, d, nil)
	for i := range d {
		for j := range d {
			mix.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(mix)
	var rot mat.Dense
	qr.QTo(&rot)
	var xm mat.Dense
	xm.Mul(mat.NewDense(n, d, x), &rot)
	x = xm.RawMatrix().Data
	_, explained, comps, err := pca2(x, n, d)
	if err != nil {
		t.Fatal(err)
	}
	mean := make([]float64, d)
	for i := range n {
		for j := range d {
			mean[j] += x[i*d+j] / n
		}
	}
	xc := mat.NewDense(n, d, nil)
	for i := range n {
		for j := range d {
			xc.Set(i, j, x[i*d+j]-mean[j])
		}
	}
	cov := mat.NewSymDense(d, nil)
	cov.SymRankK(cov, 1, xc.T())
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		t.Fatal("eigen")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	var total float64
	for _, v := range vals {
		total += v
	}
	for c := range 2 {
		want := vals[d-1-c] / total
		if math.Abs(explained[c]-want) > 1e-6 {
			t.Errorf("component %d explains %v, the covariance says %v", c+1, explained[c], want)
		}
		if p := math.Abs(mat.Dot(mat.NewVecDense(d, comps[c]), vecs.ColView(d-1-c))); p < 1-1e-6 {
			t.Errorf("component %d . eigenvector = %v", c+1, p)
		}
	}
}

func TestPlotPCAPNG(t *testing.T) {
	dir := t.TempDir()
	// Ten classes of clusters in 32 dimensions, more points than the plot
	// keeps, and one hundred classes without names.
	for _, tc := range []struct {
		name       string
		n, classes int
		names      []string
	}{
		{"ten", pcaMaxPoints + 500, 10, []string{"T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"}},
		{"hundred", 2000, 100, nil},
	} {
		const d = 32
		rng := rand.New(rand.NewPCG(7, uint64(tc.classes)))
		centres := make([]float64, tc.classes*d)
		for i := range centres {
			centres[i] = 4 * rng.NormFloat64()
		}
		feats := make([]float32, tc.n*d)
		labels := make([]int32, tc.n)
		for i := range tc.n {
			k := rng.IntN(tc.classes)
			labels[i] = int32(k)
			if i%50 == 0 {
				labels[i] = -1 // unlabelled
			}
			for j := range d {
				feats[i*d+j] = float32(centres[k*d+j] + rng.NormFloat64())
			}
		}
		path := filepath.Join(dir, tc.name+".png")
		if err := writePCAPlot(path, feats, d, labels, tc.names); err != nil {
			t.Fatal(err)
		}
		checkPNG(t, path, embedW, embedH)
		if out := os.Getenv("PLOT_OUT"); out != "" {
			raw, _ := os.ReadFile(path)
			_ = os.WriteFile(filepath.Join(out, "embedding-"+tc.name+".png"), raw, 0o644)
		}
	}
	if err := writePCAPlot(filepath.Join(dir, "bad.png"), make([]float32, 10), 4, nil, nil); err == nil {
		t.Error("features not rows of d accepted")
	}
	if err := writePCAPlot(filepath.Join(dir, "bad.png"), make([]float32, 12), 4, []int32{0, 1}, nil); err == nil {
		t.Error("2 labels for 3 rows accepted")
	}
}
