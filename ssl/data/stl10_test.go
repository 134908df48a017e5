package data

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeSTL10 writes n random images (and labels when labelFile is not
// empty) in STL-10's column-major layout and returns the images in CHW order
// and the labels as written (1..10).
func writeSTL10(t *testing.T, dir, imageFile, labelFile string, n int, r *rand.Rand) ([]byte, []byte) {
	t.Helper()
	chw := randBytes(r, n*stl10Pixels)
	file := make([]byte, len(chw))
	for p := 0; p < n*3; p++ {
		plane := chw[p*9216 : (p+1)*9216]
		k := p * 9216
		for x := 0; x < 96; x++ { // column-major: x outer, y inner
			for y := 0; y < 96; y++ {
				file[k] = plane[y*96+x]
				k++
			}
		}
	}
	must(t, os.WriteFile(filepath.Join(dir, imageFile), file, 0o644))
	var labels []byte
	if labelFile != "" {
		labels = make([]byte, n)
		for i := range labels {
			labels[i] = byte(1 + r.IntN(10))
		}
		must(t, os.WriteFile(filepath.Join(dir, labelFile), labels, 0o644))
	}
	return chw, labels
}

func TestLoadSTL10(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	root := t.TempDir()
	dir := filepath.Join(root, "stl10_binary")
	must(t, os.Mkdir(dir, 0o755))
	trPix, trLab := writeSTL10(t, dir, "train_X.bin", "train_y.bin", 5, r)
	tePix, teLab := writeSTL10(t, dir, "test_X.bin", "test_y.bin", 3, r)
	unPix, _ := writeSTL10(t, dir, "unlabeled_X.bin", "", 4, r)
	for _, tc := range []struct {
		split STL10Split
		pix   []byte
		lab   []byte
		n     int
	}{
		{STL10Train, trPix, trLab, 5},
		{STL10Test, tePix, teLab, 3},
		{STL10Unlabeled, unPix, nil, 4},
		{STL10TrainUnlabeled, append(slices.Clone(trPix), unPix...), trLab, 9},
	} {
		d, err := LoadSTL10(root, tc.split)
		must(t, err)
		must(t, d.Validate())
		if d.N != tc.n || d.C != 3 || d.H != 96 || d.W != 96 || !slices.Equal(d.ClassNames, stl10Classes) {
			t.Fatalf("%s: N=%d %dx%dx%d", tc.split, d.N, d.C, d.H, d.W)
		}
		if !bytes.Equal(d.Pixels, tc.pix) {
			t.Fatalf("%s: pixels differ (column-major transpose)", tc.split)
		}
		for i := 0; i < d.N; i++ {
			want := int32(-1)
			if i < len(tc.lab) {
				want = int32(tc.lab[i]) - 1
			}
			if d.Labels[i] != want {
				t.Fatalf("%s: label %d = %d, want %d", tc.split, i, d.Labels[i], want)
			}
		}
	}
	if _, err := LoadSTL10(root, "validation"); err == nil || !strings.Contains(err.Error(), "unknown STL-10 split") {
		t.Errorf("bad split: %v", err)
	}
}

func TestSTL10Errors(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, tc := range []struct {
		name   string
		edit   func(dir string)
		file   string
		offset int64
		msg    string
	}{
		{"label 0", func(dir string) { setByte(t, filepath.Join(dir, "train_y.bin"), 1, 0) }, "train_y.bin", 1, "label 0 of image 1 is outside 1..10"},
		{"label 11", func(dir string) { setByte(t, filepath.Join(dir, "train_y.bin"), 2, 11) }, "train_y.bin", 2, "label 11"},
		{"labels short", func(dir string) { truncate(t, filepath.Join(dir, "train_y.bin"), 2) }, "train_y.bin", 2, "2 labels for the 3 images"},
		{"labels long", func(dir string) { appendBytes(t, filepath.Join(dir, "train_y.bin"), 1) }, "train_y.bin", 3, "4 labels for the 3 images"},
		{"images cut in a plane", func(dir string) { truncate(t, filepath.Join(dir, "train_X.bin"), 27648+100) }, "train_X.bin", 27648 + 100, "has 100 of 27648"},
		{"images one byte short", func(dir string) { truncate(t, filepath.Join(dir, "train_X.bin"), 3*27648-1) }, "train_X.bin", 3*27648 - 1, "has 27647 of 27648"},
		{"images empty", func(dir string) { truncate(t, filepath.Join(dir, "train_X.bin"), 0) }, "train_X.bin", 0, "empty"},
	} {
		dir := t.TempDir()
		writeSTL10(t, dir, "train_X.bin", "train_y.bin", 3, r)
		tc.edit(dir)
		_, err := LoadSTL10(dir, STL10Train)
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.HasSuffix(fe.File, tc.file) || fe.Offset != tc.offset || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%s: got %v, want %s at %d: %q", tc.name, err, tc.file, tc.offset, tc.msg)
		}
	}
}

func setByte(t *testing.T, path string, i int, v byte) {
	b, err := os.ReadFile(path)
	must(t, err)
	b[i] = v
	must(t, os.WriteFile(path, b, 0o644))
}

func truncate(t *testing.T, path string, n int64) { must(t, os.Truncate(path, n)) }

func appendBytes(t *testing.T, path string, n int) {
	b, err := os.ReadFile(path)
	must(t, err)
	must(t, os.WriteFile(path, append(b, make([]byte, n)...), 0o644))
}
