package data

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
)

// Transform is one augmentation or preprocessing step on a float32 CHW image.
// Apply must be safe for concurrent use: the Loader calls it from several
// goroutines, each with its own generator.
type Transform interface {
	// Apply transforms img, drawing any randomness from rng. It may change
	// img in place and return it, or return a new image.
	Apply(img Image, rng *rand.Rand) Image
	// OutShape returns the shape Apply gives an image of shape (c, h, w), or
	// an error when the transform's parameters are bad or it cannot take
	// that shape. Check it once before applying the transform.
	OutShape(c, h, w int) (int, int, int, error)
}

// Pipeline applies transforms one after the other. A Pipeline is itself a
// Transform; an empty one changes nothing.
type Pipeline struct {
	Transforms []Transform
}

// NewPipeline returns the pipeline of ts, in order.
func NewPipeline(ts ...Transform) *Pipeline {
	return &Pipeline{Transforms: ts}
}

// Apply runs every transform on img in turn.
func (p *Pipeline) Apply(img Image, rng *rand.Rand) Image {
	for _, t := range p.Transforms {
		img = t.Apply(img, rng)
	}
	return img
}

// OutShape checks every transform in turn and returns the final shape.
func (p *Pipeline) OutShape(c, h, w int) (int, int, int, error) {
	for i, t := range p.Transforms {
		if t == nil {
			return 0, 0, 0, fmt.Errorf("data: pipeline step %d is nil", i)
		}
		var err error
		if c, h, w, err = t.OutShape(c, h, w); err != nil {
			return 0, 0, 0, fmt.Errorf("pipeline step %d (%T): %w", i, t, err)
		}
	}
	return c, h, w, nil
}

// ApplyBytes converts 8-bit CHW pixels to [0, 1] and runs the pipeline.
func (p *Pipeline) ApplyBytes(pix []uint8, c, h, w int, rng *rand.Rand) Image {
	return p.Apply(ImageFromBytes(pix, c, h, w), rng)
}

// NormalizeFor returns the per-channel mean and standard deviation used for a
// data set: "cifar10", "cifar100", "stl10", "tiny-imagenet", "imagenet",
// "fashion-mnist" or "mnist" (case-insensitive). The CIFAR, STL-10 and Tiny
// ImageNet values are those of the paper's released runs.
func NormalizeFor(dataset string) (Normalize, error) {
	three := func(m0, m1, m2, s0, s1, s2 float64) Normalize {
		return Normalize{Mean: []float64{m0, m1, m2}, Std: []float64{s0, s1, s2}}
	}
	switch strings.ToLower(dataset) {
	case "cifar10", "cifar-10":
		return three(0.4914, 0.4822, 0.4465, 0.2023, 0.1994, 0.2010), nil
	case "cifar100", "cifar-100":
		return three(0.5071, 0.4867, 0.4408, 0.2675, 0.2565, 0.2761), nil
	case "stl10", "stl-10":
		return three(0.4406, 0.4273, 0.3858, 0.2312, 0.2265, 0.2237), nil
	case "tiny-imagenet", "tinyimagenet", "tiny200":
		return three(0.4802, 0.4481, 0.3975, 0.2302, 0.2265, 0.2262), nil
	case "imagenet":
		return three(0.485, 0.456, 0.406, 0.229, 0.224, 0.225), nil
	case "fashion-mnist", "fashionmnist":
		return Normalize{Mean: []float64{0.2860}, Std: []float64{0.3530}}, nil
	case "mnist":
		return Normalize{Mean: []float64{0.1307}, Std: []float64{0.3081}}, nil
	}
	return Normalize{}, fmt.Errorf("data: no normalisation known for data set %q", dataset)
}

// MeanStd measures the per-channel mean and standard deviation of a data
// set's pixels on the [0, 1] scale, for a Normalize of one's own. It panics
// when an image of a streamed data set cannot be read; MeanStdErr returns
// the error.
func MeanStd(d *Dataset) Normalize {
	nm, err := MeanStdErr(d)
	if err != nil {
		panic(err.Error())
	}
	return nm
}

