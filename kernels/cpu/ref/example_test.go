package ref_test

import (
	"fmt"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

func ExampleBackend_Gemm() {
	b := ref.New()
	a := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	x := tensor.FromSlice([]float32{1, 0, 0, 1, 1, 1}, 3, 2)
	c := b.Zeros(2, 2)
	b.Gemm(false, false, 1, a, x, 0, c) // C = A X
	fmt.Println(c.Data())
	// Output: [4 5 10 11]
}

func ExampleBackend_Conv2d() {
	b := ref.New()
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3)
	w := tensor.FromSlice([]float32{1, 0, 0, -1}, 1, 1, 2, 2)
	p := kernels.ConvParams{StrideH: 1, StrideW: 1}
	oh, ow := p.OutSize(3, 3, 2, 2)
	y := b.Zeros(1, 1, oh, ow)
	b.Conv2d(p, x, w, y)
	fmt.Println(y.Data())
	// Output: [-4 -4 -4 -4]
}

func ExampleBackend_SoftmaxCrossEntropy() {
	b := ref.New()
	logits := tensor.FromSlice([]float32{0, 0, 0, 0}, 1, 4)
	loss, dlogits := b.Zeros(1), b.Zeros(1, 4)
	b.SoftmaxCrossEntropy(logits, []int32{2}, loss, dlogits)
	fmt.Printf("%.4f %v\n", loss.Data()[0], dlogits.Data())
	// Output: 1.3863 [0.25 0.25 -0.75 0.25]
}
