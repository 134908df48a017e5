//go:build amd64 && !purego

package cpu

// winoInAVX512 is winoInGeneric for n > 0 tiles, 16 at a time, the streams
// readable 64 values past tile n (AVX-512 F).
//
//go:noescape
func winoInAVX512(v *float32, vs int, s *[8]*float32, n int)

// winoOutAVX512 is winoOutGeneric for n > 0 tiles, 16 at a time; it writes
// yev and yod up to the next multiple of 32 values past 2n (AVX-512 F).
//
//go:noescape
func winoOutAVX512(yev, yod, m *float32, ms, n int)

// winoFillAVX512 is fillStreams for planes of w <= 16 columns: rows stream
// rows from padded row 2*r0; m1 has min(w, l-1) lanes set and m2 w-1
// (AVX-512 F).
//
//go:noescape
func winoFillAVX512(x *float32, h, w int, ev, od, ev2, od2 *float32, l, rows, r0 int, m1, m2 uint16)

// winoCopyOutAVX512 copies the p rows of the output streams (rows of l)
// into y [p, q], q <= 16; mq has q lanes set (AVX-512 F).
//
//go:noescape
func winoCopyOutAVX512(y, yev, yod *float32, p, q, l int, mq uint16)

// winoDyAVX512 is winoDyGeneric for n > 0 tiles, 16 at a time (AVX-512 F).
//
//go:noescape
func winoDyAVX512(dm *float32, ms int, yev, yod *float32, n int)

// winoFillDyAVX512 is fillDy for q <= 16; mq has q lanes set (AVX-512 F).
//
//go:noescape
func winoFillDyAVX512(dy, yev, yod *float32, p, q, l int, mq uint16)
