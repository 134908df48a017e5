package cpu

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// The Hallucinator's MLP runs as three SGEMMs over all rows at once; the
// bias, ReLU and extrapolation steps are parallel row loops. Shapes, with
// h = 2D:
//
//	u   [N, h]  = [x, x + lambda*(x-k)]
//	act [N, 2h] = [h1 | h2], h1 = relu(u W1^T + b1), h2 = relu(h1 W2^T + b2)
//	out [N, D]  = h2 W3^T + b3

// halluInput writes u [N, 2D] = [x, x + lambda*(x-k)].
func (b *Backend) halluInput(lambda float32, x, k []float32, n, d int, u []float32) {
	b.parallel(n, 4*d, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr, kr := x[i*d:(i+1)*d], k[i*d:(i+1)*d]
			ur := u[i*2*d : (i+1)*2*d]
			copy(ur, xr)
			xt := ur[d:]
			for j, v := range xr {
				xt[j] = v + lambda*(v-kr[j])
			}
		}
	})
}

// biasAct adds bias to the n rows of width len(bias) at c (row stride ldc)
// and applies ReLU when relu.
func (b *Backend) biasAct(c []float32, n, ldc int, bias []float32, relu bool) {
	w := len(bias)
	b.parallel(n, w, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := c[i*ldc : i*ldc+w]
			for j, v := range bias {
				o := row[j] + v
				if relu {
					o = max(o, 0)
				}
				row[j] = o
			}
		}
	})
}

// HallucinatorForward computes the extrapolation and the three-layer MLP,
// keeping h1 | h2 in act for the backward.
func (b *Backend) HallucinatorForward(lambda float32, x, k, w1, b1, w2, b2, w3, b3, act, out *tensor.Tensor) {
	const op = "HallucinatorForward"
	n, d := kernels.CheckHallucinator(name, op, x, k, w1, w2, w3, act)
	kernels.CheckShape(name, op, "b1", b1, 2*d)
	kernels.CheckShape(name, op, "b2", b2, 2*d)
	kernels.CheckShape(name, op, "b3", b3, d)
	kernels.CheckShape(name, op, "out", out, n, d)
	h := 2 * d
	ad, od := data(op, act), data(op, out)
	u := b.scratch(n * h)
	defer b.release(u)
	b.halluInput(lambda, data(op, x), data(op, k), n, d, u)
	b.sgemm(false, true, n, h, h, 1, u, h, data(op, w1), h, 0, ad, 2*h)
	b.biasAct(ad, n, 2*h, data(op, b1), true)
	if n > 0 {
		b.sgemm(false, true, n, h, h, 1, ad, 2*h, data(op, w2), h, 0, ad[h:], 2*h)
		b.biasAct(ad[h:], n, 2*h, data(op, b2), true)
		b.sgemm(false, true, n, d, h, 1, ad[h:], 2*h, data(op, w3), h, 0, od, d)
	}
	b.biasAct(od, n, d, data(op, b3), false)
}

// maskRelu zeroes g [n, w] (row stride w) where the activation a (row
// stride lda) is not positive.
func (b *Backend) maskRelu(g []float32, a []float32, n, w, lda int) {
	b.parallel(n, w, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gr, ar := g[i*w:(i+1)*w], a[i*lda:i*lda+w]
			for j, v := range ar {
				gr[j] = maskPos(v, gr[j])
			}
		}
	})
}

// HallucinatorBackward computes the gradients of the forward from dout:
// g2 = dout W3 masked by h2 > 0, g1 = g2 W2 masked by h1 > 0, du = g1 W1;
// dW3 = dout^T h2, dW2 = g2^T h1, dW1 = g1^T u, biases the column sums;
// dx = du_x + (1+lambda) du_xt, dk = -lambda du_xt.
func (b *Backend) HallucinatorBackward(lambda float32, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor) {
	const op = "HallucinatorBackward"
	n, d := kernels.CheckHallucinator(name, op, x, k, w1, w2, w3, act)
	kernels.CheckHallucinatorGrads(name, op, n, d, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
	h := 2 * d
	ad, gd := data(op, act), data(op, dout)
	buf := b.scratch(3 * n * h)
	defer b.release(buf)
	g2, g1, u := buf[:n*h], buf[n*h:2*n*h], buf[2*n*h:]

	// Layer 3.
	b.sgemm(true, false, d, h, n, 1, gd, d, ad[min(h, len(ad)):], 2*h, 0, data(op, dw3), h)
	b.sumRows(gd, n, d, data(op, db3))
	b.sgemm(false, false, n, h, d, 1, gd, d, data(op, w3), h, 0, g2, h)
	b.maskRelu(g2, ad[min(h, len(ad)):], n, h, 2*h)
	// Layer 2.
	b.sgemm(true, false, h, h, n, 1, g2, h, ad, 2*h, 0, data(op, dw2), h)
	b.sumRows(g2, n, h, data(op, db2))
	b.sgemm(false, false, n, h, h, 1, g2, h, data(op, w2), h, 0, g1, h)
	b.maskRelu(g1, ad, n, h, 2*h)
	// Layer 1.
	xd, kd := data(op, x), data(op, k)
	b.halluInput(lambda, xd, kd, n, d, u)
	b.sgemm(true, false, h, h, n, 1, g1, h, u, h, 0, data(op, dw1), h)
	b.sumRows(g1, n, h, data(op, db1))
	du := g2 // g2 is no longer needed
	b.sgemm(false, false, n, h, h, 1, g1, h, data(op, w1), h, 0, du, h)
	dxd := data(op, dx)
	var dkd []float32
	if dk != nil {
		dkd = data(op, dk)
	}
	b.parallel(n, 3*d, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ux, ut := du[i*h:i*h+d], du[i*h+d:(i+1)*h]
			xr := dxd[i*d : (i+1)*d]
			for j, v := range ux {
				xr[j] = v + (1+lambda)*ut[j]
			}
			if dkd != nil {
				kr := dkd[i*d : (i+1)*d]
				for j, v := range ut {
					kr[j] = -lambda * v
				}
			}
		}
	})
}
