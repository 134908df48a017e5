package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func randImage(r *rand.Rand, c, h, w int) Image {
	img := NewImage(c, h, w)
	for i := range img.Pix {
		img.Pix[i] = r.Float32()
	}
	return img
}

// relClose compares with a relative bound that fits float32.
func relClose(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// refResizedCrop is the direct definition of the antialiased bilinear resize:
// output pixel (oy, ox) is the normalised triangle-weighted sum over all input
// pixels of the window, in float64.
func refResizedCrop(src Image, top, left, h, w, oh, ow int) []float64 {
	weights := func(in, out, o int) []float64 {
		scale := float64(in) / float64(out)
		fs := math.Max(scale, 1)
		center := (float64(o) + 0.5) * scale
		wt := make([]float64, in)
		var sum float64
		for j := 0; j < in; j++ {
			// pixel j covers [j, j+1); its centre is j + 0.5
			d := math.Abs(float64(j)+0.5-center) / fs
			wt[j] = math.Max(1-d, 0)
			sum += wt[j]
		}
		for j := range wt {
			wt[j] /= sum
		}
		return wt
	}
	out := make([]float64, src.C*oh*ow)
	for c := 0; c < src.C; c++ {
		for oy := 0; oy < oh; oy++ {
			wy := weights(h, oh, oy)
			for ox := 0; ox < ow; ox++ {
				wx := weights(w, ow, ox)
				var acc float64
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						acc += wy[y] * wx[x] * float64(src.Pix[(c*src.H+top+y)*src.W+left+x])
					}
				}
				out[(c*oh+oy)*ow+ox] = acc
			}
		}
	}
	return out
}

func TestResizedCropReference(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct{ c, H, W, top, left, h, w, oh, ow int }{
		{3, 7, 13, 0, 0, 7, 13, 5, 3},     // shrink, uneven factors
		{1, 17, 11, 0, 0, 17, 11, 31, 29}, // enlarge
		{3, 32, 32, 3, 5, 20, 17, 32, 32}, // crop then enlarge
		{2, 1, 1, 0, 0, 1, 1, 4, 4},       // a single pixel
		{3, 97, 5, 2, 1, 91, 3, 3, 50},    // shrink one axis, enlarge the other
		{1, 64, 64, 1, 2, 61, 59, 7, 13},  // strong shrink
		{3, 9, 9, 2, 2, 5, 5, 5, 5},       // plain crop
	} {
		src := randImage(r, tc.c, tc.H, tc.W)
		got := resizedCrop(src, tc.top, tc.left, tc.h, tc.w, tc.oh, tc.ow)
		want := refResizedCrop(src, tc.top, tc.left, tc.h, tc.w, tc.oh, tc.ow)
		if got.C != tc.c || got.H != tc.oh || got.W != tc.ow {
			t.Fatalf("%+v: shape %dx%dx%d", tc, got.C, got.H, got.W)
		}
		for i := range want {
			if !relClose(float64(got.Pix[i]), want[i], 2e-6) {
				t.Fatalf("%+v: value %d = %v, want %v", tc, i, got.Pix[i], want[i])
			}
		}
	}
}

func TestResizeProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	// A constant image stays constant under any resize.
	cst := NewImage(3, 23, 37)
	for i := range cst.Pix {
		cst.Pix[i] = 0.3 + 0.2*float32(i/(23*37))
	}
	out := resizedCrop(cst, 1, 2, 19, 31, 11, 41)
	for i, v := range out.Pix {
		if want := 0.3 + 0.2*float32(i/(11*41)); !relClose(float64(v), float64(want), 1e-6) {
			t.Fatalf("constant: %v at %d, want %v", v, i, want)
		}
	}
	// Enlarging a horizontal ramp keeps it a ramp away from the edges:
	// bilinear interpolation is exact on linear functions.
	ramp := NewImage(1, 3, 10)
	for y := 0; y < 3; y++ {
		for x := 0; x < 10; x++ {
			ramp.Pix[y*10+x] = float32(x)
		}
	}
	big := resizedCrop(ramp, 0, 0, 3, 10, 3, 40)
	for x := 2; x < 38; x++ {
		want := (float64(x)+0.5)*10/40 - 0.5
		if !relClose(float64(big.Pix[x]), want, 1e-6) {
			t.Fatalf("ramp at %d: %v, want %v", x, big.Pix[x], want)
		}
	}
	// Halving filters with the widened triangle [1 3 3 1]/8.
	img := randImage(r, 1, 1, 16)
	half := resizedCrop(img, 0, 0, 1, 16, 1, 8)
	for o := 1; o < 7; o++ {
		p := img.Pix[2*o-1 : 2*o+3]
		want := (float64(p[0]) + 3*float64(p[1]) + 3*float64(p[2]) + float64(p[3])) / 8
		if !relClose(float64(half.Pix[o]), want, 1e-6) {
			t.Fatalf("halving at %d: %v, want %v", o, half.Pix[o], want)
		}
	}
}

// cropBounds checks a window against the scale and ratio ranges, allowing
// for the rounding of each side to an integer.
func checkWindow(t *testing.T, H, W, top, left, ch, cw int, scale, ratio [2]float64) {
	t.Helper()
	if top < 0 || left < 0 || ch <= 0 || cw <= 0 || top+ch > H || left+cw > W {
		t.Fatalf("window (%d,%d,%d,%d) outside %dx%d", top, left, ch, cw, H, W)
	}
	// Each side is within 0.5 of its exact value, so the area is within a
	// factor (1 ± 0.5/side) per side and the ratio likewise.
	slack := (1 + 0.5/float64(ch)) * (1 + 0.5/float64(cw))
	area := float64(ch*cw) / float64(H*W)
	if area < scale[0]/slack || area > scale[1]*slack {
		t.Fatalf("window %dx%d of %dx%d: area fraction %.4f outside %v", ch, cw, H, W, area, scale)
	}
	ar := float64(cw) / float64(ch)
	if ar < ratio[0]/slack || ar > ratio[1]*slack {
		t.Fatalf("window %dx%d: ratio %.4f outside %v", ch, cw, ar, ratio)
	}
}

func TestRandomResizedCropStatistics(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	for _, tc := range []struct {
		H, W  int
		scale [2]float64
	}{{97, 131, [2]float64{0.2, 1}}, {32, 32, [2]float64{0.2, 1}}, {28, 28, [2]float64{0.08, 1}}, {400, 300, [2]float64{0.01, 0.05}}} {
		t.Run("", func(t *testing.T) {
			crop := NewRandomResizedCrop(32, tc.scale)
			var sumLogRatio float64
			minTop, maxBottom := tc.H, 0
			const n = 4000
			for range n {
				top, left, ch, cw := crop.Params(tc.H, tc.W, r)
				checkWindow(t, tc.H, tc.W, top, left, ch, cw, tc.scale, crop.Ratio)
				sumLogRatio += math.Log(float64(cw) / float64(ch))
				minTop, maxBottom = min(minTop, top), max(maxBottom, top+ch)
			}
			// Log-uniform ratios are symmetric about 1 (rejections of wide
			// windows in a square image are symmetric too).
			if m := sumLogRatio / n; math.Abs(m) > 0.03 && tc.H == tc.W {
				t.Errorf("mean log ratio %.4f, want about 0", m)
			}
			// Windows are placed all over: some touch each border.
			if minTop != 0 || maxBottom != tc.H {
				t.Errorf("windows span rows %d..%d of %d", minTop, maxBottom, tc.H)
			}
		})
	}
}

