//go:build !cgo

package dist

import "errors"

// Without cgo there is no dlopen: NewMPI fails in loadMPI before any of
// these is called.
const mpiCgo = false

var errNoCgo = errors.New("dist: built with CGO_ENABLED=0")

func mpiDlopen(string) error                                         { return errNoCgo }
func mpiLoaded() bool                                                { return false }
func mpiShimABI() int                                                { return 0 }
func mpiInit() (int, int, string, error)                             { return 0, 0, "", errNoCgo }
func mpiFinalize() int                                               { return 0 }
func mpiErrorString(code int) string                                 { return "MPI unavailable without cgo" }
func mpiAbort(int)                                                   {}
func mpiCancel(int64)                                                {}
func addr(d []float32) uintptr                                       { return 0 }
func mpiAllReduce([]float32, int, float64, int64) int                { return mpiNotInit }
func mpiBroadcast([]float32, int, float64, int64) int                { return mpiNotInit }
func mpiAllGather(_, _ []float32, _ float64, _ int64) int            { return mpiNotInit }
func mpiReduceScatter(_, _ []float32, _ int, _ float64, _ int64) int { return mpiNotInit }
func mpiBarrier(float64, int64) int                                  { return mpiNotInit }
func mpiBenchAllReduce([]float32, int) (float64, int)                { return 0, mpiNotInit }
func mpiAgree(desc [4]int64, all []int64, timeout float64, gen int64) int {
	return mpiNotInit
}
