package main

import (
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
