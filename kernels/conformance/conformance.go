// Package conformance is the test suite every kernels.Backend must pass: Run
// calls each method of a backend on seeded random inputs of awkward and of
// real network sizes and compares the results with the plain-Go reference
// (kernels/cpu/ref). A backend's test is one line:
//
//	func TestConformance(t *testing.T) { conformance.Run(t, mybackend.New(), conformance.Options{}) }
package conformance

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"testing"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// Options configures Run.
type Options struct {
	// Tol is the largest accepted error of an output relative to the
	// largest magnitude of the reference output (see RelErr); 0 means 1e-5.
	// Outputs that are sums of more than 256 terms get a bound larger by
	// sqrt(terms)/16. Backends that multiply in reduced precision (TF32)
	// pass with 1e-3.
	Tol float64
}

// Run checks every method of b against the reference backend, one subtest
// per method (named after it) and per shape. Inputs are made on the host and
// moved with b.FromHost as row views into larger storages whose extra rows
// (guards) must come back unchanged; outputs start as random garbage (NaN
// for Gemm's C when beta is 0) so that unwritten elements are caught; inputs
// must be left unchanged; results come back with b.ToHost after b.Sync.
func Run(t *testing.T, b kernels.Backend, opts Options) {
	s := &suite{b: b, ref: ref.New(), tol: opts.Tol}
	if s.tol == 0 {
		s.tol = 1e-5
	}
	groups := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Memory", s.memory},
		{"Gemm", s.gemm}, {"GemmBatched", s.gemmBatched},
		{"Conv2d", s.conv},
		{"BiasAdd", s.biasAdd}, {"BiasGrad", s.biasGrad},
		{"BatchNormTrain", s.bnTrain}, {"BatchNormInfer", s.bnInfer}, {"BatchNormBackward", s.bnBackward},
		{"Relu", s.relu}, {"ReluBackward", s.reluBackward},
		{"MaxPool2d", s.maxPool}, {"MaxPool2dBackward", s.maxPoolBackward},
		{"GlobalAvgPool", s.avgPool}, {"GlobalAvgPoolBackward", s.avgPoolBackward},
		{"Elementwise", s.elementwise},
		{"Sum", s.sum}, {"SumRows", s.sumRows}, {"SumCols", s.sumCols}, {"SumSquares", s.sumSquares},
		{"GatherRows", s.gatherRows}, {"ScatterAddRows", s.scatterAddRows},
		{"L2NormalizeRows", s.l2norm}, {"L2NormalizeRowsBackward", s.l2normBackward},
		{"SoftmaxCrossEntropy", s.softmaxCE},
		{"InfoNCE", s.infoNCE},
		{"HallucinatorForward", s.halluForward}, {"HallucinatorBackward", s.halluBackward},
		{"SGDStep", s.sgd}, {"LARSStep", s.lars}, {"AdamWStep", s.adamw}, {"EMA", s.ema},
	}
	for _, g := range groups {
		t.Run(g.name, g.run)
	}
}

// RandTensor returns a host tensor of values uniform in magnitude in
// [0.05, 1] with a random sign: never zero, never tiny.
func RandTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.Zeros(shape...)
	d := t.Data()
	for i := range d {
		v := 0.05 + 0.95*rng.Float32()
		if rng.Uint32()&1 == 0 {
			v = -v
		}
		d[i] = v
	}
	return t
}

// RelErr returns max |got - want| / max(max |want|, 1e-30). It is +Inf when
// the lengths differ or either side holds a NaN or an infinity where the
// other does not hold the same value.
func RelErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, mx float64
	for i, w := range want {
		g, w := float64(got[i]), float64(w)
		if math.IsNaN(g) || math.IsNaN(w) || math.IsInf(g, 0) || math.IsInf(w, 0) {
			if g == w {
				continue
			}
			return math.Inf(1)
		}
		diff = math.Max(diff, math.Abs(g-w))
		mx = math.Max(mx, math.Abs(w))
	}
	return diff / math.Max(mx, 1e-30)
}

// suite is one Run: the backend under test and the reference.
type suite struct {
	b   kernels.Backend
	ref *ref.Backend
	tol float64
}

// pair is one argument: the reference's host tensor and the backend's row
// view, with one guard row before and after it, of a larger storage.
type pair struct {
	name  string
	ref   *tensor.Tensor // host, own storage
	dev   *tensor.Tensor // backend view of the rows [1, n+1) of full
	full  *tensor.Tensor // backend tensor with the guard rows
	init  []float32      // full's initial contents, guards included
	out   bool           // compared with the reference; else must be unchanged
	scale float64        // multiplies the tolerance
}

// kcase is one subtest: its random source and the arguments to check.
type kcase struct {
	t     *testing.T
	s     *suite
	rng   *rand.Rand
	pairs []*pair
}

