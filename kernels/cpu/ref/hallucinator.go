package ref

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// halluInput returns u = [x, x + lambda*(x - k)] [n, 2d] in float64.
func halluInput(lambda float32, x, k []float32, n, d int) []float64 {
	u := make([]float64, n*2*d)
	l := float64(lambda)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			xv, kv := float64(x[i*d+j]), float64(k[i*d+j])
			u[i*2*d+j] = xv
			u[i*2*d+d+j] = xv + l*(xv-kv)
		}
	}
	return u
}

// dense computes out[i, c] = sum_j in[i, j] * w[c, j] + b[c] (then ReLU when
// relu) for in [n, m] in float64, w [o, m], b [o]. Row i of the result is
// stored in out[i*stride+off : i*stride+off+o]; the stored (float32) values
// are also returned as float64 [n, o] for the next layer.
func dense(in []float64, n, m int, w, b []float32, relu bool, out []float32, stride, off int) []float64 {
	o := len(b)
	res := make([]float64, n*o)
	for i := 0; i < n; i++ {
		row := in[i*m : (i+1)*m]
		for c := 0; c < o; c++ {
			s := float64(b[c])
			for j, v := range row {
				s += v * float64(w[c*m+j])
			}
			if relu && !(s > 0) {
				s = 0
			}
			out[i*stride+off+c] = float32(s)
			res[i*o+c] = float64(float32(s))
		}
	}
	return res
}

// HallucinatorForward: with x, k [N, D]: xt = x + lambda*(x - k); u = [x, xt]
// [N, 2D]; h1 = relu(u W1^T + b1); h2 = relu(h1 W2^T + b2); out = h2 W3^T +
// b3. W1, W2 [2D, 2D], W3 [D, 2D], b1, b2 [2D], b3 [D]. Row i of act
// [N, 4D] receives h1[i] in columns [0, 2D) and h2[i] in [2D, 4D).
func (*Backend) HallucinatorForward(lambda float32, x, k, w1, b1, w2, b2, w3, b3, act, out *tensor.Tensor) {
	const op = "HallucinatorForward"
	n, d := kernels.CheckHallucinator(name, op, x, k, w1, w2, w3, act)
	kernels.CheckShape(name, op, "b1", b1, 2*d)
	kernels.CheckShape(name, op, "b2", b2, 2*d)
	kernels.CheckShape(name, op, "b3", b3, d)
	kernels.CheckShape(name, op, "out", out, n, d)
	as := host(op, "act", act)
	u := halluInput(lambda, host(op, "x", x), host(op, "k", k), n, d)
	h1 := dense(u, n, 2*d, host(op, "w1", w1), host(op, "b1", b1), true, as, 4*d, 0)
	h2 := dense(h1, n, 2*d, host(op, "w2", w2), host(op, "b2", b2), true, as, 4*d, 2*d)
	dense(h2, n, 2*d, host(op, "w3", w3), host(op, "b3", b3), false, host(op, "out", out), d, 0)
}

// layerBackward is the backward of out = in W^T + b for in [n, m], W [o, m]:
// given g = d out [n, o] it writes dw = g^T in [o, m] and db = column sums
// of g [o], and returns din = g W [n, m].
func layerBackward(g []float64, in []float64, n, m int, w []float32, dw, db []float32) []float64 {
	o := len(db)
	dw64, db64 := make([]float64, o*m), make([]float64, o)
	din := make([]float64, n*m)
	for i := 0; i < n; i++ {
		x, dx := in[i*m:(i+1)*m], din[i*m:(i+1)*m]
		for c, gv := range g[i*o : (i+1)*o] {
			db64[c] += gv
			wr, dwr := w[c*m:(c+1)*m], dw64[c*m:(c+1)*m]
			for j, v := range x {
				dwr[j] += gv * v
				dx[j] += gv * float64(wr[j])
			}
		}
	}
	for i, v := range dw64 {
		dw[i] = float32(v)
	}
	for i, v := range db64 {
		db[i] = float32(v)
	}
	return din
}

// HallucinatorBackward: from dout [N, D], the forward's inputs and act,
// writes dx, dk [N, D] (dk may be nil), dw1, dw2 [2D, 2D], dw3 [D, 2D] and
// db1, db2 [2D], db3 [D]. With du = d u split into du1 | du2 (the x and xt
// halves): dx = du1 + (1+lambda)*du2 and dk = -lambda*du2. k is read to
// rebuild u for dw1.
func (*Backend) HallucinatorBackward(lambda float32, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor) {
	const op = "HallucinatorBackward"
	n, d := kernels.CheckHallucinator(name, op, x, k, w1, w2, w3, act)
	kernels.CheckHallucinatorGrads(name, op, n, d, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
	h := 2 * d
	as := host(op, "act", act)
	h1, h2 := make([]float64, n*h), make([]float64, n*h)
	for i := 0; i < n; i++ {
		for j := 0; j < h; j++ {
			h1[i*h+j] = float64(as[i*4*d+j])
			h2[i*h+j] = float64(as[i*4*d+h+j])
		}
	}
	g3 := make([]float64, n*d)
	for i, v := range host(op, "dout", dout) {
		g3[i] = float64(v)
	}
	g2 := layerBackward(g3, h2, n, h, host(op, "w3", w3), host(op, "dw3", dw3), host(op, "db3", db3))
	for i, v := range h2 {
		if !(v > 0) {
			g2[i] = 0
		}
	}
	g1 := layerBackward(g2, h1, n, h, host(op, "w2", w2), host(op, "dw2", dw2), host(op, "db2", db2))
	for i, v := range h1 {
		if !(v > 0) {
			g1[i] = 0
		}
	}
	u := halluInput(lambda, host(op, "x", x), host(op, "k", k), n, d)
	du := layerBackward(g1, u, n, h, host(op, "w1", w1), host(op, "dw1", dw1), host(op, "db1", db1))
	dxs := host(op, "dx", dx)
	var dks []float32
	if dk != nil {
		dks = host(op, "dk", dk)
	}
	l := float64(lambda)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			du1, du2 := du[i*h+j], du[i*h+d+j]
			dxs[i*d+j] = float32(du1 + (1+l)*du2)
			if dks != nil {
				dks[i*d+j] = float32(-l * du2)
			}
		}
	}
}
