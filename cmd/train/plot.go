package main

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// series is one curve of a plot.
type series struct {
	Name string
	X, Y []float64
}

var palette = []color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {148, 103, 189, 255}}

// writePlot draws the series as lines on shared axes with a title, axis
// labels and a legend, and writes a PNG atomically.
func writePlot(path, title, xlabel string, ss []series) error {
	const w, h, left, right, top, bottom = 720, 440, 70, 20, 40, 50
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for i := range s.X {
			if math.IsNaN(s.Y[i]) || math.IsInf(s.Y[i], 0) {
				continue
			}
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
		}
	}
	if math.IsInf(xmin, 1) {
		xmin, xmax, ymin, ymax = 0, 1, 0, 1
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	if ymax == ymin {
		ymax, ymin = ymax+0.5, ymin-0.5
	}
	pad := (ymax - ymin) * 0.05
	ymin, ymax = ymin-pad, ymax+pad
	// Coordinates are clamped to the canvas, so that no value can send a
	// line far outside it.
	px := func(x float64) int {
		return left + int(math.Max(0, math.Min(1, (x-xmin)/(xmax-xmin)))*float64(w-left-right))
	}
	py := func(y float64) int {
		return h - bottom - int(math.Max(0, math.Min(1, (y-ymin)/(ymax-ymin)))*float64(h-top-bottom))
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	grey := color.RGBA{220, 220, 220, 255}
	black := color.RGBA{0, 0, 0, 255}
	for i := 0; i <= 5; i++ {
		yv := ymin + (ymax-ymin)*float64(i)/5
		y := py(yv)
		line(img, left, y, w-right, y, grey)
		label(img, 4, y+4, fmt.Sprintf("%.4g", yv), black)
		xv := xmin + (xmax-xmin)*float64(i)/5
		x := px(xv)
		line(img, x, top, x, h-bottom, grey)
		label(img, x-12, h-bottom+16, fmt.Sprintf("%.4g", xv), black)
	}
	line(img, left, h-bottom, w-right, h-bottom, black)
	line(img, left, top, left, h-bottom, black)
	label(img, left, 20, title, black)
	label(img, (w-len(xlabel)*7)/2, h-12, xlabel, black)
	for si, s := range ss {
		c := palette[si%len(palette)]
		for i := 1; i < len(s.X); i++ {
			if !finite(s.Y[i-1]) || !finite(s.Y[i]) || !finite(s.X[i-1]) || !finite(s.X[i]) {
				continue
			}
			line(img, px(s.X[i-1]), py(s.Y[i-1]), px(s.X[i]), py(s.Y[i]), c)
		}
		if len(s.X) == 1 {
			x, y := px(s.X[0]), py(s.Y[0])
			draw.Draw(img, image.Rect(x-2, y-2, x+3, y+3), &image.Uniform{c}, image.Point{}, draw.Src)
		}
		ly := top + 14 + 16*si
		draw.Draw(img, image.Rect(w-right-150, ly-8, w-right-138, ly+2), &image.Uniform{c}, image.Point{}, draw.Src)
		label(img, w-right-132, ly+1, s.Name, black)
	}
	return writePNG(path, img)
}

func label(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// line draws a one-pixel line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

func sign(a int) int {
	switch {
	case a < 0:
		return -1
	case a > 0:
		return 1
	}
	return 0
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
