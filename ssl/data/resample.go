package data

import "math"

// axisWeights holds, for every output pixel along one axis, the first input
// pixel it reads and the weights of the input pixels from there on.
type axisWeights struct {
	start  []int
	count  []int
	w      []float32 // row o holds count[o] weights at w[o*stride:]
	stride int
}

// bilinearWeights computes the weights of an antialiased bilinear resize of
// in pixels to out pixels, as PIL's resize (and torchvision's with
// antialias=True) does: when shrinking, the triangle filter widens by the
// scale so that every input pixel contributes; when enlarging, it is plain
// bilinear interpolation between pixel centres with edges clamped.
func bilinearWeights(in, out int) axisWeights {
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1)
	support := filterscale // the triangle's support is 1, widened by the scale
	stride := int(math.Ceil(support))*2 + 1
	a := axisWeights{start: make([]int, out), count: make([]int, out), w: make([]float32, out*stride), stride: stride}
	ww := make([]float64, stride)
	for o := 0; o < out; o++ {
		center := (float64(o) + 0.5) * scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), in)
		n := hi - lo
		var sum float64
		for k := 0; k < n; k++ {
			x := (float64(k+lo) - center + 0.5) / filterscale
			ww[k] = max(1-math.Abs(x), 0)
			sum += ww[k]
		}
		a.start[o], a.count[o] = lo, n
		for k := 0; k < n; k++ {
			if sum != 0 {
				a.w[o*stride+k] = float32(ww[k] / sum)
			}
		}
	}
	return a
}

// resizedCrop crops the h x w window at (top, left) out of src and resizes it
// to outH x outW with bilinearWeights, horizontally then vertically. The
// window must lie inside the image.
func resizedCrop(src Image, top, left, h, w, outH, outW int) Image {
	if top < 0 || left < 0 || h <= 0 || w <= 0 || top+h > src.H || left+w > src.W {
		panic("data: crop window outside the image")
	}
	dst := NewImage(src.C, outH, outW)
	if h == outH && w == outW {
		for c := 0; c < src.C; c++ {
			for y := 0; y < h; y++ {
				copy(dst.Pix[(c*outH+y)*outW:(c*outH+y+1)*outW], src.Pix[(c*src.H+top+y)*src.W+left:])
			}
		}
		return dst
	}
	wx := bilinearWeights(w, outW)
	wy := bilinearWeights(h, outH)
	tmp := make([]float32, h*outW)
	for c := 0; c < src.C; c++ {
		for y := 0; y < h; y++ {
			row := src.Pix[(c*src.H+top+y)*src.W+left : (c*src.H+top+y)*src.W+left+w]
			out := tmp[y*outW : (y+1)*outW]
			for o := range out {
				s, n := wx.start[o], wx.count[o]
				ws := wx.w[o*wx.stride : o*wx.stride+n]
				var acc float32
				for k, wk := range ws {
					acc += wk * row[s+k]
				}
				out[o] = acc
			}
		}
		plane := dst.Pix[c*outH*outW : (c+1)*outH*outW]
		for o := 0; o < outH; o++ {
			s, n := wy.start[o], wy.count[o]
			out := plane[o*outW : (o+1)*outW]
			clear(out)
			for k, wk := range wy.w[o*wy.stride : o*wy.stride+n] {
				in := tmp[(s+k)*outW : (s+k+1)*outW]
				for x, v := range in {
					out[x] += wk * v
				}
			}
		}
	}
	return dst
}
