package profile_test

import (
	"fmt"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/profile"
	"hallucinator/tensor"
)

// Time the calls of some work on the CPU backend and list them by pass.
func Example() {
	be := profile.Wrap(cpu.New(cpu.Options{}), profile.Options{})
	defer be.Close()
	x, w := tensor.Ones(8, 16, 12, 12), tensor.Ones(32, 16, 3, 3)
	y := be.Zeros(8, 32, 12, 12)
	be.Reset()
	be.Conv2d(kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, x, w, y)
	be.Relu(y, y)
	for _, e := range be.Report().ByPass() {
		fmt.Printf("%s: %d call(s), %.0f MFLOP\n", e.Pass, e.Calls, e.Flops/1e6)
	}
	// Output:
	// conv forward: 1 call(s), 11 MFLOP
	// elementwise: 1 call(s), 0 MFLOP
}
