package cuda

import "hallucinator/kernels"

// Caps describes the GPU: an accelerator with its memory, deterministic (no
// kernel accumulates with atomics; every reduction has a fixed order on a
// given device), TF32 unless Options.FP32 turned it off.
func (b *Backend) Caps() kernels.Caps {
	return kernels.Caps{Accelerator: true, Memory: b.info.TotalMemory, Deterministic: true, TF32: b.tf32}
}