func TestRandomResizedCropFallback(t *testing.T) {
	r := rand.New(rand.NewPCG(37, 38))
	crop := NewRandomResizedCrop(8, [2]float64{0.5, 1})
	for range 50 {
		// No window of half the area and a ratio within (3/4, 4/3) fits a
		// 5x200 strip: the centre crop keeps the height and the widest ratio.
		top, left, ch, cw := crop.Params(5, 200, r)
		if top != 0 || ch != 5 || cw != 7 || left != 96 {
			t.Fatalf("wide fallback: (%d,%d,%d,%d), want (0,96,5,7)", top, left, ch, cw)
		}
		top, left, ch, cw = crop.Params(200, 5, r)
		if left != 0 || cw != 5 || ch != 7 || top != 96 {
			t.Fatalf("tall fallback: (%d,%d,%d,%d), want (96,0,7,5)", top, left, ch, cw)
		}
	}
	img := randImage(r, 3, 5, 200)
	out := crop.Apply(img, r)
	if out.C != 3 || out.H != 8 || out.W != 8 {
		t.Fatalf("fallback output %dx%dx%d", out.C, out.H, out.W)
	}
}

func TestBetaSampler(t *testing.T) {
	r := rand.New(rand.NewPCG(39, 40))
	for _, tc := range []struct{ a, b float64 }{{0.1, 0.1}, {0.6, 0.6}, {1, 1}, {2, 5}, {0.02, 0.02}} {
		const n = 40000
		var s, s2 float64
		for range n {
			x := betaSample(r, tc.a, tc.b)
			if !(x >= 0 && x <= 1) {
				t.Fatalf("Beta(%g,%g) sample %v", tc.a, tc.b, x)
			}
			s += x
			s2 += x * x
		}
		mean, v := s/n, s2/n-(s/n)*(s/n)
		ab := tc.a + tc.b
		wantMean, wantVar := tc.a/ab, tc.a*tc.b/(ab*ab*(ab+1))
		if math.Abs(mean-wantMean) > 4*math.Sqrt(wantVar/n) || math.Abs(v-wantVar) > 0.05*wantVar {
			t.Errorf("Beta(%g,%g): mean %.4f var %.4f, want %.4f %.4f", tc.a, tc.b, mean, v, wantMean, wantVar)
		}
	}
}

func TestAnchorCropPlacement(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	// Small windows in a large image: the centre's position in the box is
	// the Beta draw itself.
	const side, n = 1000, 4000
	for _, tc := range []struct {
		alpha  float64
		lo, hi float64
		check  func(hist []float64) bool
		want   string
	}{
		{0.1, 0.25, 0.75, func(h []float64) bool {
			return h[0] > 0.3 && h[9] > 0.3 && slices.Max(h[2:8]) < 0.06
		}, "U-shaped: edge bins above 30%, middle bins below 6%"},
		{1, 0.15, 0.85, func(h []float64) bool {
			return slices.Min(h) > 0.08 && slices.Max(h) < 0.12
		}, "flat: every bin 8-12%"},
		{4, 0.2, 0.8, func(h []float64) bool {
			return h[4] > 2*h[0] && h[5] > 2*h[9] && h[0] < 0.03
		}, "a hump in the middle"},
	} {
		crop := NewAnchorResizedCrop(32, [2]float64{0.001, 0.002}, tc.lo, tc.hi, tc.alpha)
		if _, _, _, err := crop.OutShape(3, side, side); err != nil {
			t.Fatal(err)
		}
		hist := make([]float64, 10)
		for range n {
			top, left, ch, cw := crop.Params(side, side, r)
			checkWindow(t, side, side, top, left, ch, cw, crop.Scale, crop.Ratio)
			for _, p := range [][2]int{{top, ch}, {left, cw}} {
				centre := float64(p[0]+p[1]/2) / side
				if centre < tc.lo-0.001 || centre > tc.hi+0.001 {
					t.Fatalf("alpha %g: centre %.4f outside [%g, %g]", tc.alpha, centre, tc.lo, tc.hi)
				}
				u := (centre - tc.lo) / (tc.hi - tc.lo)
				hist[min(max(int(u*10), 0), 9)] += 0.5 / n
			}
		}
		if !tc.check(hist) {
			t.Errorf("alpha %g: histogram %.3f, want %s", tc.alpha, hist, tc.want)
		}
	}
	// Windows of every size in a CIFAR image: the integer centre stays in
	// the box (clamping to the image only pulls it inwards).
	crop := NewAnchorResizedCrop(32, [2]float64{0.2, 1}, 0.25, 0.75, 0.1)
	for range n {
		top, left, ch, cw := crop.Params(32, 32, r)
		checkWindow(t, 32, 32, top, left, ch, cw, crop.Scale, crop.Ratio)
		if c := top + ch/2; c < 8 || c > 24 {
			t.Fatalf("window (%d,%d,%d,%d): row centre %d outside [8, 24]", top, left, ch, cw, c)
		}
		if c := left + cw/2; c < 8 || c > 24 {
			t.Fatalf("window (%d,%d,%d,%d): column centre %d outside [8, 24]", top, left, ch, cw, c)
		}
	}
}

