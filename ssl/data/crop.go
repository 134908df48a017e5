package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// RandomResizedCrop crops a random window of random area and aspect ratio and
// resizes it to Height x Width with antialiased bilinear resampling, as
// torchvision's RandomResizedCrop: up to ten draws of an area fraction in
// Scale and a log-uniform aspect ratio (width / height) in Ratio, the first
// window that fits placed uniformly at random; after ten misses, a centre
// crop of the whole image clamped to the ratio range.
type RandomResizedCrop struct {
	Height, Width int
	Scale         [2]float64 // area of the window as a fraction of the image's, e.g. (0.2, 1)
	Ratio         [2]float64 // aspect ratio (width / height) of the window, e.g. (3/4, 4/3)
}

// NewRandomResizedCrop returns a square RandomResizedCrop of side size with
// the given scale range and the aspect ratios (3/4, 4/3).
func NewRandomResizedCrop(size int, scale [2]float64) RandomResizedCrop {
	return RandomResizedCrop{Height: size, Width: size, Scale: scale, Ratio: [2]float64{3.0 / 4, 4.0 / 3}}
}

// Params draws a window (top, left, height, width) of an h x w image.
func (t RandomResizedCrop) Params(h, w int, rng *rand.Rand) (top, left, ch, cw int) {
	return cropParams(h, w, t.Scale, t.Ratio, rng, func(h, w, ch, cw int) (int, int) {
		return rng.IntN(h - ch + 1), rng.IntN(w - cw + 1)
	})
}

// Apply crops and resizes img.
func (t RandomResizedCrop) Apply(img Image, rng *rand.Rand) Image {
	img.check("RandomResizedCrop")
	top, left, ch, cw := t.Params(img.H, img.W, rng)
	return resizedCrop(img, top, left, ch, cw, t.Height, t.Width)
}

// OutShape returns (c, Height, Width), or an error for bad parameters.
func (t RandomResizedCrop) OutShape(c, h, w int) (int, int, int, error) {
	if err := t.check(); err != nil {
		return 0, 0, 0, err
	}
	return c, t.Height, t.Width, nil
}

func (t RandomResizedCrop) check() error {
	if t.Height <= 0 || t.Width <= 0 {
		return fmt.Errorf("data: RandomResizedCrop to %dx%d", t.Height, t.Width)
	}
	if !(t.Scale[0] > 0 && t.Scale[0] <= t.Scale[1]) {
		return fmt.Errorf("data: RandomResizedCrop scale range %v: want 0 < lo <= hi", t.Scale)
	}
	if !(t.Ratio[0] > 0 && t.Ratio[0] <= t.Ratio[1]) {
		return fmt.Errorf("data: RandomResizedCrop ratio range %v: want 0 < lo <= hi", t.Ratio)
	}
	return nil
}

// AnchorResizedCrop is the anchor view's crop: a RandomResizedCrop whose
// window is placed so that its centre falls inside the central box [Lo, Hi]
// of each axis (fractions of the side), at a position drawn from
// Beta(Alpha, Alpha) along the box (U-shaped for Alpha < 1, crowding the box
// edges). The window stays inside the image, which pulls the centres of large
// windows towards the middle. Sizes and the fallback are as RandomResizedCrop.
type AnchorResizedCrop struct {
	RandomResizedCrop
	Lo, Hi float64 // the central box along each axis, e.g. (0.25, 0.75)
	Alpha  float64 // Beta(Alpha, Alpha) placement inside the box, e.g. 0.1
	// Compat places the window as the released code does: the start is
	// drawn among the integer starts whose centre lies in the box and
	// truncated, so the last of them is never reached (see place).
	Compat bool
}

