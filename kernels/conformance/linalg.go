package conformance

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/tensor"
)

// memory checks Zeros, FromHost/ToHost, Copy and Fill.
func (s *suite) memory(t *testing.T) {
	b := s.b
	for _, sh := range [][]int{{1}, {13}, {7, 31}, {2, 3, 5, 7}} {
		s.run(t, fmt.Sprintf("Zeros/shape=%v", sh), func(c *kcase) {
			z := b.Zeros(sh...)
			if z.Kind() != b.Kind() || !tensor.EqualShape(z.Shape(), sh) {
				c.t.Fatalf("Zeros(%v) gave shape %v on %v", sh, z.Shape(), z.Kind())
			}
			for i, v := range b.ToHost(z).Contiguous().Data() {
				if v != 0 {
					c.t.Fatalf("Zeros: element %d is %v", i, v)
				}
			}
		})
		s.run(t, fmt.Sprintf("RoundTrip/shape=%v", sh), func(c *kcase) {
			x := RandTensor(c.rng, sh...)
			d := b.FromHost(x)
			if d.Kind() != b.Kind() {
				c.t.Fatalf("FromHost gave a %v tensor", d.Kind())
			}
			back := b.ToHost(d)
			if back.Kind() != tensor.Host || RelErr(back.Contiguous().Data(), x.Data()) != 0 {
				c.t.Fatal("ToHost(FromHost(x)) differs from x")
			}
		})
		s.run(t, fmt.Sprintf("Copy/shape=%v", sh), func(c *kcase) {
			src, dst := c.in("src", sh...), c.out("dst", sh...)
			s.ref.Copy(src.ref, dst.ref)
			b.Copy(src.dev, dst.dev)
		})
		s.run(t, fmt.Sprintf("Fill/shape=%v", sh), func(c *kcase) {
			dst := c.out("dst", sh...)
			s.ref.Fill(-2.75, dst.ref)
			b.Fill(-2.75, dst.dev)
		})
	}
	s.run(t, "Copy/reshaped", func(c *kcase) {
		src, dst := c.in("src", 6, 35), c.out("dst", 2, 3, 5, 7)
		s.ref.Copy(src.ref, dst.ref)
		b.Copy(src.dev, dst.dev.Reshape(6, 35))
	})
}

func transName(ta, tb bool) string {
	n := map[bool]string{false: "N", true: "T"}
	return n[ta] + n[tb]
}

// gemmShapes returns the shapes of A and B for op(A) [m, k], op(B) [k, n].
func gemmShapes(ta, tb bool, m, n, k int) (as, bs []int) {
	as, bs = []int{m, k}, []int{k, n}
	if ta {
		as = []int{k, m}
	}
	if tb {
		bs = []int{n, k}
	}
	return as, bs
}

// gemm checks Gemm on all transpositions, awkward and real sizes, with
// beta = 0 (C full of NaN, which must not leak) and beta != 0.
func (s *suite) gemm(t *testing.T) {
	type shape struct{ m, n, k int }
	small := []shape{{1, 1, 1}, {1, 13, 7}, {7, 1, 13}, {13, 7, 1}, {31, 67, 13}, {67, 31, 129}, {64, 64, 64}}
	scalars := [][2]float32{{1, 0}, {-0.5, 0}, {1, 1}, {0.75, -1.25}}
	check := func(ta, tb bool, sh shape, alpha, beta float32) {
		name := fmt.Sprintf("%s/M=%d,N=%d,K=%d/alpha=%g,beta=%g", transName(ta, tb), sh.m, sh.n, sh.k, alpha, beta)
		s.run(t, name, func(c *kcase) {
			as, bs := gemmShapes(ta, tb, sh.m, sh.n, sh.k)
			a, bm := c.in("A", as...), c.in("B", bs...)
			var cm *pair
			if beta == 0 {
				cm = c.outFill("C", float32(math.NaN()), sh.m, sh.n)
			} else {
				cm = c.out("C", sh.m, sh.n)
			}
			cm.tol(longSum(sh.k))
			s.ref.Gemm(ta, tb, alpha, a.ref, bm.ref, beta, cm.ref)
			s.b.Gemm(ta, tb, alpha, a.dev, bm.dev, beta, cm.dev)
		})
	}
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, sh := range small {
				for _, ab := range scalars {
					check(ta, tb, sh, ab[0], ab[1])
				}
			}
		}
	}
	// Real sizes: a ResNet 3x3 convolution's forward (C = W X with K = 64*9)
	// and its two backward products, a projection head.
	check(false, false, shape{512, 512, 576}, 1, 0)
	check(false, false, shape{512, 512, 576}, 1, 1)
	check(true, false, shape{576, 512, 512}, 1, 0)
	check(false, true, shape{512, 576, 512}, 1, 0)
	check(false, true, shape{256, 2048, 128}, 1, 0)
}

