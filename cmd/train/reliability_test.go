package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	if err := os.WriteFile(path, idxBytes(dims, data), 0o644); err != nil {
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

// gzipBomb returns a gzip file that decompresses to head followed by zeros,
// size bytes in all (a multiple of 16 MiB): gzip members of 16 MiB of zeros,
// one compressed and repeated, as concatenated members are one stream.
func gzipBomb(head []byte, size int) []byte {
	const member = 16 << 20
	gz := func(b []byte) []byte {
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		w.Write(b)
		w.Close()
		return z.Bytes()
	}
	first := gz(append(head, make([]byte, member-len(head))...))
	zeros := gz(make([]byte, member))
	out := append([]byte(nil), first...)
	for n := member; n < size; n += member {
		out = append(out, zeros...)
	}
	return out
}

// bombPNG is a valid PNG header claiming w x h pixels, with one pixel of
// data.
func bombPNG(t *testing.T, w, h uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	p := b.Bytes()
	// The IHDR chunk: length (4), "IHDR", width, height, ..., CRC over
	// type and data.
	binary.BigEndian.PutUint32(p[16:], w)
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}

// bombJPEG is a JPEG whose frame header claims w x h pixels.
func bombJPEG(t *testing.T, w, h uint16) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	p := b.Bytes()
	for i := 2; i+9 < len(p); i++ {
		if p[i] == 0xFF && p[i+1] == 0xC0 { // SOF0: length, precision, height, width
			binary.BigEndian.PutUint16(p[i+5:], h)
			binary.BigEndian.PutUint16(p[i+7:], w)
			return p
		}
	}
	t.Fatal("no SOF0 in the JPEG")
	return nil
}

// idxBytes is an IDX file of uint8 with dims and data.
func idxBytes(dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

// TestBadDataUnderMemoryLimit runs the command in a child process limited
// to 4 GB of address space on data files that announce far more than they
// hold: each must end with an error naming the file, never a panic or an
// out-of-memory crash.
func TestBadDataUnderMemoryLimit(t *testing.T) {
	labels := idxBytes([]uint32{4}, make([]byte, 4))
	for _, tc := range []struct {
		name    string
		dataset string
		files   map[string][]byte
		want    string
	}{
		// 2^16 x 2^20 x 2^27 bytes wrap to -2^63.
		{"16-byte IDX", "mnist", map[string][]byte{
			"train-images-idx3-ubyte": idxBytes([]uint32{1 << 16, 1 << 20, 1 << 27}, nil),
			"train-labels-idx1-ubyte": labels}, "train-images-idx3-ubyte"},
		// 2^18 x 2^18 x 2^28 bytes wrap to 0, with as many labels.
		{"IDX dims that wrap to 0", "mnist", map[string][]byte{
			"train-images-idx3-ubyte": idxBytes([]uint32{262144, 262144, 1 << 28}, nil),
			"train-labels-idx1-ubyte": idxBytes([]uint32{262144}, make([]byte, 262144))}, "train-images-idx3-ubyte"},
		{"8 MB of gzip holding 8 GB", "mnist", map[string][]byte{
			"train-images-idx3-ubyte.gz": gzipBomb(idxBytes([]uint32{8192, 1024, 1024}, nil), 8<<30),
			"train-labels-idx1-ubyte":    idxBytes([]uint32{8192}, make([]byte, 8192))}, "train-images-idx3-ubyte.gz"},
		{"PNG of 50000x50000", "folder", map[string][]byte{
			"train/a/x.png": bombPNG(t, 50000, 50000), "val/a/x.png": bombPNG(t, 1, 1)}, "x.png"},
		{"JPEG of 65000x65000", "folder", map[string][]byte{
			"train/a/x.jpg": bombJPEG(t, 65000, 65000), "val/a/x.jpg": bombJPEG(t, 8, 8)}, "x.jpg"},
		{"CIFAR truncated", "cifar10", map[string][]byte{
			"data_batch_1.bin": make([]byte, 3073+100)}, "data_batch_1.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tc.files {
				path := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"-device", "cpu", "-dataset", tc.dataset, "-data", dir, "-out", filepath.Join(dir, "run"), "-quiet", "-workers", "2"}
			cmd, stdout, stderr := startChild(t, args, childLimitEnv+"="+strconv.Itoa(4<<30))
			io.Copy(io.Discard, stdout)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1\n%s", err, stderr.String())
			}
			msg := stderr.String()
			if !strings.HasPrefix(msg, "train: ") || !strings.Contains(msg, tc.want) ||
				strings.Contains(msg, "panic") || strings.Contains(msg, "fatal error") {
				t.Fatalf("stderr:\n%s", msg)
			}
		})
	}
}

// TestFolderClassesFollowTrain: val/ lacks one of train/'s classes. Its
// images are labelled by train/'s class list, so the raw-pixel kNN of images
// that repeat the training images is 100 %, not the 50 % of numbering val/'s
// classes on their own; a val/ class unknown to train/ is an error.
func TestFolderClassesFollowTrain(t *testing.T) {
	dir := t.TempDir()
	shade := map[string]uint8{"a": 20, "b": 128, "c": 235}
	write := func(split, class string, n int) {
		d := filepath.Join(dir, split, class)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			img := image.NewGray(image.Rect(0, 0, 8, 8))
			for p := range img.Pix {
				img.Pix[p] = shade[class] + uint8((p*7+i*3)%11)
			}
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, strconv.Itoa(i)+".png"), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []string{"a", "b", "c"} {
		write("train", c, 12)
	}
	write("val", "a", 5)
	write("val", "c", 5)
	args := func(out string) []string {
		return []string{"-device", "cpu", "-dataset", "folder", "-data", dir, "-image-size", "8", "-out", out,
			"-batch", "16", "-epochs", "1", "-max-steps", "1", "-width", "2", "-probe-epochs", "1", "-knn-k", "3", "-quiet"}
	}
	out := t.TempDir()
	var log bytes.Buffer
	if err := run(context.Background(), args(out), &log, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	var sum summary
	raw, err := os.ReadFile(filepath.Join(out, summaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.KNNRawPixels != 1 {
		t.Fatalf("raw-pixel kNN %.4f, want 1 (val/ labelled by train/'s classes)", sum.KNNRawPixels)
	}

	shade["d"] = 90
	write("val", "d", 2)
	log.Reset()
	err = run(context.Background(), args(t.TempDir()), &log, &log)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "val", "d")) {
		t.Fatalf("a val/ class unknown to train/: error %v", err)
	}
}
