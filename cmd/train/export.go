package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"hallucinator/ssl"
)

// runExport is the export subcommand: it writes the encoder of a run's
// checkpoint alone, with torchvision's ResNet names and the metadata that
// ssl.LoadEncoder reads (see ssl.ExportEncoder).
//
//	train export -resume runs/simclr-20260101-120000 -o encoder.safetensors
func runExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("resume", "", "run directory (or checkpoint file) whose encoder to export")
	out := fs.String("o", "", "output safetensors file (default: encoder.safetensors in the run directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: train export -resume DIR [-o encoder.safetensors]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("export: give the run directory with -resume and nothing else")
	}
	ckpt := *dir
	if st, err := os.Stat(ckpt); err != nil {
		return fmt.Errorf("export: %w", err)
	} else if st.IsDir() {
		ckpt = filepath.Join(ckpt, checkpointFile)
		if *out == "" {
			*out = filepath.Join(*dir, "encoder.safetensors")
		}
	}
	if *out == "" {
		return fmt.Errorf("export: give the output file with -o")
	}
	if err := ssl.ExportEncoder(ckpt, *out); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	i, err := ssl.ReadEncoderInfo(*out)
	if err != nil {
		return fmt.Errorf("export: reading back %s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "wrote %s: %s width %d, %s stem, %d input channels, %d features, %dx%d images\n",
		*out, i.Arch, i.Width, i.Stem, i.InChannels, i.Features, i.ImageSize, i.ImageSize)
	return nil
}