// TestAnchorCropSymmetric checks that nearly whole-image windows, which fit
// at only a few starts, reach both ends of them alike: the mean start is
// the middle of the range, for each Beta parameter.
func TestAnchorCropSymmetric(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	for _, alpha := range []float64{0.1, 0.6, 1, 4} {
		crop := NewAnchorResizedCrop(28, [2]float64{0.8, 1}, 0.25, 0.75, alpha)
		const n = 20000
		var off float64
		var ends [2]int
		for range n {
			top, left, ch, cw := crop.Params(28, 28, r)
			checkWindow(t, 28, 28, top, left, ch, cw, crop.Scale, crop.Ratio)
			for _, p := range [][2]int{{top, 28 - ch}, {left, 28 - cw}} {
				off += float64(p[0]) - float64(p[1])/2
				if p[1] > 0 && p[0] == 0 {
					ends[0]++
				}
				if p[1] > 0 && p[0] == p[1] {
					ends[1]++
				}
			}
		}
		if mean := off / (2 * n); math.Abs(mean) > 0.05 {
			t.Errorf("alpha %g: starts %.3f pixels off the middle of their range on average, want 0", alpha, mean)
		}
		if lo, hi := float64(ends[0]), float64(ends[1]); lo < 0.9*hi || hi < 0.9*lo {
			t.Errorf("alpha %g: %d windows at the near end, %d at the far end; want about as many", alpha, ends[0], ends[1])
		}
	}
}

func TestFlip(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for _, w := range []int{1, 2, 7, 8} {
		img := randImage(r, 3, 5, w)
		orig := img.Clone()
		HFlip(img)
		for c := 0; c < 3; c++ {
			for y := 0; y < 5; y++ {
				for x := 0; x < w; x++ {
					if img.Pix[(c*5+y)*w+x] != orig.Pix[(c*5+y)*w+w-1-x] {
						t.Fatalf("width %d: pixel (%d,%d,%d) not mirrored", w, c, y, x)
					}
				}
			}
		}
		HFlip(img)
		if !slices.Equal(img.Pix, orig.Pix) {
			t.Fatalf("width %d: flipping twice is not the identity", w)
		}
	}
	img := randImage(r, 1, 4, 9)
	orig := img.Clone()
	flipped := orig.Clone()
	HFlip(flipped)
	for _, tc := range []struct {
		p      float64
		lo, hi int
	}{{0, 0, 0}, {1, 1000, 1000}, {0.5, 440, 560}} {
		count := 0
		for range 1000 {
			out := RandomHorizontalFlip{P: tc.p}.Apply(orig.Clone(), r)
			switch {
			case slices.Equal(out.Pix, flipped.Pix):
				count++
			case !slices.Equal(out.Pix, orig.Pix):
				t.Fatal("RandomHorizontalFlip gave neither the image nor its mirror")
			}
		}
		if count < tc.lo || count > tc.hi {
			t.Errorf("p=%g: flipped %d of 1000", tc.p, count)
		}
	}
}

