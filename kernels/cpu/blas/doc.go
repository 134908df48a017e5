// Package blas is the single-precision matrix multiply of the CPU backend and
// the worker pool that runs it. Sgemm packs op(A) into row panels and op(B)
// into column panels, blocks them for the L1 and L2 caches, and runs a
// register-blocked micro-kernel (AVX-512 or AVX2+FMA assembly chosen at run
// time, or a pure-Go fallback) on every worker of a Pool.
package blas
