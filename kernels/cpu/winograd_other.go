//go:build !amd64 || purego

package cpu

func winoInAVX512(v *float32, vs int, s *[8]*float32, n int) { panic("cpu: no assembly") }

func winoOutAVX512(yev, yod, m *float32, ms, n int) { panic("cpu: no assembly") }

func winoFillAVX512(x *float32, h, w int, ev, od, ev2, od2 *float32, l, rows, r0 int, m1, m2 uint16) {
	panic("cpu: no assembly")
}

func winoCopyOutAVX512(y, yev, yod *float32, p, q, l int, mq uint16) { panic("cpu: no assembly") }

func winoDyAVX512(dm *float32, ms int, yev, yod *float32, n int) { panic("cpu: no assembly") }

func winoFillDyAVX512(dy, yev, yod *float32, p, q, l int, mq uint16) { panic("cpu: no assembly") }