// hsvRef is the textbook RGB to HSV conversion in float64.
func hsvRef(r, g, b float64) (h, s, v float64) {
	mx, mn := math.Max(r, math.Max(g, b)), math.Min(r, math.Min(g, b))
	v = mx
	if mx == mn {
		return 0, 0, v
	}
	s = (mx - mn) / mx
	switch mx {
	case r:
		h = math.Mod((g-b)/(mx-mn)/6+1, 1)
	case g:
		h = ((b-r)/(mx-mn) + 2) / 6
	default:
		h = ((r-g)/(mx-mn) + 4) / 6
	}
	return h, s, v
}

// rgbRef is the textbook HSV to RGB conversion in float64.
func rgbRef(h, s, v float64) (r, g, b float64) {
	c := v * s
	hp := h * 6
	x := c * (1 - math.Abs(math.Mod(hp, 2)-1))
	m := v - c
	switch int(hp) % 6 {
	case 0:
		r, g, b = c, x, 0
	case 1:
		r, g, b = x, c, 0
	case 2:
		r, g, b = 0, c, x
	case 3:
		r, g, b = 0, x, c
	case 4:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	return r + m, g + m, b + m
}

func TestColorAdjustments(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	img := randImage(r, 3, 9, 11)
	n := 9 * 11
	gray := func(im Image, i int) float64 {
		return 0.299*float64(im.Pix[i]) + 0.587*float64(im.Pix[n+i]) + 0.114*float64(im.Pix[2*n+i])
	}
	// Factor 1 (and hue 0 up to rounding) is the identity.
	for name, f := range map[string]func(Image){
		"brightness": func(im Image) { AdjustBrightness(im, 1) },
		"contrast":   func(im Image) { AdjustContrast(im, 1) },
		"saturation": func(im Image) { AdjustSaturation(im, 1) },
	} {
		out := img.Clone()
		f(out)
		if !slices.Equal(out.Pix, img.Pix) {
			t.Errorf("%s with factor 1 changed the image", name)
		}
	}
	out := img.Clone()
	AdjustHue(out, 0)
	for i := range out.Pix {
		if !relClose(float64(out.Pix[i]), float64(img.Pix[i]), 1e-6) {
			t.Fatalf("hue 0: %v -> %v", img.Pix[i], out.Pix[i])
		}
	}
	// Brightness scales and clamps.
	out = img.Clone()
	AdjustBrightness(out, 1.7)
	for i, v := range img.Pix {
		if want := math.Min(1.7*float64(v), 1); !relClose(float64(out.Pix[i]), want, 1e-6) {
			t.Fatalf("brightness 1.7: %v -> %v, want %v", v, out.Pix[i], want)
		}
	}
	// Contrast blends with the mean gray level.
	var mean float64
	for i := 0; i < n; i++ {
		mean += gray(img, i) / float64(n)
	}
	out = img.Clone()
	AdjustContrast(out, 0.6)
	for i, v := range img.Pix {
		want := math.Min(math.Max(0.6*float64(v)+0.4*mean, 0), 1)
		if !relClose(float64(out.Pix[i]), want, 1e-6) {
			t.Fatalf("contrast 0.6: %v -> %v, want %v", v, out.Pix[i], want)
		}
	}
	// Saturation blends each pixel with its own gray level; 0 is grayscale.
	out = img.Clone()
	AdjustSaturation(out, 1.3)
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			want := math.Min(math.Max(1.3*float64(img.Pix[c*n+i])-0.3*gray(img, i), 0), 1)
			if !relClose(float64(out.Pix[c*n+i]), want, 1e-6) {
				t.Fatalf("saturation 1.3: pixel %d channel %d: %v, want %v", i, c, out.Pix[c*n+i], want)
			}
		}
	}
	out = img.Clone()
	AdjustSaturation(out, 0)
	g2 := img.Clone()
	ToGrayscale(g2)
	for i := range out.Pix {
		if !relClose(float64(out.Pix[i]), float64(g2.Pix[i]), 1e-6) {
			t.Fatalf("saturation 0 differs from grayscale at %d", i)
		}
	}
	// Hue rotates in HSV: compare with the textbook conversion in float64.
	for _, shift := range []float64{0.1, -0.1, 0.37, -0.5, 0.5} {
		out = img.Clone()
		AdjustHue(out, shift)
		for i := 0; i < n; i++ {
			h, s, v := hsvRef(float64(img.Pix[i]), float64(img.Pix[n+i]), float64(img.Pix[2*n+i]))
			h = math.Mod(h+shift+1, 1)
			wr, wg, wb := rgbRef(h, s, v)
			for c, want := range []float64{wr, wg, wb} {
				if !relClose(float64(out.Pix[c*n+i]), want, 1e-5) {
					t.Fatalf("hue %g: pixel %d channel %d: %v, want %v", shift, i, c, out.Pix[c*n+i], want)
				}
			}
		}
	}
	// A third of a turn takes red to green and green to blue.
	prim := Image{C: 3, H: 1, W: 2, Pix: []float32{1, 0, 0, 1, 0, 0}}
	AdjustHue(prim, 1.0/3)
	if want := []float32{0, 0, 1, 0, 0, 1}; !slices.EqualFunc(prim.Pix, want, func(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-6 }) {
		t.Errorf("hue 1/3 of red, green: %v, want %v", prim.Pix, want)
	}
}

