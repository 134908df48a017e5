package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Grayscale weights of red, green and blue (ITU-R 601 luma, as PIL's "L").
const (
	grayR = 0.299
	grayG = 0.587
	grayB = 0.114
)

// ColorJitter changes brightness, contrast, saturation and hue by random
// factors, applying the four in a random order each time, as torchvision's
// ColorJitter: brightness, contrast and saturation factors are drawn from
// U(max(0, 1-v), 1+v) and the hue shift from U(-Hue, Hue); a zero strength
// leaves its operation out. On a single-channel image only brightness and
// contrast act.
type ColorJitter struct {
	Brightness, Contrast, Saturation, Hue float64
}

// Apply jitters img in place and returns it.
func (t ColorJitter) Apply(img Image, rng *rand.Rand) Image {
	img.check("ColorJitter")
	order := rng.Perm(4)
	var b, c, s, h float64
	if t.Brightness > 0 {
		b = uniform(rng, max(0, 1-t.Brightness), 1+t.Brightness)
	}
	if t.Contrast > 0 {
		c = uniform(rng, max(0, 1-t.Contrast), 1+t.Contrast)
	}
	if t.Saturation > 0 {
		s = uniform(rng, max(0, 1-t.Saturation), 1+t.Saturation)
	}
	if t.Hue > 0 {
		h = uniform(rng, -t.Hue, t.Hue)
	}
	for _, op := range order {
		switch {
		case op == 0 && t.Brightness > 0:
			AdjustBrightness(img, b)
		case op == 1 && t.Contrast > 0:
			AdjustContrast(img, c)
		case op == 2 && t.Saturation > 0:
			AdjustSaturation(img, s)
		case op == 3 && t.Hue > 0:
			AdjustHue(img, h)
		}
	}
	return img
}

// OutShape returns its input, or an error for a negative strength or a hue
// above 0.5.
func (t ColorJitter) OutShape(c, h, w int) (int, int, int, error) {
	for _, v := range []float64{t.Brightness, t.Contrast, t.Saturation, t.Hue} {
		if !(v >= 0) || math.IsInf(v, 0) {
			return 0, 0, 0, fmt.Errorf("data: ColorJitter strengths %+v: want finite, non-negative", t)
		}
	}
	if t.Hue > 0.5 {
		return 0, 0, 0, fmt.Errorf("data: ColorJitter hue %g: want at most 0.5", t.Hue)
	}
	return c, h, w, nil
}

// clamp01 clamps to [0, 1].
func clamp01(v float32) float32 { return min(max(v, 0), 1) }

// AdjustBrightness multiplies img by f and clamps to [0, 1], in place.
func AdjustBrightness(img Image, f float64) {
	ff := float32(f)
	for i, v := range img.Pix {
		img.Pix[i] = clamp01(v * ff)
	}
}

// AdjustContrast blends img with the mean of its grayscale version,
// f*img + (1-f)*mean, clamped to [0, 1], in place.
func AdjustContrast(img Image, f float64) {
	var sum float64
	if img.C == 3 {
		r, g, b := img.plane(0), img.plane(1), img.plane(2)
		for i := range r {
			sum += float64(grayR*r[i] + grayG*g[i] + grayB*b[i])
		}
		sum /= float64(len(r))
	} else {
		for _, v := range img.Pix {
			sum += float64(v)
		}
		sum /= float64(len(img.Pix))
	}
	ff, m := float32(f), float32((1-f)*sum)
	for i, v := range img.Pix {
		img.Pix[i] = clamp01(ff*v + m)
	}
}

// AdjustSaturation blends each pixel of a 3-channel img with its gray value,
// f*img + (1-f)*gray, clamped to [0, 1], in place. Other images are left as
// they are.
func AdjustSaturation(img Image, f float64) {
	if img.C != 3 {
		return
	}
	ff, g1 := float32(f), float32(1-f)
	r, g, b := img.plane(0), img.plane(1), img.plane(2)
	for i := range r {
		l := g1 * (grayR*r[i] + grayG*g[i] + grayB*b[i])
		r[i] = clamp01(ff*r[i] + l)
		g[i] = clamp01(ff*g[i] + l)
		b[i] = clamp01(ff*b[i] + l)
	}
}

// AdjustHue rotates the hue of a 3-channel img by shift (a fraction of the
// colour circle, in [-0.5, 0.5]) in HSV space, in place. Other images are
// left as they are.
func AdjustHue(img Image, shift float64) {
	if img.C != 3 {
		return
	}
	sh := float32(shift)
	r, g, b := img.plane(0), img.plane(1), img.plane(2)
	for i := range r {
		h, s, v := rgbToHSV(r[i], g[i], b[i])
		h += sh // h in [0, 1) and sh in [-0.5, 0.5]: back into [0, 1)
		if h >= 1 {
			h--
		} else if h < 0 {
			h++
		}
		r[i], g[i], b[i] = hsvToRGB(h, s, v)
	}
}

// rgbToHSV converts as torchvision's _rgb2hsv: hue in [0, 1), saturation and
// value in [0, 1].
func rgbToHSV(r, g, b float32) (h, s, v float32) {
	maxc := max(r, g, b)
	minc := min(r, g, b)
	if maxc == minc {
		return 0, 0, maxc
	}
	cr := maxc - minc
	s = cr / maxc
	rc := (maxc - r) / cr
	gc := (maxc - g) / cr
	bc := (maxc - b) / cr
	switch {
	case maxc == r:
		h = bc - gc
	case maxc == g:
		h = 2 + rc - bc
	default:
		h = 4 + gc - rc
	}
	h /= 6 // in [-1/6, 5/6]
	if h < 0 {
		h++
	}
	return h, s, maxc
}

// hsvToRGB converts as torchvision's _hsv2rgb.
func hsvToRGB(h, s, v float32) (r, g, b float32) {
	i := float32(int(h * 6)) // h >= 0: truncation is the floor
	f := h*6 - i
	p := clamp01(v * (1 - s))
	q := clamp01(v * (1 - s*f))
	t := clamp01(v * (1 - s*(1-f)))
	switch int(i) % 6 {
	case 0:
		return v, t, p
	case 1:
		return q, v, p
	case 2:
		return p, v, t
	case 3:
		return p, q, v
	case 4:
		return t, p, v
	default:
		return v, p, q
	}
}

// ToGrayscale replaces each channel of a 3-channel img by its gray value
// 0.299 R + 0.587 G + 0.114 B, in place. Other images are left as they are.
func ToGrayscale(img Image) {
	if img.C != 3 {
		return
	}
	r, g, b := img.plane(0), img.plane(1), img.plane(2)
	for i := range r {
		l := grayR*r[i] + grayG*g[i] + grayB*b[i]
		r[i], g[i], b[i] = l, l, l
	}
}

// RandomGrayscale turns a 3-channel image gray (keeping three equal channels)
// with probability P; single-channel images pass through.
type RandomGrayscale struct {
	P float64
}

// Apply greys img in place with probability P and returns it.
func (t RandomGrayscale) Apply(img Image, rng *rand.Rand) Image {
	img.check("RandomGrayscale")
	if rng.Float64() < t.P {
		ToGrayscale(img)
	}
	return img
}

// OutShape returns its input.
func (t RandomGrayscale) OutShape(c, h, w int) (int, int, int, error) {
	if !(t.P >= 0 && t.P <= 1) {
		return 0, 0, 0, fmt.Errorf("data: RandomGrayscale probability %g", t.P)
	}
	return c, h, w, nil
}

// GaussianBlur blurs with a Kernel x Kernel Gaussian whose sigma is drawn
// from U(Sigma[0], Sigma[1]), with reflected borders, as torchvision's
// GaussianBlur.
type GaussianBlur struct {
	Kernel int        // odd, positive
	Sigma  [2]float64 // e.g. (0.1, 2)
}

// Apply returns the blurred image.
func (t GaussianBlur) Apply(img Image, rng *rand.Rand) Image {
	img.check("GaussianBlur")
	return Blur(img, t.Kernel, uniform(rng, t.Sigma[0], t.Sigma[1]))
}

// OutShape returns its input, or an error for an even kernel or bad sigmas.
func (t GaussianBlur) OutShape(c, h, w int) (int, int, int, error) {
	if t.Kernel <= 0 || t.Kernel%2 == 0 {
		return 0, 0, 0, fmt.Errorf("data: GaussianBlur kernel %d: want odd and positive", t.Kernel)
	}
	if !(t.Sigma[0] > 0 && t.Sigma[0] <= t.Sigma[1]) || math.IsInf(t.Sigma[1], 0) {
		return 0, 0, 0, fmt.Errorf("data: GaussianBlur sigma range %v: want 0 < lo <= hi", t.Sigma)
	}
	return c, h, w, nil
}

// reflect maps an index outside [0, n) back inside by mirroring about the
// edge pixels (…, 2, 1, 0, 1, 2, …, n-2, n-1, n-2, …).
func reflect(i, n int) int {
	if n == 1 {
		return 0
	}
	period := 2 * (n - 1)
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - i
	}
	return i
}

