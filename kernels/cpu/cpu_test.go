package cpu

import (
	"testing"

	"hallucinator/kernels/conformance"
)

// TestConformance runs the shared suite: every method against the
// reference, within 1e-5 of the largest reference output.
func TestConformance(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	conformance.Run(t, b, conformance.Options{Tol: 1e-5})
}

// TestConformanceOneThread runs the suite with a single worker: the serial
// paths (no nested parallelism, one partial sum) must agree too.
func TestConformanceOneThread(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	b := New(Options{Threads: 1})
	defer b.Close()
	conformance.Run(t, b, conformance.Options{Tol: 1e-5})
}
