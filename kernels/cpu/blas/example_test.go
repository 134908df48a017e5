package blas_test

import (
	"fmt"

	"hallucinator/kernels/cpu/blas"
)

func ExamplePool_Sgemm() {
	p := blas.NewPool(0)
	defer p.Close()
	// C (2x2) = A (2x3) * B (3x2).
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		7, 8,
		9, 10,
		11, 12,
	}
	c := make([]float32, 4)
	p.Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)
	// C = A * A^T, using A in place as the transposed operand.
	p.Sgemm(false, true, 2, 2, 3, 1, a, 3, a, 3, 0, c, 2)
	fmt.Println(c)
	// Output:
	// [58 64 139 154]
	// [14 32 32 77]
}

func ExamplePool_Parallel() {
	p := blas.NewPool(2)
	defer p.Close()
	x := make([]float32, 10)
	p.Parallel(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i] = float32(i * i)
		}
	})
	fmt.Println(x)
	// Output:
	// [0 1 4 9 16 25 36 49 64 81]
}
