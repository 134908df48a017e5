// Command halgen writes the Go bindings of the CUDA kernel library and its
// ABI hash from src/hal.h (see package halgen). It runs in kernels/cuda from
// `go generate ./kernels/cuda`:
//
//	halgen          writes hal_gen.go, hal_cgo_gen.go and src/hal_abi.h
//	halgen -check   writes nothing; exits 1, naming them, when any is out of date
//
// -dir sets the kernels/cuda directory (default: the working directory).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"hallucinator/kernels/cuda/internal/halgen"
)

func main() {
	dir := flag.String("dir", ".", "the kernels/cuda directory")
	check := flag.Bool("check", false, "only report generated files that are out of date with src/hal.h")
	flag.Parse()
	if err := run(*dir, *check); err != nil {
		fmt.Fprintln(os.Stderr, "halgen:", err)
		os.Exit(1)
	}
}

func run(dir string, check bool) error {
	src, err := os.ReadFile(filepath.Join(dir, halgen.Source))
	if err != nil {
		return err
	}
	files, err := halgen.Generate(src)
	if err != nil {
		return err
	}
	var stale []string
	for _, name := range halgen.Files() {
		path := filepath.Join(dir, name)
		old, err := os.ReadFile(path)
		if err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if check {
			stale = append(stale, path)
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, files[name], 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("%s out of date with %s; run go generate ./kernels/cuda", strings.Join(stale, ", "),
			filepath.Join(dir, halgen.Source))
	}
	return nil
}
