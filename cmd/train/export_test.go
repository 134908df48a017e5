package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hallucinator/kernels/cpu"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
)

// TestExportSubcommand trains a tiny run, exports its encoder with
// "train export" and loads it with ssl.LoadEncoder, which finds the
// stem, channels, size and normalisation that the run used.
func TestExportSubcommand(t *testing.T) {
	needFashionMNIST(t)
	dir := t.TempDir()
	args := []string{"-device", "cpu", "-out", dir, "-train-subset", "32", "-test-subset", "16", "-batch", "16",
		"-epochs", "1", "-max-steps", "1", "-width", "2", "-probe-epochs", "1", "-knn-k", "3", "-quiet", "-framework", "mocov2"}
	var out bytes.Buffer
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	enc := filepath.Join(t.TempDir(), "encoder.safetensors")
	out.Reset()
	if err := run(context.Background(), []string{"export", "-resume", dir, "-o", enc}, &out, &out); err != nil {
		t.Fatalf("export: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "resnet18 width 2, cifar stem, 1 input channels, 16 features, 28x28 images") {
		t.Errorf("export printed %q", out.String())
	}
	be := cpu.New(cpu.Options{Threads: 1})
	e, err := ssl.LoadEncoder(enc, be)
	if err != nil {
		t.Fatal(err)
	}
	fm, _ := data.NormalizeFor("fashion-mnist")
	if e.Info.Prefix != "" || e.Info.Framework != "mocov2" || e.Info.Dataset != "fashion-mnist" || !slices.Equal(e.Norm.Std, fm.Std) {
		t.Errorf("exported encoder %+v", e.Info)
	}
	// The training checkpoint loads as well, to the same features.
	full, err := ssl.LoadEncoder(filepath.Join(dir, checkpointFile), be)
	if err != nil {
		t.Fatal(err)
	}
	test, err := data.LoadFashionMNIST(data.FashionMNISTDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	test = data.FirstN(test, 8)
	a, err := e.EmbedDataset(context.Background(), test)
	if err != nil {
		t.Fatal(err)
	}
	b, err := full.EmbedDataset(context.Background(), test)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Data(), b.Data()) {
		t.Error("the exported encoder and the checkpoint give different features")
	}
	for _, bad := range [][]string{{"export"}, {"export", "-resume", filepath.Join(dir, "none")}, {"export", "-resume", dir, "extra"}} {
		if err := run(context.Background(), bad, &out, &out); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