// Blur returns img blurred by a kernel x kernel Gaussian of the given sigma,
// separably, with reflected borders.
func Blur(img Image, kernel int, sigma float64) Image {
	half := kernel / 2
	wts := make([]float32, kernel)
	var sum float64
	for k := range wts {
		x := float64(k-half) / sigma
		sum += math.Exp(-0.5 * x * x)
	}
	for k := range wts {
		x := float64(k-half) / sigma
		wts[k] = float32(math.Exp(-0.5*x*x) / sum)
	}
	out := NewImage(img.C, img.H, img.W)
	tmp := make([]float32, img.H*img.W)
	H, W := img.H, img.W
	for c := 0; c < img.C; c++ {
		src, dst := img.plane(c), out.plane(c)
		for y := 0; y < H; y++ {
			row := src[y*W : (y+1)*W]
			for x := 0; x < W; x++ {
				var acc float32
				for k, wk := range wts {
					acc += wk * row[reflect(x+k-half, W)]
				}
				tmp[y*W+x] = acc
			}
		}
		for y := 0; y < H; y++ {
			o := dst[y*W : (y+1)*W]
			for k, wk := range wts {
				in := tmp[reflect(y+k-half, H)*W:]
				for x := range o {
					o[x] += wk * in[x]
				}
			}
		}
	}
	return out
}

