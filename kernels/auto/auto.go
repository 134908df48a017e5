// Package auto chooses the kernels.Backend at run time: the CUDA backend
// when its kernel library loads and a GPU answers, the CPU backend
// otherwise. It is a leaf package, so that kernels does not import its own
// implementations; commands pass their -device flag to New.
package auto

import (
	"fmt"
	"strings"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/kernels/cuda"
)

// Devices returns the names New accepts.
func Devices() []string { return []string{"auto", "cpu", "cuda", "ref"} }

// New returns the backend for a device name:
//   - "auto" (or ""): CUDA when the library loads and a GPU answers, else the
//     CPU backend;
//   - "cpu": the SIMD CPU backend;
//   - "cuda": the CUDA backend, or an error saying why it is unavailable
//     (never a silent fallback to the CPU);
//   - "ref": the plain-Go reference (slow; for checking).
//
// Other names are errors.
func New(device string) (kernels.Backend, error) {
	switch strings.ToLower(strings.TrimSpace(device)) {
	case "", "auto":
		if b, err := cuda.New(cuda.Options{}); err == nil {
			return b, nil
		}
		return cpu.New(cpu.Options{}), nil
	case "cpu":
		return cpu.New(cpu.Options{}), nil
	case "cuda":
		b, err := cuda.New(cuda.Options{})
		if err != nil {
			return nil, fmt.Errorf("auto: device cuda unavailable: %w", err)
		}
		return b, nil
	case "ref":
		return ref.New(), nil
	}
	return nil, fmt.Errorf("auto: unknown device %q (want one of %s)", device, strings.Join(Devices(), ", "))
}

// CUDAStatus says whether "auto" would pick CUDA: nil when the library
// loads and a GPU answers, else the reason. It opens and closes a CUDA
// backend to find out.
func CUDAStatus() error {
	b, err := cuda.New(cuda.Options{})
	if err != nil {
		return err
	}
	return b.Close()
}
