package cuda

// The Go side of the kernel library's C ABI (src/hal.h) is generated: the
// hal interface, the mirrors of the argument structs and the constants in
// hal_gen.go; the cgo function table, loader and trampolines in
// hal_cgo_gen.go; the ABI hash of the library in src/hal_abi.h. Run this
// after editing src/hal.h (a test fails while they are out of date):
//
//go:generate go run ./internal/cmd/halgen

import (
	"bytes"
	"fmt"
)

// dptr is a device address. Device memory is never Go memory, so it is held
// as an integer.
type dptr = uintptr

// Error codes of the CUDA runtime that the Go side tests for.
const (
	codeSuccess      = 0
	codeInvalidValue = 1
	codeOutOfMemory  = 2
)

// name returns the device name of hal_device_props (a NUL-terminated C
// string).
func (p *deviceProps) name() string {
	n := p.Name[:]
	if i := bytes.IndexByte(n, 0); i >= 0 {
		n = n[:i]
	}
	return string(n)
}

// errorText returns the runtime's name and description of an error code,
// with a fallback for codes the library does not know.
func errorText(h hal, code int) (name, msg string) {
	name, msg = h.errorName(code), h.errorString(code)
	if name == "" {
		name = fmt.Sprintf("error %d", code)
	}
	if msg == "" {
		msg = fmt.Sprintf("error %d", code)
	}
	return name, msg
}

// b2i is a flag of an argument struct.
func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
