package conformance_test

import (
	"fmt"

	"hallucinator/kernels/conformance"
	"hallucinator/tensor"
)

func ExampleRelErr() {
	want := []float32{1, -4, 2}
	got := []float32{1, -4.002, 2.001}
	fmt.Printf("%.1e\n", conformance.RelErr(got, want)) // 0.002 / 4
	// Output: 5.0e-04
}

func ExampleRandTensor() {
	x := conformance.RandTensor(tensor.NewRand(1), 3, 5)
	small := 0
	for _, v := range x.Data() {
		if v > -0.05 && v < 0.05 {
			small++
		}
	}
	fmt.Println(x.Shape(), small)
	// Output: [3 5] 0
}
