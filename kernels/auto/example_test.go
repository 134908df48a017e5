package auto_test

import (
	"fmt"
	"log"

	"hallucinator/kernels/auto"
	"hallucinator/tensor"
)

// A program picks its backend once, from a flag, and moves data to it.
func Example() {
	b, err := auto.New("cpu") // "auto" picks CUDA when a GPU answers
	if err != nil {
		log.Fatal(err)
	}
	x := b.FromHost(tensor.FromSlice([]float32{1, -2, 3, -4}, 2, 2))
	y := b.Zeros(2, 2)
	b.Relu(x, y)
	if err := b.Sync(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Name(), b.ToHost(y).Data())
	// Output: cpu [1 0 3 0]
}
