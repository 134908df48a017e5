package cpu

import (
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// maskPos returns g when y > 0 and 0 otherwise (NaN y included), without a
// branch: the sign of a ReLU output is unpredictable, and a mispredicted
// branch per element costs more than the arithmetic.
func maskPos(y, g float32) float32 {
	yb := int32(math.Float32bits(y))
	// yb in (0, +Inf] is y > 0; -yb & (yb - 0x7f800001) is negative there
	// and non-negative for zeros, negatives and NaNs.
	m := uint32((-yb & (yb - 0x7f800001)) >> 31)
	return math.Float32frombits(math.Float32bits(g) & m)
}

// Element-wise methods split their tensors into contiguous ranges across the
// workers; small tensors run inline. Outputs may alias inputs exactly, as
// every element is read before it is written.

// binary runs f over the ranges of three same-sized tensors.
func (b *Backend) binary(op string, x, y, dst *tensor.Tensor, f func(x, y, dst []float32)) {
	n := x.Numel()
	kernels.CheckSameNumel(name, op, n, y, dst)
	xd, yd, dd := data(op, x), data(op, y), data(op, dst)
	b.parallel(n, 1, func(lo, hi int) { f(xd[lo:hi], yd[lo:hi], dd[lo:hi]) })
}

// Copy copies src into dst (same number of elements).
func (b *Backend) Copy(src, dst *tensor.Tensor) {
	n := src.Numel()
	kernels.CheckSameNumel(name, "Copy", n, dst)
	s, d := data("Copy", src), data("Copy", dst)
	b.parallel(n, 1, func(lo, hi int) { copy(d[lo:hi], s[lo:hi]) })
}

// Fill sets every element of dst to v.
func (b *Backend) Fill(v float32, dst *tensor.Tensor) {
	d := data("Fill", dst)
	b.parallel(len(d), 1, func(lo, hi int) {
		s := d[lo:hi]
		if v == 0 {
			clear(s)
			return
		}
		for i := range s {
			s[i] = v
		}
	})
}

// Relu computes y = max(x, 0); y may alias x.
func (b *Backend) Relu(x, y *tensor.Tensor) {
	n := x.Numel()
	kernels.CheckSameNumel(name, "Relu", n, y)
	xd, yd := data("Relu", x), data("Relu", y)
	b.parallel(n, 1, func(lo, hi int) { maskPosSlice(xd[lo:hi], xd[lo:hi], yd[lo:hi]) })
}

// ReluBackward computes dx = dy where y > 0, else 0; dx may alias dy.
func (b *Backend) ReluBackward(y, dy, dx *tensor.Tensor) {
	b.binary("ReluBackward", y, dy, dx, maskPosSlice)
}

// Add computes dst = a + c.
func (b *Backend) Add(a, c, dst *tensor.Tensor) {
	b.binary("Add", a, c, dst, add)
}

// Sub computes dst = a - c.
func (b *Backend) Sub(a, c, dst *tensor.Tensor) {
	b.binary("Sub", a, c, dst, func(x, y, d []float32) {
		y = y[:len(x)]
		d = d[:len(x)]
		for i, v := range x {
			d[i] = v - y[i]
		}
	})
}

// Mul computes dst = a * c.
func (b *Backend) Mul(a, c, dst *tensor.Tensor) {
	b.binary("Mul", a, c, dst, func(x, y, d []float32) {
		y = y[:len(x)]
		d = d[:len(x)]
		for i, v := range x {
			d[i] = v * y[i]
		}
	})
}

// Scale computes dst = s * a.
func (b *Backend) Scale(s float32, a, dst *tensor.Tensor) {
	n := a.Numel()
	kernels.CheckSameNumel(name, "Scale", n, dst)
	ad, dd := data("Scale", a), data("Scale", dst)
	b.parallel(n, 1, func(lo, hi int) {
		x, d := ad[lo:hi], dd[lo:hi]
		for i, v := range x {
			d[i] = s * v
		}
	})
}

// Axpy accumulates y += alpha * x.
func (b *Backend) Axpy(alpha float32, x, y *tensor.Tensor) {
	n := x.Numel()
	kernels.CheckSameNumel(name, "Axpy", n, y)
	xd, yd := data("Axpy", x), data("Axpy", y)
	b.parallel(n, 1, func(lo, hi int) { axpy(alpha, xd[lo:hi], yd[lo:hi]) })
}

// biasDims returns outer, C, inner of y seen as [outer, C, inner].
func biasDims(op string, y, bias *tensor.Tensor) (outer, c, inner int) {
	s := y.Shape()
	if len(s) < 2 {
		kernels.Panicf(name, "%s: y has shape %v, want at least 2 dimensions", op, s)
	}
	outer, c, inner = s[0], s[1], tensor.Numel(s[2:])
	kernels.CheckSameNumel(name, op, c, bias)
	return outer, c, inner
}

// BiasAdd adds b[c] to y[o, c, i].
func (b *Backend) BiasAdd(bias, y *tensor.Tensor) {
	outer, C, inner := biasDims("BiasAdd", y, bias)
	bd, yd := data("BiasAdd", bias), data("BiasAdd", y)
	if inner == 1 {
		b.parallel(outer, C, func(lo, hi int) {
			for o := lo; o < hi; o++ {
				addTo(yd[o*C:(o+1)*C], bd)
			}
		})
		return
	}
	b.parallel(outer*C, inner, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			v := bd[j%C]
			row := yd[j*inner : (j+1)*inner]
			for i := range row {
				row[i] += v
			}
		}
	})
}

// BiasGrad computes db[c] = sum over o and i of dy[o, c, i].
func (b *Backend) BiasGrad(dy, db *tensor.Tensor) {
	outer, C, inner := biasDims("BiasGrad", dy, db)
	dyd, dbd := data("BiasGrad", dy), data("BiasGrad", db)
	if inner == 1 {
		b.sumRows(dyd, outer, C, dbd)
		return
	}
	b.parallel(C, outer*inner, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s float64
			for o := 0; o < outer; o++ {
				s += sum64(dyd[(o*C+c)*inner : (o*C+c+1)*inner])
			}
			dbd[c] = float32(s)
		}
	})
}
