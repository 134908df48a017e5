package autograd_test

import (
	"fmt"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// A linear layer, a ReLU and a mean: the forward records the ops on the
// tape, Backward fills the parameters' gradients.
func Example() {
	tp := autograd.NewTape(ref.New())
	x := autograd.NewVar(tensor.FromSlice([]float32{1, 2, -1, 0.5}, 2, 2), false)
	w := autograd.NewVar(tensor.FromSlice([]float32{0.5, -1, 2, 1}, 2, 2), true)
	b := autograd.NewVar(tensor.FromSlice([]float32{0.25, -0.5}, 2), true)

	y := tp.Relu(tp.Linear(x, w, b)) // [2, 2]
	loss := tp.Mean(y)               // [1]
	tp.Backward(loss)

	fmt.Println("y    ", y.Value)
	fmt.Println("loss ", loss.Value)
	fmt.Println("dL/dw", w.Grad)
	fmt.Println("dL/db", b.Grad)
	// Output:
	// y     Tensor[2 2](cpu) [[0 3.5] [0 0]]
	// loss  Tensor[1](cpu) [0.875]
	// dL/dw Tensor[2 2](cpu) [[0 0] [0.25 0.5]]
	// dL/db Tensor[2](cpu) [0 0.25]
}

// GradCheck compares an op's backward with finite differences.
func ExampleGradCheck() {
	x := tensor.RandN(tensor.NewRand(1), 0, 1, 3, 4)
	w := tensor.RandN(tensor.NewRand(2), 0, 1, 5, 4)
	err := autograd.GradCheck(ref.New(), func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
		return tp.L2Normalize(tp.Linear(in[0], in[1], nil), 1e-12)
	}, []*tensor.Tensor{x, w}, autograd.GradCheckOptions{})
	fmt.Println("gradients agree:", err == nil)
	// Output:
	// gradients agree: true
}

// Stop-gradient: SimSiam's target branch is detached.
func ExampleTape_Detach() {
	tp := autograd.NewTape(ref.New())
	p := autograd.NewVar(tensor.FromSlice([]float32{1, 2}, 1, 2), true)
	z := autograd.NewVar(tensor.FromSlice([]float32{3, 4}, 1, 2), true)
	loss := tp.Sum(tp.Mul(p, tp.Detach(z)))
	tp.Backward(loss)
	fmt.Println(p.Grad, z.HasGrad())
	// Output:
	// Tensor[1 2](cpu) [[3 4]] false
}

// A tape reused across training steps keeps the buffers of intermediate
// gradients and hands them out again in the next Backward instead of
// allocating; FreeBuffers lets their memory go when the training ends.
func ExampleTape_FreeBuffers() {
	tp := autograd.NewTape(ref.New())
	x := autograd.NewVar(tensor.FromSlice([]float32{1, -2, 3}, 3), true)
	for step := range 2 {
		autograd.ZeroGrad([]*autograd.Var{x})
		tp.Backward(tp.Sum(tp.Relu(tp.Scale(2, x))))
		fmt.Println(step, x.Grad)
	}
	tp.FreeBuffers()
	// Output:
	// 0 Tensor[3](cpu) [2 0 2]
	// 1 Tensor[3](cpu) [2 0 2]
}

// With recycling, a training loop calls Recycle at the start of each step:
// the outputs of the previous step's ops go back to the tape and serve this
// step, so that once warm a step takes no new memory for them. A value is
// read before the next Recycle.
func ExampleTape_SetRecycling() {
	tp := autograd.NewTape(ref.New())
	tp.SetRecycling(true)
	w := autograd.NewVar(tensor.FromSlice([]float32{1, -2, 3}, 3), true)
	for step := range 3 {
		tp.Recycle() // last step's values are dead from here on
		autograd.ZeroGrad([]*autograd.Var{w})
		y := tp.Relu(w)
		tp.Backward(tp.Sum(y))
		fmt.Println(step, y.Value, w.Grad)
		w.Value.Data()[1] += 1.5 // a step of some optimiser
	}
	// Output:
	// 0 Tensor[3](cpu) [1 0 3] Tensor[3](cpu) [1 0 1]
	// 1 Tensor[3](cpu) [1 0 3] Tensor[3](cpu) [1 0 1]
	// 2 Tensor[3](cpu) [1 1 3] Tensor[3](cpu) [1 1 1]
}