func TestColorJitter(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	img := randImage(r, 3, 6, 5)
	// Zero strength is the identity, bit for bit.
	out := ColorJitter{}.Apply(img.Clone(), r)
	if !slices.Equal(out.Pix, img.Pix) {
		t.Error("ColorJitter{} changed the image")
	}
	// On one channel, saturation and hue do nothing; brightness acts.
	g := randImage(r, 1, 6, 5)
	out = ColorJitter{Saturation: 0.9, Hue: 0.5}.Apply(g.Clone(), r)
	if !slices.Equal(out.Pix, g.Pix) {
		t.Error("saturation and hue changed a one-channel image")
	}
	out = ColorJitter{Brightness: 0.9}.Apply(g.Clone(), r)
	if slices.Equal(out.Pix, g.Pix) {
		t.Error("brightness left a one-channel image as it was")
	}
	// The order of the four operations varies: brightness then contrast
	// differs from contrast then brightness once values clamp, so a fixed
	// pair of factors applied by many seeds gives more than one result.
	j := ColorJitter{Brightness: 0.8, Contrast: 0.8, Saturation: 0.8, Hue: 0.2}
	seen := map[float32]bool{}
	for s := range 64 {
		o := j.Apply(img.Clone(), rand.New(rand.NewPCG(uint64(s), 0)))
		for _, v := range o.Pix {
			if v < 0 || v > 1 {
				t.Fatalf("jitter gave %v outside [0, 1]", v)
			}
		}
		seen[o.Pix[0]] = true
	}
	if len(seen) < 32 {
		t.Errorf("64 seeds gave %d distinct results", len(seen))
	}
	// Same seed, same result.
	a := j.Apply(img.Clone(), rand.New(rand.NewPCG(9, 9)))
	b := j.Apply(img.Clone(), rand.New(rand.NewPCG(9, 9)))
	if !slices.Equal(a.Pix, b.Pix) {
		t.Error("same seed, different jitter")
	}
	if _, _, _, err := (ColorJitter{Hue: 0.6}).OutShape(3, 4, 4); err == nil {
		t.Error("hue 0.6 accepted")
	}
	if _, _, _, err := (ColorJitter{Contrast: -1}).OutShape(3, 4, 4); err == nil {
		t.Error("negative contrast accepted")
	}
}