// gemmBatched checks GemmBatched on every transposition.
func (s *suite) gemmBatched(t *testing.T) {
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, sh := range [][4]int{{1, 1, 1, 1}, {3, 7, 13, 5}, {8, 31, 17, 64}, {2, 128, 128, 64}} {
				for _, beta := range []float32{0, 0.5} {
					batch, m, n, k := sh[0], sh[1], sh[2], sh[3]
					name := fmt.Sprintf("%s/batch=%d,M=%d,N=%d,K=%d/beta=%g", transName(ta, tb), batch, m, n, k, beta)
					s.run(t, name, func(c *kcase) {
						as, bs := gemmShapes(ta, tb, m, n, k)
						a, bm := c.in("A", append([]int{batch}, as...)...), c.in("B", append([]int{batch}, bs...)...)
						var cm *pair
						if beta == 0 {
							cm = c.outFill("C", float32(math.NaN()), batch, m, n)
						} else {
							cm = c.out("C", batch, m, n)
						}
						s.ref.GemmBatched(ta, tb, 1.5, a.ref, bm.ref, beta, cm.ref)
						s.b.GemmBatched(ta, tb, 1.5, a.dev, bm.dev, beta, cm.dev)
					})
				}
			}
		}
	}
}

// ewSizes are the lengths of the element-wise and reduction tests: tiny,
// odd, prime, around vector widths, large.
var ewSizes = []int{1, 3, 7, 8, 13, 16, 17, 31, 67, 1031, 65537}

// elementwise checks Add, Sub, Mul, Scale and Axpy, each also in place.
func (s *suite) elementwise(t *testing.T) {
	r, b := s.ref, s.b
	type op struct {
		name string
		ref  func(a, x, dst *tensor.Tensor)
		dev  func(a, x, dst *tensor.Tensor)
	}
	ops := []op{
		{"Add", r.Add, b.Add},
		{"Sub", r.Sub, b.Sub},
		{"Mul", r.Mul, b.Mul},
		{"Scale", func(a, _, d *tensor.Tensor) { r.Scale(-1.5, a, d) }, func(a, _, d *tensor.Tensor) { b.Scale(-1.5, a, d) }},
	}
	for _, o := range ops {
		for _, n := range ewSizes {
			s.run(t, fmt.Sprintf("%s/n=%d", o.name, n), func(c *kcase) {
				a, x, dst := c.in("a", n), c.in("b", n), c.out("dst", n)
				o.ref(a.ref, x.ref, dst.ref)
				o.dev(a.dev, x.dev, dst.dev)
			})
			s.run(t, fmt.Sprintf("%s/n=%d/dst=a", o.name, n), func(c *kcase) {
				a, x := c.out("a (dst)", n), c.in("b", n)
				o.ref(a.ref, x.ref, a.ref)
				o.dev(a.dev, x.dev, a.dev)
			})
			if o.name != "Scale" {
				s.run(t, fmt.Sprintf("%s/n=%d/dst=b", o.name, n), func(c *kcase) {
					a, x := c.in("a", n), c.out("b (dst)", n)
					o.ref(a.ref, x.ref, x.ref)
					o.dev(a.dev, x.dev, x.dev)
				})
			}
		}
	}
	for _, n := range ewSizes {
		s.run(t, fmt.Sprintf("Axpy/n=%d", n), func(c *kcase) {
			x, y := c.in("x", n), c.out("y", n)
			r.Axpy(0.625, x.ref, y.ref)
			b.Axpy(0.625, x.dev, y.dev)
		})
	}
	s.run(t, "Add/shapes=[6,35]+[2,3,5,7]", func(c *kcase) {
		a, x, dst := c.in("a", 6, 35), c.in("b", 2, 3, 5, 7), c.out("dst", 210)
		r.Add(a.ref, x.ref, dst.ref)
		b.Add(a.dev, x.dev, dst.dev)
	})
}