// NewAnchorResizedCrop returns a square AnchorResizedCrop of side size with
// the given scale range, aspect ratios (3/4, 4/3), centre box [lo, hi] and
// Beta parameter alpha.
func NewAnchorResizedCrop(size int, scale [2]float64, lo, hi, alpha float64) AnchorResizedCrop {
	return AnchorResizedCrop{RandomResizedCrop: NewRandomResizedCrop(size, scale), Lo: lo, Hi: hi, Alpha: alpha}
}

// Params draws a window (top, left, height, width) of an h x w image.
func (t AnchorResizedCrop) Params(h, w int, rng *rand.Rand) (top, left, ch, cw int) {
	return cropParams(h, w, t.Scale, t.Ratio, rng, func(h, w, ch, cw int) (int, int) {
		return t.place(h, ch, rng), t.place(w, cw, rng)
	})
}

// place returns the start of a window of size n along a side of size side:
// the window's centre is drawn in the box, Beta distributed along it, as a
// real position; the start is the nearest pixel, clamped to the image. (Both
// ends of the range are reached alike: drawing among integer starts and
// truncating would never reach the far end, a bias towards the top left
// that is large when only a few starts fit, as for nearly whole-image
// windows.)
func (t AnchorResizedCrop) place(side, n int, rng *rand.Rand) int {
	if t.Compat {
		// The released ContrastiveCrop code: lo + int((hi-lo)*beta), with
		// torch's Beta draw, which is clamped below 1 (a draw of exactly 1,
		// the only way to reach hi, never happens there).
		clamp := func(v int) int { return min(max(v, 0), side-n) }
		lo := clamp(int(float64(side)*t.Lo) - n/2)
		hi := clamp(int(float64(side)*t.Hi) - n/2)
		u := min(betaSample(rng, t.Alpha, t.Alpha), math.Nextafter(1, 0))
		return lo + int(float64(hi-lo)*u)
	}
	c := float64(side) * (t.Lo + (t.Hi-t.Lo)*betaSample(rng, t.Alpha, t.Alpha))
	return min(max(int(math.Round(c-float64(n)/2)), 0), side-n)
}

// Apply crops and resizes img.
func (t AnchorResizedCrop) Apply(img Image, rng *rand.Rand) Image {
	img.check("AnchorResizedCrop")
	top, left, ch, cw := t.Params(img.H, img.W, rng)
	return resizedCrop(img, top, left, ch, cw, t.Height, t.Width)
}

// OutShape returns (c, Height, Width), or an error for bad parameters.
func (t AnchorResizedCrop) OutShape(c, h, w int) (int, int, int, error) {
	if err := t.check(); err != nil {
		return 0, 0, 0, err
	}
	if !(0 <= t.Lo && t.Lo <= t.Hi && t.Hi <= 1) {
		return 0, 0, 0, fmt.Errorf("data: AnchorResizedCrop box [%g, %g]: want 0 <= lo <= hi <= 1", t.Lo, t.Hi)
	}
	if !(t.Alpha > 0) || math.IsInf(t.Alpha, 0) {
		return 0, 0, 0, fmt.Errorf("data: AnchorResizedCrop Beta parameter %g: want > 0", t.Alpha)
	}
	return c, t.Height, t.Width, nil
}

// cropParams is torchvision's RandomResizedCrop.get_params with the window's
// placement left to place.
func cropParams(h, w int, scale, ratio [2]float64, rng *rand.Rand,
	place func(h, w, ch, cw int) (int, int)) (top, left, ch, cw int) {
	area := float64(h * w)
	logLo, logHi := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * uniform(rng, scale[0], scale[1])
		aspect := math.Exp(uniform(rng, logLo, logHi))
		cw = int(math.RoundToEven(math.Sqrt(target * aspect)))
		ch = int(math.RoundToEven(math.Sqrt(target / aspect)))
		if 0 < cw && cw <= w && 0 < ch && ch <= h {
			top, left = place(h, w, ch, cw)
			return top, left, ch, cw
		}
	}
	// Fallback: a centre crop with the ratio clamped to the range.
	in := float64(w) / float64(h)
	switch {
	case in < ratio[0]:
		cw = w
		ch = int(math.RoundToEven(float64(w) / ratio[0]))
	case in > ratio[1]:
		ch = h
		cw = int(math.RoundToEven(float64(h) * ratio[1]))
	default:
		cw, ch = w, h
	}
	ch, cw = min(max(ch, 1), h), min(max(cw, 1), w)
	return (h - ch) / 2, (w - cw) / 2, ch, cw
}

