package ref

import (
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// binary checks a, b and dst for an element-wise op and returns their data.
func binary(op string, a, b, dst *tensor.Tensor) (x, y, z []float32) {
	x, y, z = host(op, "a", a), host(op, "b", b), host(op, "dst", dst)
	kernels.CheckSameNumel(name, op, len(x), b, dst)
	return x, y, z
}

// Add: dst = a + b. dst may alias a or b.
func (*Backend) Add(a, b, dst *tensor.Tensor) {
	x, y, z := binary("Add", a, b, dst)
	for i := range z {
		z[i] = x[i] + y[i]
	}
}

// Sub: dst = a - b. dst may alias a or b.
func (*Backend) Sub(a, b, dst *tensor.Tensor) {
	x, y, z := binary("Sub", a, b, dst)
	for i := range z {
		z[i] = x[i] - y[i]
	}
}

// Mul: dst = a * b. dst may alias a or b.
func (*Backend) Mul(a, b, dst *tensor.Tensor) {
	x, y, z := binary("Mul", a, b, dst)
	for i := range z {
		z[i] = x[i] * y[i]
	}
}

// Scale: dst = s * a. dst may alias a.
func (*Backend) Scale(s float32, a, dst *tensor.Tensor) {
	x, z := host("Scale", "a", a), host("Scale", "dst", dst)
	kernels.CheckSameNumel(name, "Scale", len(x), dst)
	for i := range z {
		z[i] = s * x[i]
	}
}

// Axpy: y += alpha * x.
func (*Backend) Axpy(alpha float32, x, y *tensor.Tensor) {
	xs, ys := host("Axpy", "x", x), host("Axpy", "y", y)
	kernels.CheckSameNumel(name, "Axpy", len(xs), y)
	for i := range ys {
		ys[i] += alpha * xs[i]
	}
}

// Relu: y = max(x, 0). y may alias x.
func (*Backend) Relu(x, y *tensor.Tensor) {
	xs, ys := host("Relu", "x", x), host("Relu", "y", y)
	kernels.CheckSameNumel(name, "Relu", len(xs), y)
	for i, v := range xs {
		if v > 0 {
			ys[i] = v
		} else {
			ys[i] = 0
		}
	}
}

// ReluBackward: dx = dy where y > 0, else 0. dx may alias dy.
func (*Backend) ReluBackward(y, dy, dx *tensor.Tensor) {
	ys, g, d := host("ReluBackward", "y", y), host("ReluBackward", "dy", dy), host("ReluBackward", "dx", dx)
	kernels.CheckSameNumel(name, "ReluBackward", len(ys), dy, dx)
	for i, v := range ys {
		if v > 0 {
			d[i] = g[i]
		} else {
			d[i] = 0
		}
	}
}
