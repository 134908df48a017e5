package cuda

import (
	"fmt"
	"strings"
)

// staleError says that the library at path was built from another
// src/hal.h than this package's bindings: its ABI version and hash (or the
// version symbol it lacks) against the ones wanted.
func staleError(path string, version int, hash uint64, missing string) error {
	want := fmt.Sprintf("version %d, hash %016x", halABIVersion, halABIHash)
	var got string
	switch missing {
	case "":
		got = fmt.Sprintf("version %d, hash %016x", version, hash)
	case "hal_abi_version":
		return fmt.Errorf("%s lacks hal_abi_version: not a kernel library of this engine, or one older than "+
			"ABI version 1; this package wants ABI %s; rebuild it with scripts/build-kernels.sh (scripts/"+
			"build-kernels.sh emu for the CPU emulator's library)", path, want)
	default:
		got = fmt.Sprintf("version %d without %s", version, missing)
	}
	return fmt.Errorf("%s is stale: it was built from another kernels/cuda/src/hal.h (library ABI %s; this "+
		"package wants ABI %s); rebuild it with scripts/build-kernels.sh (scripts/build-kernels.sh emu for the "+
		"CPU emulator's library)", path, got, want)
}

// checkLayout compares the sizes and offsets of the Go mirrors of the
// structs of src/hal.h (halLayout) with the C compiler's, in the same order.
func checkLayout(c []uintptr) error {
	if len(c) != len(halLayout) {
		return fmt.Errorf("cuda: %d layout values from C, %d from Go; regenerate with go generate ./kernels/cuda",
			len(c), len(halLayout))
	}
	var bad []string
	for i, it := range halLayout {
		if it.goValue != c[i] {
			bad = append(bad, fmt.Sprintf("%s is %d in C, %d in Go", it.what, c[i], it.goValue))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("cuda: the Go mirrors of the structs of src/hal.h do not match C's layout (a halgen "+
			"type mapping is wrong for this platform): %s", strings.Join(bad, "; "))
	}
	return nil
}
