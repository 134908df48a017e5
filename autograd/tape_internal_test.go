package autograd

import (
	"testing"

	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// TestTapeNodes checks what the tape holds: nothing under NoGrad or for ops
// on Vars that need no gradient, one node per recorded op, and nothing
// after Backward.
func TestTapeNodes(t *testing.T) {
	tp := NewTape(ref.New())
	x := NewVar(tensor.RandN(tensor.NewRand(1), 0, 1, 3, 4), true)
	c := NewVar(tensor.RandN(tensor.NewRand(2), 0, 1, 3, 4), false)
	tp.NoGrad(func() { tp.Sum(tp.Relu(tp.Mul(x, c))) })
	if len(tp.nodes) != 0 {
		t.Fatalf("%d nodes recorded under NoGrad", len(tp.nodes))
	}
	tp.Sum(tp.Mul(c, c))
	tp.Detach(x)
	if len(tp.nodes) != 0 {
		t.Fatalf("%d nodes recorded for constants", len(tp.nodes))
	}
	loss := tp.Sum(tp.Relu(tp.Mul(x, c)))
	if len(tp.nodes) != 3 {
		t.Fatalf("%d nodes recorded, want 3", len(tp.nodes))
	}
	tp.Backward(loss)
	if len(tp.nodes) != 0 {
		t.Fatalf("%d nodes left after Backward", len(tp.nodes))
	}
}
