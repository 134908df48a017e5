package auto

import (
	"strings"
	"testing"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

func TestNames(t *testing.T) {
	cudaErr := CUDAStatus()
	for _, tc := range []struct {
		device, want string
	}{
		{"cpu", "cpu"}, {"CPU", "cpu"}, {"ref", "ref"}, {" ref ", "ref"},
	} {
		b, err := New(tc.device)
		if err != nil || b.Name() != tc.want || b.Kind() != tensor.Host {
			t.Errorf("New(%q) = %v, %v; want the %s backend", tc.device, b, err, tc.want)
		}
	}
	for _, dev := range []string{"auto", ""} {
		b, err := New(dev)
		if err != nil {
			t.Fatalf("New(%q): %v", dev, err)
		}
		want := "cpu"
		if cudaErr == nil {
			want = "cuda"
		}
		if b.Name() != want {
			t.Errorf("New(%q) chose %s, want %s (CUDA status: %v)", dev, b.Name(), want, cudaErr)
		}
		closeBackend(t, b)
	}
}

func TestCUDA(t *testing.T) {
	b, err := New("cuda")
	status := CUDAStatus()
	if status != nil {
		// No silent fallback: asking for CUDA without it is an error that
		// says why.
		if err == nil || b != nil || !strings.Contains(err.Error(), "cuda") {
			t.Fatalf("New(cuda) without CUDA = %v, %v", b, err)
		}
		t.Logf("CUDA unavailable: %v", err)
		return
	}
	if err != nil || b.Name() != "cuda" || b.Kind() != tensor.CUDA {
		t.Fatalf("New(cuda) = %v, %v", b, err)
	}
	closeBackend(t, b)
}

func TestUnknown(t *testing.T) {
	for _, dev := range []string{"tpu", "gpu", "cuda:0", "cpus"} {
		if b, err := New(dev); err == nil || !strings.Contains(err.Error(), "unknown device") {
			t.Errorf("New(%q) = %v, %v; want an unknown-device error", dev, b, err)
		}
	}
}

// closeBackend closes a backend and reports its error.
func closeBackend(t *testing.T, b kernels.Backend) {
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
