package ssl

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// Batch converts images to the encoder's normalised input, a host tensor
// [len(imgs), InChannels, ImageSize, ImageSize], as torchvision's
// evaluation transform Compose([Resize(size), CenterCrop(size), ToTensor(),
// Normalize(mean, std)]) does on PIL images:
//   - color: any color model; a 1-channel encoder reads the luma of RGB
//     (ITU-R 601-2, L = 0.299 R + 0.587 G + 0.114 B, rounded to 8 bits, as
//     PIL's convert("L")), a 3-channel encoder reads RGB with the alpha
//     dropped (non-premultiplied, as PIL's convert("RGB")), gray images
//     repeated in the three channels;
//   - size: an image of another size is resized so that its shorter side
//     is ImageSize with antialiased bilinear resampling (PIL's, which
//     torchvision uses), then its central ImageSize x ImageSize window is
//     kept; an image of the encoder's size is used as it is;
//   - values: pixels scaled to [0, 1], then (x - mean) / std per channel.
func (e *Encoder) Batch(imgs []image.Image) (*tensor.Tensor, error) {
	c, s := e.Info.InChannels, e.Info.ImageSize
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("ssl: encoder with %d input channels: Batch converts images to 1 (gray) or 3 (RGB) channels", c)
	}
	per := c * s * s
	buf := make([]float32, len(imgs)*per)
	for i, img := range imgs {
		if img == nil {
			return nil, fmt.Errorf("ssl: image %d is nil", i)
		}
		b := img.Bounds()
		if b.Empty() {
			return nil, fmt.Errorf("ssl: image %d is empty (%v)", i, b)
		}
		e.prepare(toFloatCHW(img, c), buf[i*per:(i+1)*per])
	}
	return tensor.FromSlice(buf, len(imgs), c, s, s), nil
}

// prepare resizes img (values in [0, 1]) to the encoder's size,
// normalises it and writes it to dst [C*size*size].
func (e *Encoder) prepare(img data.Image, dst []float32) {
	s := e.Info.ImageSize
	if img.H != s || img.W != s {
		img = data.Resize{Size: s}.Apply(img, nil)
		img = data.CenterCrop{Height: s, Width: s}.Apply(img, nil)
	}
	for ch := 0; ch < img.C; ch++ {
		m, inv := float32(e.Norm.Mean[ch]), float32(1/e.Norm.Std[ch])
		plane := img.Pix[ch*s*s : (ch+1)*s*s]
		out := dst[ch*s*s : (ch+1)*s*s]
		for i, v := range plane {
			out[i] = (v - m) * inv
		}
	}
}

// toFloatCHW converts img to c channels (1: luma, 3: RGB) of values p/255.
func toFloatCHW(img image.Image, c int) data.Image {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	out := data.NewImage(c, h, w)
	n := h * w
	set := func(i int, r, g, bl uint8) {
		if c == 1 {
			out.Pix[i] = float32(math.Round(0.299*float64(r)+0.587*float64(g)+0.114*float64(bl))) / 255
			return
		}
		out.Pix[i], out.Pix[n+i], out.Pix[2*n+i] = float32(r)/255, float32(g)/255, float32(bl)/255
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[(y)*m.Stride:]
			for x := 0; x < w; x++ {
				v := row[x]
				if c == 1 {
					out.Pix[y*w+x] = float32(v) / 255
				} else {
					set(y*w+x, v, v, v)
				}
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				set(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				set(y*w+x, p.R, p.G, p.B)
			}
		}
	}
	return out
}
