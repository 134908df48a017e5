package ref

import (
	"fmt"
	"math"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

var ewSizes = []int{1, 2, 7, 31, 64, 1031}

func TestElementwise(t *testing.T) {
	rng := tensor.NewRand(24)
	b := New()
	ops := []struct {
		name string
		run  func(a, c, dst *tensor.Tensor)
		f    func(x, y float64) float64
		// alias is the input dst may alias (0 or 1), -1 for none.
		alias int
	}{
		{"Add", b.Add, func(x, y float64) float64 { return x + y }, 0},
		{"Sub", b.Sub, func(x, y float64) float64 { return x - y }, 1},
		{"Mul", b.Mul, func(x, y float64) float64 { return x * y }, 0},
		{"Scale", func(a, _, dst *tensor.Tensor) { b.Scale(-1.75, a, dst) }, func(x, _ float64) float64 { return -1.75 * x }, 0},
		{"Axpy", func(a, c, dst *tensor.Tensor) { b.Copy(c, dst); b.Axpy(0.3, a, dst) }, func(x, y float64) float64 { return y + 0.3*x }, -1},
		{"Relu", func(a, _, dst *tensor.Tensor) { b.Relu(a, dst) }, func(x, _ float64) float64 { return math.Max(x, 0) }, 0},
		{"ReluBackward", func(a, c, dst *tensor.Tensor) { b.ReluBackward(a, c, dst) }, func(x, y float64) float64 {
			if x > 0 {
				return y
			}
			return 0
		}, 1},
	}
	for _, op := range ops {
		for _, n := range ewSizes {
			t.Run(fmt.Sprintf("%s/n=%d", op.name, n), func(t *testing.T) {
				x, y := rnd(rng, n), rnd(rng, n)
				want := make([]float64, n)
				for i := range want {
					want[i] = op.f(float64(x.Data()[i]), float64(y.Data()[i]))
				}
				dst := garbage(n)
				op.run(x, y, dst)
				checkClose(t, "dst", dst.Data(), want, 1e-7)
				// In place: dst aliases an input.
				x2, y2 := x.Clone(), y.Clone()
				switch op.alias {
				case 0:
					op.run(x2, y2, x2)
					checkClose(t, "aliased", x2.Data(), want, 1e-7)
				case 1:
					op.run(x2, y2, y2)
					checkClose(t, "aliased", y2.Data(), want, 1e-7)
				}
			})
		}
	}
}

func TestReductions(t *testing.T) {
	rng := tensor.NewRand(25)
	b := New()
	for _, sh := range [][2]int{{1, 1}, {1, 13}, {13, 1}, {7, 31}, {100, 67}} {
		m, n := sh[0], sh[1]
		t.Run(fmt.Sprintf("M=%d,N=%d", m, n), func(t *testing.T) {
			x := rnd(rng, m, n)
			rows, cols := make([]float64, n), make([]float64, m)
			var all, sq float64
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					v := float64(x.At(i, j))
					rows[j] += v
					cols[i] += v
					all += v
					sq += v * v
				}
			}
			s, sr, sc, ss := garbage(1), garbage(n), garbage(m), garbage(2)
			b.Sum(x, s)
			b.SumRows(x, sr)
			b.SumCols(x, sc)
			b.SumSquares([]*tensor.Tensor{x, x.Rows(0, 1)}, ss)
			checkClose(t, "Sum", s.Data(), []float64{all}, 1e-6)
			checkClose(t, "SumRows", sr.Data(), rows, 1e-6)
			checkClose(t, "SumCols", sc.Data(), cols, 1e-6)
			var sq0 float64
			for _, v := range x.Rows(0, 1).Data() {
				sq0 += float64(v) * float64(v)
			}
			checkClose(t, "SumSquares", ss.Data(), []float64{sq, sq0}, 1e-6)
		})
	}
}

