package data

import (
	"fmt"
)

// Dataset is a labelled image data set held in memory as 8-bit pixels.
//
// When every image has the same size, Pixels holds N images of C x H x W bytes
// back to back (NCHW). When sizes differ (an image folder loaded without
// resizing), H and W are 0, Sizes[i] is the (height, width) of image i and
// Offsets[i] its start in Pixels; use Image to read either layout.
//
// Labels[i] is in [0, NumClasses), or -1 for an unlabelled image (STL-10's
// unlabelled split).
type Dataset struct {
	N, C, H, W int
	Pixels     []uint8 // N*C*H*W bytes, NCHW (or per-image CHW blocks, see Sizes)
	Labels     []int32
	NumClasses int
	ClassNames []string

	Sizes   [][2]int // per-image (H, W) when sizes vary; nil otherwise
	Offsets []int    // per-image start in Pixels when sizes vary; nil otherwise
}

// Image returns image i as C x h x w bytes in CHW order (a sub-slice of
// Pixels, not a copy) with its height and width.
func (d *Dataset) Image(i int) (pix []uint8, h, w int) {
	if i < 0 || i >= d.N {
		panic(fmt.Sprintf("data: image index %d out of range [0, %d)", i, d.N))
	}
	if d.Sizes != nil {
		h, w = d.Sizes[i][0], d.Sizes[i][1]
		off := d.Offsets[i]
		return d.Pixels[off : off+d.C*h*w], h, w
	}
	n := d.C * d.H * d.W
	return d.Pixels[i*n : (i+1)*n], d.H, d.W
}

// Validate checks that the fields agree with each other: sizes, offsets,
// labels in range and one class name per class. Loaders call it on what they
// build; call it on a Dataset assembled by hand.
func (d *Dataset) Validate() error {
	if d.N < 0 || d.C <= 0 {
		return fmt.Errorf("data: dataset has N=%d, C=%d", d.N, d.C)
	}
	if len(d.Labels) != d.N {
		return fmt.Errorf("data: dataset has %d labels for %d images", len(d.Labels), d.N)
	}
	if d.Sizes == nil {
		if d.H <= 0 || d.W <= 0 {
			return fmt.Errorf("data: dataset has image size %dx%d", d.H, d.W)
		}
		if want := d.N * d.C * d.H * d.W; len(d.Pixels) != want {
			return fmt.Errorf("data: dataset has %d pixel bytes, want %d (N=%d C=%d H=%d W=%d)",
				len(d.Pixels), want, d.N, d.C, d.H, d.W)
		}
	} else {
		if len(d.Sizes) != d.N || len(d.Offsets) != d.N {
			return fmt.Errorf("data: dataset has %d sizes and %d offsets for %d images", len(d.Sizes), len(d.Offsets), d.N)
		}
		for i, s := range d.Sizes {
			if s[0] <= 0 || s[1] <= 0 {
				return fmt.Errorf("data: image %d has size %dx%d", i, s[0], s[1])
			}
			if off := d.Offsets[i]; off < 0 || off+d.C*s[0]*s[1] > len(d.Pixels) {
				return fmt.Errorf("data: image %d (offset %d, %dx%dx%d) lies outside the %d pixel bytes",
					i, off, d.C, s[0], s[1], len(d.Pixels))
			}
		}
	}
	if d.NumClasses < 0 {
		return fmt.Errorf("data: dataset has %d classes", d.NumClasses)
	}
	if d.ClassNames != nil && len(d.ClassNames) != d.NumClasses {
		return fmt.Errorf("data: dataset has %d class names for %d classes", len(d.ClassNames), d.NumClasses)
	}
	for i, l := range d.Labels {
		if l < -1 || int(l) >= d.NumClasses {
			return fmt.Errorf("data: label %d of image %d is outside [0, %d)", l, i, d.NumClasses)
		}
	}
	return nil
}

// Subset returns a data set holding the images at idx, in that order, with
// their pixels copied.
func (d *Dataset) Subset(idx []int) *Dataset {
	s := &Dataset{N: len(idx), C: d.C, H: d.H, W: d.W, NumClasses: d.NumClasses, ClassNames: d.ClassNames,
		Labels: make([]int32, len(idx))}
	if d.Sizes != nil {
		s.Sizes = make([][2]int, len(idx))
		s.Offsets = make([]int, len(idx))
	}
	for k, i := range idx {
		pix, h, w := d.Image(i)
		if d.Sizes != nil {
			s.Sizes[k] = [2]int{h, w}
			s.Offsets[k] = len(s.Pixels)
		}
		s.Pixels = append(s.Pixels, pix...)
		s.Labels[k] = d.Labels[i]
	}
	return s
}

// Concat joins data sets with the same channel count and classes (STL-10's
// train and unlabelled splits, for example) into a new one.
func Concat(sets ...*Dataset) (*Dataset, error) {
	if len(sets) == 0 {
		return nil, fmt.Errorf("data: Concat of no data sets")
	}
	first := sets[0]
	out := &Dataset{C: first.C, H: first.H, W: first.W, NumClasses: first.NumClasses, ClassNames: first.ClassNames}
	varied := false
	for _, s := range sets {
		if s.C != first.C {
			return nil, fmt.Errorf("data: Concat of %d-channel and %d-channel data sets", first.C, s.C)
		}
		if s.NumClasses != first.NumClasses {
			return nil, fmt.Errorf("data: Concat of data sets with %d and %d classes", first.NumClasses, s.NumClasses)
		}
		if s.Sizes != nil || s.H != first.H || s.W != first.W {
			varied = true
		}
	}
	if varied {
		out.H, out.W = 0, 0
		out.Sizes = [][2]int{}
		out.Offsets = []int{}
	}
	total, count := 0, 0
	for _, s := range sets {
		total += len(s.Pixels)
		count += s.N
	}
	out.Pixels = make([]uint8, 0, total)
	out.Labels = make([]int32, 0, count)
	for _, s := range sets {
		for i := 0; i < s.N; i++ {
			pix, h, w := s.Image(i)
			if varied {
				out.Sizes = append(out.Sizes, [2]int{h, w})
				out.Offsets = append(out.Offsets, len(out.Pixels))
			}
			out.Pixels = append(out.Pixels, pix...)
		}
		out.Labels = append(out.Labels, s.Labels...)
		out.N += s.N
	}
	return out, nil
}