// Normalize maps each channel c to (x - Mean[c]) / Std[c].
type Normalize struct {
	Mean, Std []float64
}

// Apply normalises img in place and returns it.
func (t Normalize) Apply(img Image, rng *rand.Rand) Image {
	img.check("Normalize")
	if len(t.Mean) != img.C || len(t.Std) != img.C {
		panic(fmt.Sprintf("data: Normalize with %d means and %d stds on a %d-channel image", len(t.Mean), len(t.Std), img.C))
	}
	for c := 0; c < img.C; c++ {
		m, inv := float32(t.Mean[c]), float32(1/t.Std[c])
		p := img.plane(c)
		for i, v := range p {
			p[i] = (v - m) * inv
		}
	}
	return img
}

// OutShape returns its input, or an error when the channel counts differ or a
// standard deviation is not positive.
func (t Normalize) OutShape(c, h, w int) (int, int, int, error) {
	if len(t.Mean) != c || len(t.Std) != c {
		return 0, 0, 0, fmt.Errorf("data: Normalize with %d means and %d stds for %d-channel images", len(t.Mean), len(t.Std), c)
	}
	for _, s := range t.Std {
		if !(s > 0) {
			return 0, 0, 0, fmt.Errorf("data: Normalize std %v: want positive", t.Std)
		}
	}
	return c, h, w, nil
}

// RandomApply applies T with probability P.
type RandomApply struct {
	P float64
	T Transform
}

// Apply applies T with probability P.
func (t RandomApply) Apply(img Image, rng *rand.Rand) Image {
	if rng.Float64() < t.P {
		return t.T.Apply(img, rng)
	}
	return img
}

// OutShape checks P and T. T must keep the shape, since it may be skipped.
func (t RandomApply) OutShape(c, h, w int) (int, int, int, error) {
	if !(t.P >= 0 && t.P <= 1) {
		return 0, 0, 0, fmt.Errorf("data: RandomApply probability %g", t.P)
	}
	if t.T == nil {
		return 0, 0, 0, fmt.Errorf("data: RandomApply of nothing")
	}
	oc, oh, ow, err := t.T.OutShape(c, h, w)
	if err != nil {
		return 0, 0, 0, err
	}
	if oc != c || oh != h || ow != w {
		return 0, 0, 0, fmt.Errorf("data: RandomApply of a transform that changes the shape %dx%dx%d to %dx%dx%d", c, h, w, oc, oh, ow)
	}
	return c, h, w, nil
}
