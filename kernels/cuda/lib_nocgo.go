//go:build !cgo

package cuda

import "errors"

// cgoAvailable says whether this build can load the kernel library.
const cgoAvailable = false

// openLibrary fails: without cgo there is no dlopen.
func openLibrary(path string) (hal, error) {
	return nil, errors.New("built with CGO_ENABLED=0: the CUDA backend needs cgo (and a C compiler) to dlopen " +
		"libhalcuda.so; rebuild with CGO_ENABLED=1")
}

// cLayout has no C layout to report without cgo.
func cLayout() []uintptr { return nil }