// CenterCrop cuts the central Height x Width window, as torchvision's
// CenterCrop does for an image at least that large.
type CenterCrop struct {
	Height, Width int
}

// Apply crops img.
func (t CenterCrop) Apply(img Image, rng *rand.Rand) Image {
	img.check("CenterCrop")
	if t.Height > img.H || t.Width > img.W {
		panic(fmt.Sprintf("data: CenterCrop %dx%d of a %dx%d image", t.Height, t.Width, img.H, img.W))
	}
	top := int(math.RoundToEven(float64(img.H-t.Height) / 2))
	left := int(math.RoundToEven(float64(img.W-t.Width) / 2))
	return resizedCrop(img, top, left, t.Height, t.Width, t.Height, t.Width)
}

// OutShape returns (c, Height, Width), or an error when the image is smaller
// than the crop.
func (t CenterCrop) OutShape(c, h, w int) (int, int, int, error) {
	if t.Height <= 0 || t.Width <= 0 {
		return 0, 0, 0, fmt.Errorf("data: CenterCrop to %dx%d", t.Height, t.Width)
	}
	if t.Height > h || t.Width > w {
		return 0, 0, 0, fmt.Errorf("data: CenterCrop %dx%d of a %dx%d image", t.Height, t.Width, h, w)
	}
	return c, t.Height, t.Width, nil
}

// Resize scales an image so that its shorter side is Size, keeping the aspect
// ratio (the longer side is truncated to an integer), with antialiased
// bilinear resampling, as torchvision's Resize(int).
type Resize struct {
	Size int
}

func (t Resize) size(h, w int) (int, int) {
	if h <= w {
		return t.Size, int(float64(t.Size) * float64(w) / float64(h))
	}
	return int(float64(t.Size) * float64(h) / float64(w)), t.Size
}

// Apply resizes img.
func (t Resize) Apply(img Image, rng *rand.Rand) Image {
	img.check("Resize")
	oh, ow := t.size(img.H, img.W)
	return resizedCrop(img, 0, 0, img.H, img.W, oh, ow)
}

// OutShape returns the resized shape.
func (t Resize) OutShape(c, h, w int) (int, int, int, error) {
	if t.Size <= 0 {
		return 0, 0, 0, fmt.Errorf("data: Resize to %d", t.Size)
	}
	oh, ow := t.size(h, w)
	return c, oh, ow, nil
}

// RandomHorizontalFlip mirrors the image left to right with probability P.
type RandomHorizontalFlip struct {
	P float64
}

// Apply flips img in place with probability P and returns it.
func (t RandomHorizontalFlip) Apply(img Image, rng *rand.Rand) Image {
	img.check("RandomHorizontalFlip")
	if rng.Float64() < t.P {
		HFlip(img)
	}
	return img
}

// OutShape returns its input.
func (t RandomHorizontalFlip) OutShape(c, h, w int) (int, int, int, error) {
	if !(t.P >= 0 && t.P <= 1) {
		return 0, 0, 0, fmt.Errorf("data: RandomHorizontalFlip probability %g", t.P)
	}
	return c, h, w, nil
}

// HFlip mirrors img left to right in place.
func HFlip(img Image) {
	for r := 0; r < img.C*img.H; r++ {
		row := img.Pix[r*img.W : (r+1)*img.W]
		for i, j := 0, len(row)-1; i < j; i, j = i+1, j-1 {
			row[i], row[j] = row[j], row[i]
		}
	}
}
