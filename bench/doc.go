// Package bench holds the project's benchmarks: kernels and whole training
// steps per backend, with reference libraries (OpenBLAS, gonum) beside ours.
// Run them with `go test -run '^$' -bench . ./bench`; each reports its
// throughput as a custom metric (GFLOP/s, images/s).
package bench