// newCase starts a subtest, seeded from its name without the top-level test
// (so that every backend and every subtest sees the same inputs whatever
// runs before it).
func (s *suite) newCase(t *testing.T) *kcase {
	name := t.Name()
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return &kcase{t: t, s: s, rng: tensor.NewRand(h.Sum64())}
}

// run calls f as a subtest with a fresh case; a panic fails the subtest.
func (s *suite) run(t *testing.T, name string, f func(c *kcase)) {
	t.Run(name, func(t *testing.T) {
		c := s.newCase(t)
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		f(c)
		c.finish()
	})
}

// add registers a host tensor as an argument (copied on both sides).
func (c *kcase) add(name string, v *tensor.Tensor, out bool) *pair {
	sh := v.Shape()
	if len(sh) == 0 {
		panic("conformance: scalar tensors are not used")
	}
	fsh := append([]int{sh[0] + 2}, sh[1:]...)
	full := tensor.Zeros(fsh...)
	fd := full.Data()
	row := tensor.Numel(sh[1:])
	for i := range fd {
		// Guards: garbage of a size no kernel produces here.
		fd[i] = float32(100 + 900*c.rng.Float64())
	}
	copy(fd[row:], v.Contiguous().Data())
	p := &pair{name: name, ref: v.Clone(), init: append([]float32(nil), fd...), out: out, scale: 1}
	p.full = c.s.b.FromHost(full)
	p.dev = p.full.Rows(1, sh[0]+1)
	c.pairs = append(c.pairs, p)
	return p
}

// in returns a random input.
func (c *kcase) in(name string, shape ...int) *pair {
	return c.add(name, RandTensor(c.rng, shape...), false)
}

// inT returns an input with the given values.
func (c *kcase) inT(name string, v *tensor.Tensor) *pair { return c.add(name, v, false) }

// out returns an output filled with garbage.
func (c *kcase) out(name string, shape ...int) *pair {
	v := RandTensor(c.rng, shape...)
	for i := range v.Data() {
		v.Data()[i] *= 7
	}
	return c.add(name, v, true)
}

// outT returns an output (or an argument updated in place) with the given
// initial values.
func (c *kcase) outT(name string, v *tensor.Tensor) *pair { return c.add(name, v, true) }

// outFill returns an output whose every element is v.
func (c *kcase) outFill(name string, v float32, shape ...int) *pair {
	return c.add(name, tensor.Full(v, shape...), true)
}

// tol multiplies the tolerance of p by f and returns p.
func (p *pair) tol(f float64) *pair {
	p.scale = f
	return p
}

// finish syncs the backend and checks every argument: outputs against the
// reference, inputs unchanged, guards untouched.
func (c *kcase) finish() {
	c.t.Helper()
	if err := c.s.b.Sync(); err != nil {
		c.t.Fatalf("Sync: %v", err)
	}
	for _, p := range c.pairs {
		got := c.s.b.ToHost(p.full).Contiguous().Data()
		row := len(p.init) / p.full.Dim(0)
		n := len(got) - 2*row
		for i, v := range got {
			if i >= row && i < row+n {
				continue
			}
			if math.Float32bits(v) != math.Float32bits(p.init[i]) {
				where := fmt.Sprintf("%d before", row-i)
				if i >= row {
					where = fmt.Sprintf("%d after", i-row-n+1)
				}
				c.t.Errorf("%s: guard element %s the view changed from %v to %v", p.name, where, p.init[i], v)
				break
			}
		}
		mid := got[row : row+n]
		if !p.out {
			for i, v := range mid {
				if math.Float32bits(v) != math.Float32bits(p.init[row+i]) {
					c.t.Errorf("%s: input element %d changed from %v to %v", p.name, i, p.init[row+i], v)
					break
				}
			}
			continue
		}
		want := p.ref.Data()
		if e := RelErr(mid, want); !(e <= c.s.tol*p.scale) {
			c.t.Errorf("%s %v: relative error %.3g > %.3g%s", p.name, p.ref.Shape(), e, c.s.tol*p.scale, worst(mid, want))
		}
	}
}

// worst describes the element with the largest difference.
func worst(got, want []float32) string {
	at, d := -1, -1.0
	for i, w := range want {
		e := math.Abs(float64(got[i]) - float64(w))
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		if e > d {
			at, d = i, e
		}
	}
	if at < 0 {
		return ""
	}
	return fmt.Sprintf(" (worst at %d: got %v, want %v)", at, got[at], want[at])
}

// longSum returns the tolerance factor for outputs that are sums of n
// terms: 1 up to 256 terms, growing as sqrt(n)/16 after.
func longSum(n int) float64 {
	return math.Max(1, math.Sqrt(float64(n))/16)
}
