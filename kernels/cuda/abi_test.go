package cuda

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"hallucinator/kernels/cuda/internal/halgen"
)

// TestGeneratedUpToDate regenerates the bindings from src/hal.h in memory
// and compares them with the files in the tree: editing hal.h without
// running go generate fails here.
func TestGeneratedUpToDate(t *testing.T) {
	src, err := os.ReadFile(halgen.Source)
	if errors.Is(err, fs.ErrNotExist) {
		// A test binary run away from the source tree (on a GPU
		// machine, say) has nothing to compare.
		t.Skipf("%s not found: run from kernels/cuda of a checkout", halgen.Source)
	}
	if err != nil {
		t.Fatal(err)
	}
	files, err := halgen.Generate(src)
	if err != nil {
		t.Fatalf("halgen: %v", err)
	}
	for _, name := range halgen.Files() {
		have, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%v; run go generate ./kernels/cuda", err)
			continue
		}
		if !bytes.Equal(have, files[name]) {
			t.Errorf("kernels/cuda/%s is out of date with %s; run go generate ./kernels/cuda", name, halgen.Source)
		}
	}
}

// TestABILayout compares the Go mirrors of the structs of hal.h with the C
// compiler's layout, and checks that a difference is reported by name.
func TestABILayout(t *testing.T) {
	if !cgoAvailable {
		t.Skip("no cgo: no C layout to compare with")
	}
	c := cLayout()
	if err := checkLayout(c); err != nil {
		t.Fatal(err)
	}
	bad := append([]uintptr(nil), c...)
	for i, it := range halLayout {
		if it.what == "offsetof(hal_mt_tensor, chunk_start)" {
			bad[i]++
		}
	}
	err := checkLayout(bad)
	if err == nil || !strings.Contains(err.Error(), "offsetof(hal_mt_tensor, chunk_start) is 41 in C, 40 in Go") {
		t.Fatalf("checkLayout of a drifted table: %v", err)
	}
}

// cCompiler returns the C compiler cgo uses, or skips the test.
func cCompiler(t *testing.T) string {
	t.Helper()
	if !cgoAvailable {
		t.Skip("no cgo")
	}
	for _, cc := range []string{os.Getenv("CC"), "gcc", "cc"} {
		if cc == "" {
			continue
		}
		if p, err := exec.LookPath(cc); err == nil {
			return p
		}
	}
	t.Skip("no C compiler (gcc or cc) to build a stale library with")
	return ""
}

// fakeLibrary compiles a shared library that exports the given C
// definitions and returns its path.
func fakeLibrary(t *testing.T, cc, name, src string) string {
	t.Helper()
	dir := t.TempDir()
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, name+".so")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, c).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	return lib
}

// TestStaleLibrary loads libraries built from another hal.h (tiny C
// libraries that export only the version entry points) and checks that the
// loader refuses them before resolving anything else, naming the library,
// both versions and hashes, and how to rebuild.
func TestStaleLibrary(t *testing.T) {
	cc := cCompiler(t)
	version := func(v int) string { return fmt.Sprintf("int hal_abi_version(void) { return %d; }\n", v) }
	hash := func(h uint64) string {
		return fmt.Sprintf("unsigned long long hal_abi_hash(void) { return 0x%xULL; }\n", h)
	}
	want := fmt.Sprintf("this package wants ABI version %d, hash %016x", halABIVersion, halABIHash)
	rebuild := "rebuild it with scripts/build-kernels.sh"
	for _, tc := range []struct {
		name, src string
		wants     []string
	}{
		{"pre-hash", version(1),
			[]string{"is stale", "library ABI version 1 without hal_abi_hash", want, rebuild}},
		{"other-hash", version(halABIVersion) + hash(0x1234),
			[]string{"is stale", fmt.Sprintf("library ABI version %d, hash 0000000000001234", halABIVersion), want, rebuild}},
		{"other-version", version(halABIVersion+1) + hash(halABIHash),
			[]string{"is stale", fmt.Sprintf("library ABI version %d, hash %016x", halABIVersion+1, halABIHash), want,
				rebuild}},
		{"no-version", "int hal_gemm(void) { return 0; }\n",
			[]string{"lacks hal_abi_version", want, rebuild}},
		// The right version and hash: the loader goes on and finds the
		// first entry point missing.
		{"current", version(halABIVersion) + hash(halABIHash),
			[]string{"lacks the symbol hal_gemm", rebuild}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib := fakeLibrary(t, cc, tc.name, tc.src)
			_, err := openLibrary(lib)
			if err == nil {
				t.Fatal("openLibrary succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range append(tc.wants, lib) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\nlacks %q", msg, w)
				}
			}
			if tc.name != "current" && strings.Contains(msg, "hal_gemm") {
				t.Errorf("error %q: the ABI check must come before the other symbols", msg)
			}
		})
	}

	// Through New: the error of the explicit library says the same.
	lib := fakeLibrary(t, cc, "new", version(halABIVersion)+hash(halABIHash^1))
	t.Setenv(LibraryEnv, lib)
	_, err := New(Options{})
	var le *LibraryError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), lib+": "+lib+" is stale") {
		t.Fatalf("New with a stale library: %v", err)
	}
}
