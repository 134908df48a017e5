//go:build !cgo

package bench

import "errors"

// openBLAS stands in for the cgo binding in a build without cgo.
type openBLAS struct{}

func loadOpenBLAS(threads int) (*openBLAS, error) {
	return nil, errors.New("built without cgo: OpenBLAS cannot be loaded")
}

// Sgemm is never reached: loadOpenBLAS always fails without cgo.
func (o *openBLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("bench: OpenBLAS is not available without cgo")
}