func TestGrayscale(t *testing.T) {
	r := rand.New(rand.NewPCG(49, 50))
	img := randImage(r, 3, 7, 3)
	n := 21
	out := RandomGrayscale{P: 1}.Apply(img.Clone(), r)
	for i := 0; i < n; i++ {
		want := 0.299*float64(img.Pix[i]) + 0.587*float64(img.Pix[n+i]) + 0.114*float64(img.Pix[2*n+i])
		if out.Pix[i] != out.Pix[n+i] || out.Pix[i] != out.Pix[2*n+i] || !relClose(float64(out.Pix[i]), want, 1e-6) {
			t.Fatalf("pixel %d: %v %v %v, want three times %v", i, out.Pix[i], out.Pix[n+i], out.Pix[2*n+i], want)
		}
	}
	if out := (RandomGrayscale{P: 0}).Apply(img.Clone(), r); !slices.Equal(out.Pix, img.Pix) {
		t.Error("p=0 changed the image")
	}
	one := randImage(r, 1, 3, 3)
	if out := (RandomGrayscale{P: 1}).Apply(one.Clone(), r); !slices.Equal(out.Pix, one.Pix) {
		t.Error("grayscale changed a one-channel image")
	}
}

func TestGaussianBlur(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, tc := range []struct {
		c, h, w, k int
		sigma      float64
	}{{3, 9, 7, 5, 1.3}, {1, 3, 4, 9, 2}, {2, 1, 6, 3, 0.5}, {1, 16, 16, 23, 1.9}} {
		img := randImage(r, tc.c, tc.h, tc.w)
		got := Blur(img, tc.k, tc.sigma)
		// Direct 2-D convolution with reflected indices, in float64.
		half := tc.k / 2
		g := make([]float64, tc.k)
		var sum float64
		for i := range g {
			x := float64(i - half)
			g[i] = math.Exp(-x * x / (2 * tc.sigma * tc.sigma))
			sum += g[i]
		}
		refl := func(i, n int) int {
			for i < 0 || i >= n {
				if n == 1 {
					return 0
				}
				if i < 0 {
					i = -i
				}
				if i >= n {
					i = 2*(n-1) - i
				}
			}
			return i
		}
		for c := 0; c < tc.c; c++ {
			for y := 0; y < tc.h; y++ {
				for x := 0; x < tc.w; x++ {
					var acc float64
					for a := 0; a < tc.k; a++ {
						for b := 0; b < tc.k; b++ {
							acc += g[a] * g[b] / (sum * sum) *
								float64(img.Pix[(c*tc.h+refl(y+a-half, tc.h))*tc.w+refl(x+b-half, tc.w)])
						}
					}
					if v := got.Pix[(c*tc.h+y)*tc.w+x]; !relClose(float64(v), acc, 2e-6) {
						t.Fatalf("%+v: (%d,%d,%d) = %v, want %v", tc, c, y, x, v, acc)
					}
				}
			}
		}
	}
	if _, _, _, err := (GaussianBlur{Kernel: 4, Sigma: [2]float64{0.1, 2}}).OutShape(3, 8, 8); err == nil {
		t.Error("even kernel accepted")
	}
}

func TestNormalize(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	img := randImage(r, 3, 4, 5)
	norm, err := NormalizeFor("cifar10")
	must(t, err)
	out := norm.Apply(img.Clone(), r)
	for c := 0; c < 3; c++ {
		for i := 0; i < 20; i++ {
			want := (float64(img.Pix[c*20+i]) - norm.Mean[c]) / norm.Std[c]
			if !relClose(float64(out.Pix[c*20+i]), want, 1e-6) {
				t.Fatalf("channel %d: %v, want %v", c, out.Pix[c*20+i], want)
			}
		}
	}
	if _, _, _, err := norm.OutShape(1, 28, 28); err == nil {
		t.Error("3-channel Normalize accepted a 1-channel image")
	}
	if _, _, _, err := (Normalize{Mean: []float64{0}, Std: []float64{0}}).OutShape(1, 2, 2); err == nil {
		t.Error("zero std accepted")
	}
	if _, err := NormalizeFor("svhn"); err == nil {
		t.Error("unknown data set accepted")
	}
	// MeanStd measures a data set exactly.
	d := &Dataset{N: 2, C: 2, H: 1, W: 2, Pixels: []uint8{0, 255, 51, 51, 255, 0, 102, 0}, Labels: []int32{0, 0}, NumClasses: 1}
	ms := MeanStd(d)
	if !relClose(ms.Mean[0], 0.5, 1e-12) || !relClose(ms.Std[0], 0.5, 1e-12) ||
		!relClose(ms.Mean[1], 0.2, 1e-12) || !relClose(ms.Std[1], math.Sqrt(0.02), 1e-12) {
		t.Errorf("MeanStd = %+v", ms)
	}
}