// MeanStdErr is MeanStd returning an error for an image of a streamed data
// set that cannot be read; a streamed set's images are decoded in parallel.
func MeanStdErr(d *Dataset) (Normalize, error) {
	sum := make([]float64, d.C)
	sq := make([]float64, d.C)
	count := 0
	var mu sync.Mutex
	idx := make([]int, d.N)
	for i := range idx {
		idx[i] = i
	}
	err := d.ForImages(idx, 0, func(_ int, pix []uint8, h, w int) error {
		n := h * w
		s := make([]uint64, 2*d.C)
		for c := 0; c < d.C; c++ {
			for _, p := range pix[c*n : (c+1)*n] {
				s[c] += uint64(p)
				s[d.C+c] += uint64(p) * uint64(p)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for c := 0; c < d.C; c++ {
			sum[c] += float64(s[c])
			sq[c] += float64(s[d.C+c])
		}
		count += n
		return nil
	})
	if err != nil {
		return Normalize{}, err
	}
	out := Normalize{Mean: make([]float64, d.C), Std: make([]float64, d.C)}
	for c := range sum {
		m := sum[c] / float64(count)
		v := sq[c]/float64(count) - m*m
		out.Mean[c] = m / 255
		out.Std[c] = sqrtNonNeg(v) / 255
	}
	return out, nil
}

// SSLView returns the paper's pre-training view for images of side size:
// RandomResizedCrop(size, scale 0.2-1), horizontal flip (p = 0.5),
// ColorJitter(0.4, 0.4, 0.4, 0.1) with p = 0.8, grayscale with p = 0.2, then
// norm. With blur (the ImageNet recipe) a Gaussian blur (kernel a tenth of
// the side, made odd; sigma 0.1-2) follows with p = 0.5.
func SSLView(size int, norm Normalize, blur bool) *Pipeline {
	return ViewWithCrop(NewRandomResizedCrop(size, [2]float64{0.2, 1}), size, norm, blur)
}

// AnchorView is SSLView with the anchor-view crop: the crop's centre lies in
// the central box [lo, hi] of each axis with Beta(alpha, alpha) placement
// (the paper uses (0.25, 0.75) and 0.1 for CIFAR and STL-10, (0.15, 0.85)
// and 0.1 for Tiny ImageNet, (0.2, 0.8) and 0.6 for ImageNet).
func AnchorView(size int, norm Normalize, blur bool, lo, hi, alpha float64) *Pipeline {
	return ViewWithCrop(NewAnchorResizedCrop(size, [2]float64{0.2, 1}, lo, hi, alpha), size, norm, blur)
}

// ViewWithCrop is the pre-training view of SSLView with crop in place of its
// RandomResizedCrop (for another scale range or the anchor-view crop).
func ViewWithCrop(crop Transform, size int, norm Normalize, blur bool) *Pipeline {
	return ViewWithJitter(crop, size, norm, blur, 0.4)
}

// ViewWithJitter is ViewWithCrop with colour jitter of strength jitter:
// ColorJitter(jitter, jitter, jitter, jitter/4) with p = 0.8; 0 leaves the
// jitter out.
func ViewWithJitter(crop Transform, size int, norm Normalize, blur bool, jitter float64) *Pipeline {
	p := NewPipeline(crop, RandomHorizontalFlip{P: 0.5})
	if jitter != 0 {
		p.Transforms = append(p.Transforms,
			RandomApply{P: 0.8, T: ColorJitter{Brightness: jitter, Contrast: jitter, Saturation: jitter, Hue: jitter / 4}})
	}
	p.Transforms = append(p.Transforms, RandomGrayscale{P: 0.2})
	if blur {
		k := size / 10
		if k%2 == 0 {
			k++
		}
		p.Transforms = append(p.Transforms, RandomApply{P: 0.5, T: GaussianBlur{Kernel: k, Sigma: [2]float64{0.1, 2}}})
	}
	p.Transforms = append(p.Transforms, norm)
	return p
}

// LinearTrainView returns the linear probe's training view:
// RandomResizedCrop(size) with torchvision's default scale 0.08-1, horizontal
// flip (p = 0.5), then norm.
func LinearTrainView(size int, norm Normalize) *Pipeline {
	return NewPipeline(NewRandomResizedCrop(size, [2]float64{0.08, 1}), RandomHorizontalFlip{P: 0.5}, norm)
}

// TestView returns the evaluation view: no augmentation, only norm.
func TestView(norm Normalize) *Pipeline {
	return NewPipeline(norm)
}
