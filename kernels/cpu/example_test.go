package cpu_test

import (
	"fmt"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/tensor"
)

// A 3x3 convolution with padding 1 of one 4x4 image of ones by a filter of
// ones: each output counts the input cells its window covers.
func ExampleBackend_Conv2d() {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	x := tensor.Ones(1, 1, 4, 4)
	w := tensor.Ones(1, 1, 3, 3)
	y := b.Zeros(1, 1, 4, 4)
	b.Conv2d(kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, x, w, y)
	fmt.Println(y)
	// Output:
	// Tensor[1 1 4 4](cpu) [[[[4 6 6 4] [6 9 9 6] [6 9 9 6] [4 6 6 4]]]]
}

// Gemm multiplies matrices: here a 2x3 matrix by the transpose of a 2x3
// matrix.
func ExampleBackend_Gemm() {
	b := cpu.New(cpu.Options{Threads: 2})
	defer b.Close()
	a := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	c := b.Zeros(2, 2)
	b.Gemm(false, true, 1, a, a, 0, c)
	fmt.Println(c)
	// Output:
	// Tensor[2 2](cpu) [[14 32] [32 77]]
}

// One training-mode batch normalisation with the ReLU fused: each channel
// is normalised over the batch, then negative values are cut.
func ExampleBackend_BatchNormTrain() {
	b := cpu.New(cpu.Options{})
	defer b.Close()
	x := tensor.FromSlice([]float32{1, 10, 3, 20}, 2, 2) // [N=2, C=2]
	gamma, beta := tensor.Ones(2), tensor.Zeros(2)
	mean, invstd := b.Zeros(2), b.Zeros(2)
	runMean, runVar := b.Zeros(2), tensor.Ones(2)
	y := b.Zeros(2, 2)
	p := kernels.BNParams{Eps: 0, Momentum: 0.1, ReLU: true}
	b.BatchNormTrain(p, x, gamma, beta, y, mean, invstd, runMean, runVar)
	fmt.Println(y, mean)
	// Output:
	// Tensor[2 2](cpu) [[0 0] [1 1]] Tensor[2](cpu) [2 15]
}
