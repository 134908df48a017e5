package autograd

import (
	"errors"
	"fmt"
	"math"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// GradCheckOptions tunes GradCheck. The zero value gives the defaults.
type GradCheckOptions struct {
	// Step is the finite-difference step relative to each element's
	// magnitude, at least 1e-3 in absolute terms (0: 1e-2).
	Step float64
	// Tol is the relative tolerance (0: 2e-2).
	Tol float64
	// Seed drives the random weights of the scalar loss.
	Seed uint64
}

// GradCheck compares the analytic gradients of f at the given inputs with
// central finite differences of the random-weighted scalar loss
// sum(f(in) * R), R fixed random (standard normal, drawn from o.Seed).
// Every input is copied into a Var on b that requires a gradient; the
// inputs themselves are not modified. f is called once on a recording tape
// (then BackwardWith R) and twice per input element under NoGrad; it must
// compute the same function each time.
//
// An analytic value a and a numeric value n agree when
// |a - n| <= Tol * max(|a|, |n|, scale), where scale is the root mean square
// of the numeric gradient over that input: elements whose gradient is small
// next to the others are compared at the input's typical magnitude, as
// float32 rounding allows. The step h = max(Step*|x|, 1e-3) must not cross a
// kink of f (a ReLU input near 0, a tie in a max-pool window): choose inputs
// away from them.
//
// GradCheck returns an error naming the input, the element and both values
// of the worst disagreement, with how many elements disagree.
func GradCheck(b kernels.Backend, f func(tp *Tape, in []*Var) *Var, inputs []*tensor.Tensor, o GradCheckOptions) error {
	if b == nil || f == nil {
		return errors.New("autograd: GradCheck: nil backend or function")
	}
	if len(inputs) == 0 {
		return errors.New("autograd: GradCheck: no inputs")
	}
	if o.Step <= 0 {
		o.Step = 1e-2
	}
	if o.Tol <= 0 {
		o.Tol = 2e-2
	}
	vars := make([]*Var, len(inputs))
	for i, t := range inputs {
		if t == nil {
			return fmt.Errorf("autograd: GradCheck: input %d is nil", i)
		}
		dev := b.Zeros(t.Shape()...)
		src := t
		if t.Kind() == tensor.Host {
			src = b.FromHost(t.Contiguous())
		}
		b.Copy(src, dev)
		vars[i] = NewVar(dev, true)
	}

	// The analytic gradients.
	tp := NewTape(b)
	out := f(tp, vars)
	if out == nil || out.Value == nil {
		return errors.New("autograd: GradCheck: f returned nil")
	}
	shape := append([]int(nil), out.Shape()...)
	if b.ToHost(out.Value).HasNaN() {
		return fmt.Errorf("autograd: GradCheck: f's output %v holds NaN or Inf", shape)
	}
	r := tensor.RandN(tensor.NewRand(o.Seed), 0, 1, shape...)
	rd := r.Data()
	if out.RequiresGrad {
		tp.BackwardWith(out, b.FromHost(r))
	} else {
		tp.Reset()
	}
	if err := b.Sync(); err != nil {
		return fmt.Errorf("autograd: GradCheck: backward: %w", err)
	}

	// loss evaluates sum(f(in) * R) in float64 without recording.
	loss := func() (float64, error) {
		t := NewTape(b)
		var y *Var
		t.NoGrad(func() { y = f(t, vars) })
		if y == nil || !tensor.EqualShape(y.Shape(), shape) {
			return 0, fmt.Errorf("autograd: GradCheck: f's output changed shape from %v", shape)
		}
		h := b.ToHost(y.Value).Contiguous().Data()
		var s float64
		for i, v := range h {
			s += float64(v) * float64(rd[i])
		}
		return s, nil
	}

	type failure struct {
		input, elem  int
		shape        []int
		ana, num, sc float64
		ratio        float64
	}
	var worst *failure
	bad, total := 0, 0
	for i, v := range vars {
		n := v.Value.Numel()
		ana := make([]float64, n)
		if v.HasGrad() {
			for j, g := range b.ToHost(v.Grad).Contiguous().Data() {
				ana[j] = float64(g)
			}
		}
		host := b.ToHost(v.Value).Clone().Data()
		flat := v.Value.Reshape(n)
		set := func(j int, x float32) {
			b.Copy(b.FromHost(tensor.FromSlice([]float32{x}, 1)), flat.Reshape(n, 1).Rows(j, j+1))
		}
		num := make([]float64, n)
		for j, x0 := range host {
			h := math.Max(o.Step*math.Abs(float64(x0)), 1e-3)
			xp, xm := float32(float64(x0)+h), float32(float64(x0)-h)
			set(j, xp)
			lp, err := loss()
			if err != nil {
				return err
			}
			set(j, xm)
			lm, err := loss()
			if err != nil {
				return err
			}
			set(j, x0)
			num[j] = (lp - lm) / (float64(xp) - float64(xm))
		}
		var ss float64
		for _, g := range num {
			ss += g * g
		}
		scale := 0.0
		if n > 0 {
			scale = math.Sqrt(ss / float64(n))
		}
		for j := range num {
			a, nu := ana[j], num[j]
			lim := o.Tol * math.Max(math.Max(math.Abs(a), math.Abs(nu)), scale)
			diff := math.Abs(a - nu)
			total++
			if diff <= lim && !math.IsNaN(diff) {
				continue
			}
			bad++
			ratio := math.Inf(1)
			if lim > 0 {
				ratio = diff / lim
			}
			if worst == nil || ratio > worst.ratio || math.IsNaN(diff) {
				worst = &failure{i, j, v.Shape(), a, nu, scale, ratio}
			}
		}
	}
	if worst == nil {
		return nil
	}
	return fmt.Errorf("autograd: GradCheck: input %d %v element %v: analytic %.6g, numeric %.6g (scale %.3g, tolerance %g); %d of %d elements disagree",
		worst.input, worst.shape, unravel(worst.elem, worst.shape), worst.ana, worst.num, worst.sc, o.Tol, bad, total)
}

// unravel returns the multi-index of flat index j in a row-major shape.
func unravel(j int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = j % shape[d]
			j /= shape[d]
		}
	}
	return idx
}
