package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallucinator/nn"
	"hallucinator/ssl"
)

// TestBadNumbers checks that non-finite and out-of-range numbers are refused
// by flag name before anything runs.
func TestBadNumbers(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-lr", "Inf"}, "-lr +Inf"},
		{[]string{"-final-lr", "NaN"}, "-final-lr NaN"},
		{[]string{"-warmup", "NaN"}, "-warmup NaN"},
		{[]string{"-warmup", "1e300"}, "-warmup 1e+300"},
		{[]string{"-temperature", "NaN"}, "-temperature NaN"},
		{[]string{"-probe-lr", "NaN"}, "-probe-lr NaN"},
		{[]string{"-probe-lr", "-1"}, "-probe-lr -1"},
		{[]string{"-momentum", "NaN"}, "-momentum NaN"},
		{[]string{"-wd", "-Inf"}, "-wd -Inf"},
		{[]string{"-key-momentum", "NaN"}, "-key-momentum"},
		{[]string{"-min-scale", "NaN"}, "-min-scale NaN"},
		{[]string{"-on-nonfinite", "ignore"}, "-on-nonfinite"},
	} {
		dir := filepath.Join(t.TempDir(), "run")
		err := run(context.Background(), append(tc.args, "-out", dir), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %q", tc.args, err, tc.want)
		}
		if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
			t.Errorf("%v: the run directory was made", tc.args)
		}
	}
}

// tinyArgs is a run of 2 epochs of 2 steps.
func tinyArgs(dir string, more ...string) []string {
	return append([]string{"-device", "cpu", "-out", dir, "-train-subset", "64", "-test-subset", "32", "-batch", "16",
		"-epochs", "2", "-max-steps", "2", "-width", "2", "-probe-epochs", "1", "-knn-k", "5", "-quiet"}, more...)
}

// TestPanicLeavesError checks that a panic during training ends the run
// with an error, kept in error.txt with its stack.
func TestPanicLeavesError(t *testing.T) {
	needFashionMNIST(t)
	dir := t.TempDir()
	err := runWith(context.Background(), tinyArgs(dir), io.Discard, io.Discard, hooks{afterStep: func(s ssl.StepInfo) {
		if s.GlobalStep == 2 {
			var m map[string]int
			m["boom"]++ // a nil map: a real runtime panic
		}
	}})
	if err == nil || !strings.Contains(err.Error(), "panic: assignment to entry in nil map") {
		t.Fatalf("error %v", err)
	}
	got, rerr := os.ReadFile(filepath.Join(dir, errorFile))
	if rerr != nil || !strings.Contains(string(got), "panic: assignment to entry in nil map") || !strings.Contains(string(got), "goroutine") {
		t.Fatalf("%s: %q, %v", errorFile, got, rerr)
	}
}

// TestInterruptDuringEvaluation checks the message of a run interrupted
// after its last step, during the final evaluation, and that -resume then
// evaluates it.
func TestInterruptDuringEvaluation(t *testing.T) {
	needFashionMNIST(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := runWith(ctx, tinyArgs(dir), io.Discard, io.Discard, hooks{afterStep: func(s ssl.StepInfo) {
		if s.GlobalStep == 4 {
			cancel()
		}
	}})
	if err == nil || !strings.Contains(err.Error(), "interrupted during the final evaluation") || !strings.Contains(err.Error(), "-resume "+dir) {
		t.Fatalf("error %v", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-resume", dir, "-quiet"}, &out, &out); err != nil {
		t.Fatalf("evaluating: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "resumed at epoch 3 step 0") || !strings.Contains(out.String(), "kNN") {
		t.Fatalf("output:\n%s", out.String())
	}
}

// TestRunDirectoryHygiene checks that temporaries of killed writes go, that
// the outputs are readable by all, and that a checkpoint holding NaN is
// refused on resume with the tensor's name.
func TestRunDirectoryHygiene(t *testing.T) {
	needFashionMNIST(t)
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), tinyArgs(dir), &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, f := range []string{configFile, summaryFile, checkpointFile, metricsFile, "loss.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, %v; want 0644", f, st.Mode(), err)
		}
	}
	stale := []string{".checkpoint.safetensors.tmp-123", ".summary.json.tmp456", ".loss.png.tmp7"}
	for _, f := range stale {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"-resume", dir, "-quiet"}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "removed 3 temporary file(s)") {
		t.Errorf("output:\n%s", out.String())
	}
	for _, f := range stale {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left: %v", f, err)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file of the user's went: %v", err)
	}
	// One NaN weight in the checkpoint.
	ckpt := filepath.Join(dir, checkpointFile)
	ts, meta, err := nn.ReadSafetensors(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	ts[5].T.Data()[0] = float32(math.NaN())
	if err := nn.WriteSafetensors(ckpt, ts, meta); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"-resume", dir, "-quiet"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), ts[5].Name) || !strings.Contains(err.Error(), "non-finite") {
		t.Fatalf("resuming from a NaN weight: %v", err)
	}
}

// TestResumeOldAutoConfig checks that a run whose config.json says
// "anchor_crop": "auto" (as runs did before it was resolved) resumes with
// the anchor crop it trained with: the Hallucinator's, on.
func TestResumeOldAutoConfig(t *testing.T) {
	needFashionMNIST(t)
	straight := t.TempDir()
	if err := run(context.Background(), resumeArgs("simclr", true, straight), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := runWith(ctx, resumeArgs("simclr", true, dir), io.Discard, io.Discard, hooks{afterStep: func(s ssl.StepInfo) {
		if s.GlobalStep == 4 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("not interrupted")
	}
	path := filepath.Join(dir, configFile)
	raw, _ := os.ReadFile(path)
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg["anchor_crop"] != "on" {
		t.Fatalf("config.json anchor crop %v, %v", cfg["anchor_crop"], err)
	}
	cfg["anchor_crop"] = "auto"
	raw, _ = json.Marshal(cfg)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"-resume", dir, "-quiet"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	got := readOutcome(t, dir)
	got.config["anchor_crop"] = "on" // as edited above
	sameOutcome(t, "resumed with auto", readOutcome(t, straight), got)
}

// writeIDX writes an uncompressed IDX file of uint8 with dims and data.
func writeIDX(t *testing.T, path string, dims []uint32, data []byte) {
	t.Helper()
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMismatchedSplits checks that training and test images of different
// sizes are an error before training.
func TestMismatchedSplits(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte"), []uint32{32, 12, 12}, make([]byte, 32*144))
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte"), []uint32{32}, make([]byte, 32))
	writeIDX(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), []uint32{8, 10, 10}, make([]byte, 800))
	writeIDX(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"), []uint32{8}, make([]byte, 8))
	var out bytes.Buffer
	err := run(context.Background(), []string{"-device", "cpu", "-dataset", "mnist", "-data", dir, "-out", t.TempDir(), "-quiet"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "1x12x12") || !strings.Contains(err.Error(), "1x10x10") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(out.String(), "epoch 1") {
		t.Fatalf("trained before the check:\n%s", out.String())
	}
}

// gzipBytes compresses b.
func gzipBytes(b []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}
