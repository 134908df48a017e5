package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LibraryEnv names the environment variable that, when set, is the path of
// the kernel library to load.
const LibraryEnv = "HALLUCINATOR_CUDA_LIB"

// libName is the file name of the kernel library that `make kernels` builds.
const libName = "libhalcuda.so"

// libraryCandidates lists where the kernel library is looked for, in order:
// $HALLUCINATOR_CUDA_LIB; build/libhalcuda.so in the module root found by
// walking up from the working directory to the directory holding go.mod;
// libhalcuda.so next to the executable; plain "libhalcuda.so" (the dynamic
// loader's search path).
func libraryCandidates() []string {
	var c []string
	if p := os.Getenv(LibraryEnv); p != "" {
		// An explicit choice is the only candidate: falling back to another
		// library would hide a mistake.
		return []string{p}
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				c = append(c, filepath.Join(dir, "build", libName))
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if exe, err := os.Executable(); err == nil {
		c = append(c, filepath.Join(filepath.Dir(exe), libName))
	}
	return append(c, libName)
}

// loadLibrary opens the first candidate that loads. Candidates given as
// paths that do not exist are skipped quietly; the error lists what was
// tried and how to build the library.
func loadLibrary() (hal, string, error) {
	if !cgoAvailable {
		_, err := openLibrary("")
		return nil, "", fmt.Errorf("cuda: %w", err)
	}
	var tried []string
	for _, path := range libraryCandidates() {
		if strings.ContainsRune(path, filepath.Separator) {
			if _, err := os.Stat(path); err != nil {
				tried = append(tried, path+": not found")
				continue
			}
		}
		l, err := openLibrary(path)
		if err == nil {
			return l, path, nil
		}
		tried = append(tried, path+": "+err.Error())
	}
	return nil, "", &LibraryError{Tried: tried}
}

// LibraryError says that the kernel library could not be loaded.
type LibraryError struct {
	// Tried lists each candidate path with why it failed.
	Tried []string
}

func (e *LibraryError) Error() string {
	return "cuda: cannot load the kernel library " + libName + " (build it with `make kernels`, or set " +
		LibraryEnv + " to its path); tried:\n\t" + strings.Join(e.Tried, "\n\t")
}

// ErrNoDevice is wrapped by the error New returns when the library loads but
// no CUDA device answers.
var ErrNoDevice = errors.New("cuda: no CUDA device")