func TestPipelines(t *testing.T) {
	cifar, _ := NormalizeFor("cifar10")
	fashion, _ := NormalizeFor("fashion-mnist")
	imagenet, _ := NormalizeFor("imagenet")
	for _, tc := range []struct {
		name    string
		p       *Pipeline
		c, h, w int
		want    [3]int
		err     string
	}{
		{"simclr cifar", SSLView(32, cifar, false), 3, 32, 32, [3]int{3, 32, 32}, ""},
		{"anchor stl", AnchorView(96, cifar, false, 0.25, 0.75, 0.1), 3, 96, 96, [3]int{3, 96, 96}, ""},
		{"moco imagenet", SSLView(224, imagenet, true), 3, 375, 500, [3]int{3, 224, 224}, ""},
		{"fashion", SSLView(28, fashion, false), 1, 28, 28, [3]int{1, 28, 28}, ""},
		{"linear", LinearTrainView(32, cifar), 3, 32, 32, [3]int{3, 32, 32}, ""},
		{"test", TestView(cifar), 3, 32, 32, [3]int{3, 32, 32}, ""},
		{"eval resize", NewPipeline(Resize{Size: 72}, CenterCrop{Height: 64, Width: 64}), 3, 100, 80, [3]int{3, 64, 64}, ""},
		{"channels", SSLView(28, cifar, false), 1, 28, 28, [3]int{}, "Normalize with 3 means"},
		{"bad anchor", AnchorView(32, cifar, false, 0.8, 0.2, 0.1), 3, 32, 32, [3]int{}, "box"},
		{"bad crop", NewPipeline(RandomResizedCrop{Height: 8, Width: 8, Scale: [2]float64{1, 0.5}, Ratio: [2]float64{1, 1}}), 3, 9, 9, [3]int{}, "scale"},
	} {
		c, h, w, err := tc.p.OutShape(tc.c, tc.h, tc.w)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || [3]int{c, h, w} != tc.want {
			t.Fatalf("%s: OutShape = %d %d %d, %v", tc.name, c, h, w, err)
		}
		// Run it and check the shape, the range and determinism.
		r := rand.New(rand.NewPCG(55, 56))
		src := randImage(r, tc.c, tc.h, tc.w)
		a := tc.p.Apply(src.Clone(), rand.New(rand.NewPCG(7, 8)))
		b := tc.p.Apply(src.Clone(), rand.New(rand.NewPCG(7, 8)))
		if a.C != c || a.H != h || a.W != w || !slices.Equal(a.Pix, b.Pix) {
			t.Fatalf("%s: shape %dx%dx%d, deterministic %v", tc.name, a.C, a.H, a.W, slices.Equal(a.Pix, b.Pix))
		}
		for _, v := range a.Pix {
			if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 10 {
				t.Fatalf("%s: value %v", tc.name, v)
			}
		}
	}
	// Blur kernel a tenth of the side, odd.
	p := SSLView(224, imagenet, true)
	if k := p.Transforms[4].(RandomApply).T.(GaussianBlur).Kernel; k != 23 {
		t.Errorf("blur kernel %d for 224, want 23", k)
	}
}
