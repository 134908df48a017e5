package data

import "fmt"

// Image is a float32 image in CHW order whose values are normally in [0, 1]
// (Normalize takes them elsewhere).
type Image struct {
	C, H, W int
	Pix     []float32 // C*H*W values, channel planes of H rows of W
}

// NewImage returns a zero image of c channels and h x w pixels.
func NewImage(c, h, w int) Image {
	return Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}
}

// ImageFromBytes converts 8-bit CHW pixels to an Image with values in [0, 1]
// (p / 255), as torchvision's ToTensor does.
func ImageFromBytes(pix []uint8, c, h, w int) Image {
	if len(pix) != c*h*w {
		panic(fmt.Sprintf("data: ImageFromBytes: %d bytes for %dx%dx%d", len(pix), c, h, w))
	}
	img := NewImage(c, h, w)
	for i, p := range pix {
		img.Pix[i] = float32(p) / 255
	}
	return img
}

// Clone returns a copy of img with its own pixels.
func (img Image) Clone() Image {
	img.Pix = append([]float32(nil), img.Pix...)
	return img
}

// plane returns channel c.
func (img Image) plane(c int) []float32 {
	n := img.H * img.W
	return img.Pix[c*n : (c+1)*n]
}

func (img Image) check(op string) {
	if img.C <= 0 || img.H <= 0 || img.W <= 0 || len(img.Pix) != img.C*img.H*img.W {
		panic(fmt.Sprintf("data: %s: image %dx%dx%d with %d values", op, img.C, img.H, img.W, len(img.Pix)))
	}
}
