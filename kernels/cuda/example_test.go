package cuda_test

import (
	"fmt"

	"hallucinator/kernels/cuda"
	"hallucinator/tensor"
)

// New fails with a clear error where there is no GPU or no kernel library;
// the program can then fall back to the CPU itself (kernels/auto does).
func Example() {
	b, err := cuda.New(cuda.Options{})
	if err != nil {
		fmt.Println("no CUDA:", err)
		return
	}
	defer b.Close()
	fmt.Println(b.Info())
	x := b.FromHost(tensor.FromSlice([]float32{1, -2, 3, -4}, 2, 2))
	b.Relu(x, x)
	if err := b.Sync(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.ToHost(x).Data()) // [1 0 3 0]
}

// Time measures device time with events; Release hands memory back to the
// allocator's cache at once.
func ExampleBackend_Time() {
	b, err := cuda.New(cuda.Options{})
	if err != nil {
		return
	}
	defer b.Close()
	a, c := b.Zeros(2048, 2048), b.Zeros(2048, 2048)
	defer b.Release(a)
	defer b.Release(c)
	ms, err := b.Time(func() { b.Gemm(false, false, 1, a, a, 0, c) })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.0f GFLOP/s\n", 2*2048*2048*2048/ms/1e6)
}
