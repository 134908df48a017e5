//go:build cgo

package cuda

import "fmt"

// cgoAvailable says whether this build can load the kernel library.
const cgoAvailable = true

// openLibrary dlopens path, checks its ABI version and hash before
// resolving anything else, checks the layout of the argument structs, and
// looks up every entry point of src/hal.h. The handle and the function table
// stay for the life of the process: the CUDA runtime linked into the library
// registers exit handlers, other backends of the process share the handle,
// and the allocator still frees the blocks of tensors that outlive their
// backend through the table.
func openLibrary(path string) (hal, error) {
	h, err := dlopenLib(path)
	if err != nil {
		return nil, err
	}
	version, hash, missing := readABI(h)
	if missing != "" || version != halABIVersion || hash != halABIHash {
		dlcloseLib(h)
		return nil, staleError(path, version, hash, missing)
	}
	if err := checkLayout(cLayout()); err != nil {
		dlcloseLib(h)
		return nil, err
	}
	lib, missing, err := loadLib(h)
	if err != nil {
		dlcloseLib(h)
		return nil, err
	}
	if missing != "" {
		dlcloseLib(h)
		return nil, fmt.Errorf("%s has the ABI hash of src/hal.h but lacks the symbol %s (a .cu file that does not "+
			"define a declared entry point?); rebuild it with scripts/build-kernels.sh", path, missing)
	}
	return lib, nil
}