func TestBias(t *testing.T) {
	rng := tensor.NewRand(26)
	b := New()
	for _, sh := range [][]int{{1, 1}, {7, 13}, {2, 5, 3, 7}, {3, 64, 1, 1}} {
		t.Run(fmt.Sprint(sh), func(t *testing.T) {
			c := sh[1]
			inner := tensor.Numel(sh[2:])
			y, bias := rnd(rng, sh...), rnd(rng, c)
			want := f64(y.Data())
			for i := range want {
				want[i] += float64(bias.Data()[(i/inner)%c])
			}
			b.BiasAdd(bias, y)
			checkClose(t, "BiasAdd", y.Data(), want, 1e-7)
			// BiasGrad is the adjoint of BiasAdd: <BiasAdd(b), dy> = <b, BiasGrad(dy)>.
			dy, db := rnd(rng, sh...), garbage(c)
			b.BiasGrad(dy, db)
			wantDB := make([]float64, c)
			for i, v := range dy.Data() {
				wantDB[(i/inner)%c] += float64(v)
			}
			checkClose(t, "BiasGrad", db.Data(), wantDB, 1e-6)
		})
	}
}

func TestMemory(t *testing.T) {
	rng := tensor.NewRand(27)
	b := New()
	x := rnd(rng, 5, 3)
	h := b.FromHost(x.Rows(1, 4))
	if !tensor.EqualShape(h.Shape(), []int{3, 3}) || &h.Data()[0] == &x.Data()[3] {
		t.Fatal("FromHost did not copy")
	}
	checkClose(t, "FromHost", h.Data(), f64(x.Data()[3:12]), 0)
	back := b.ToHost(h)
	back.Data()[0] = 99
	if h.Data()[0] == 99 {
		t.Fatal("ToHost did not copy")
	}
	dst := garbage(9)
	b.Copy(h, dst)
	checkClose(t, "Copy", dst.Data(), f64(h.Data()), 0)
	b.Fill(2.5, x.Rows(2, 3))
	for i, v := range x.Data() {
		if (i >= 6 && i < 9) != (v == 2.5) {
			t.Fatalf("Fill of row 2: element %d is %v", i, v)
		}
	}
	z := b.Zeros(2, 7)
	if z.Numel() != 14 || z.HasNaN() || b.Sync() != nil || b.Kind() != tensor.Host || b.Name() != "ref" {
		t.Fatal("Zeros, Sync, Kind or Name")
	}
}

func TestPanicsArePrefixed(t *testing.T) {
	b := New()
	bnP := kernels.BNParams{Eps: 1e-5, Momentum: 0.1}
	c3 := func() *tensor.Tensor { return tensor.Ones(3) }
	for name, f := range map[string]func(){
		"Add": func() { b.Add(tensor.Zeros(3), tensor.Zeros(4), tensor.Zeros(3)) },
		"Conv2d": func() {
			b.Conv2d(convCases[1].p, tensor.Zeros(1, 2, 5, 5), tensor.Zeros(3, 3, 3, 3), tensor.Zeros(1, 3, 5, 5))
		},
		"BatchNorm": func() {
			b.BatchNormInfer(bnP, tensor.Zeros(2, 3), tensor.Zeros(3), tensor.Zeros(2), tensor.Zeros(3), tensor.Zeros(3), tensor.Zeros(2, 3))
		},
		"SumRows":   func() { b.SumRows(tensor.Zeros(3, 5), tensor.Zeros(4)) },
		"SoftmaxCE": func() { b.SoftmaxCrossEntropy(tensor.Zeros(2, 3), []int32{0, 3}, tensor.Zeros(1), nil) },
		"SGD": func() {
			b.SGDStep(kernels.SGDParams{LR: 1}, []*tensor.Tensor{tensor.Zeros(3)}, []*tensor.Tensor{tensor.Zeros(4)}, nil, nil)
		},
		"BNOneValue": func() {
			b.BatchNormTrain(bnP, tensor.Zeros(1, 3), c3(), c3(), tensor.Zeros(1, 3), c3(), c3(), c3(), c3())
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if s, ok := recover().(string); !ok || len(s) < 5 || s[:5] != "ref: " {
					t.Fatalf("want a panic starting with \"ref: \", got %v", s)
				}
			}()
			f()
		})
	}
}
