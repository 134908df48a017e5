//go:build !amd64 || purego

package blas

// kernels returns the micro-kernels this machine can run, best first.
func kernels() []*microKernel { return []*microKernel{genericKernel} }
