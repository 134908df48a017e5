package main

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestWritePlot(t *testing.T) {
	dir := t.TempDir()
	for name, ss := range map[string][]series{
		"normal": {{Name: "a", X: []float64{0, 1, 2}, Y: []float64{3, 1, 2}}, {Name: "b", X: []float64{0, 2}, Y: []float64{0, 5}}},
		"nan":    {{Name: "a", X: []float64{0, 1, 2, 3}, Y: []float64{1, math.NaN(), math.Inf(1), 2}}},
		"flat":   {{Name: "a", X: []float64{5}, Y: []float64{1}}},
		"empty":  {{Name: "a"}},
	} {
		path := filepath.Join(dir, name+".png")
		if err := writePlot(path, name, "x", ss); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != 720 {
			t.Fatalf("%s: decoded %v, %v", name, img.Bounds(), err)
		}
	}
}