// sum checks Sum.
func (s *suite) sum(t *testing.T) {
	for _, sh := range [][]int{{1}, {13}, {1031}, {65537}, {7, 31}, {2, 64, 8, 8}} {
		s.run(t, fmt.Sprintf("shape=%v", sh), func(c *kcase) {
			x, d := c.in("x", sh...), c.out("dst", 1)
			d.tol(longSum(tensor.Numel(sh)))
			s.ref.Sum(x.ref, d.ref)
			s.b.Sum(x.dev, d.dev)
		})
	}
}

// matShapes are [M, N] shapes of the row and column sums.
var matShapes = [][2]int{{1, 1}, {1, 13}, {13, 1}, {7, 31}, {256, 128}, {67, 1031}, {1031, 3}}

// sumRows checks SumRows.
func (s *suite) sumRows(t *testing.T) {
	for _, sh := range matShapes {
		s.run(t, fmt.Sprintf("M=%d,N=%d", sh[0], sh[1]), func(c *kcase) {
			x, d := c.in("x", sh[0], sh[1]), c.out("dst", sh[1])
			d.tol(longSum(sh[0]))
			s.ref.SumRows(x.ref, d.ref)
			s.b.SumRows(x.dev, d.dev)
		})
	}
	s.run(t, "x=[4,5,6],N=30", func(c *kcase) {
		x, d := c.in("x", 4, 5, 6), c.out("dst", 30)
		s.ref.SumRows(x.ref, d.ref)
		s.b.SumRows(x.dev, d.dev)
	})
}

// sumCols checks SumCols.
func (s *suite) sumCols(t *testing.T) {
	for _, sh := range matShapes {
		s.run(t, fmt.Sprintf("M=%d,N=%d", sh[0], sh[1]), func(c *kcase) {
			x, d := c.in("x", sh[0], sh[1]), c.out("dst", sh[0])
			d.tol(longSum(sh[1]))
			s.ref.SumCols(x.ref, d.ref)
			s.b.SumCols(x.dev, d.dev)
		})
	}
	s.run(t, "x=[4,5,6],M=20", func(c *kcase) {
		x, d := c.in("x", 4, 5, 6), c.out("dst", 20)
		s.ref.SumCols(x.ref, d.ref)
		s.b.SumCols(x.dev, d.dev)
	})
}

// sumSquares checks SumSquares on a list of parameter-like tensors.
func (s *suite) sumSquares(t *testing.T) {
	for _, shapes := range [][][]int{{{1}}, {{7, 13}, {1}, {64, 3, 3, 3}, {1031}, {512, 512}}} {
		s.run(t, fmt.Sprintf("tensors=%d", len(shapes)), func(c *kcase) {
			var xr, xd []*tensor.Tensor
			most := 1
			for i, sh := range shapes {
				p := c.in(fmt.Sprintf("xs[%d]", i), sh...)
				xr, xd = append(xr, p.ref), append(xd, p.dev)
				most = max(most, tensor.Numel(sh))
			}
			d := c.out("dst", len(shapes))
			// Each entry is compared with the largest, so the bound scales
			// with the longest sum.
			d.tol(longSum(most))
			s.ref.SumSquares(xr, d.ref)
			s.b.SumSquares(xd, d.dev)
		})
	}
}

// biasShapes are the shapes of BiasAdd and BiasGrad: [N, C] and NCHW.
var biasShapes = [][]int{{1, 1}, {7, 13}, {256, 512}, {2, 5, 3, 7}, {4, 64, 16, 16}, {3, 17, 1, 1}}

// biasAdd checks BiasAdd.
func (s *suite) biasAdd(t *testing.T) {
	for _, sh := range biasShapes {
		s.run(t, fmt.Sprintf("y=%v", sh), func(c *kcase) {
			bias, y := c.in("b", sh[1]), c.out("y", sh...)
			s.ref.BiasAdd(bias.ref, y.ref)
			s.b.BiasAdd(bias.dev, y.dev)
		})
	}
}

// biasGrad checks BiasGrad.
func (s *suite) biasGrad(t *testing.T) {
	for _, sh := range biasShapes {
		s.run(t, fmt.Sprintf("dy=%v", sh), func(c *kcase) {
			dy, db := c.in("dy", sh...), c.out("db", sh[1])
			db.tol(longSum(tensor.Numel(sh) / sh[1]))
			s.ref.BiasGrad(dy.ref, db.ref)
			s.b.BiasGrad(dy.dev, db.dev)
		})
	}
}
