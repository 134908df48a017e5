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

// writeCIFAR writes n random records with the given label limits to path and
// returns the records.
func writeCIFAR(t *testing.T, path string, n int, limits []int, r *rand.Rand) []byte {
	t.Helper()
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		for _, l := range limits {
			b.WriteByte(byte(r.IntN(l)))
		}
		b.Write(randBytes(r, 3072))
	}
	must(t, os.WriteFile(path, b.Bytes(), 0o644))
	return b.Bytes()
}

func checkCIFAR(t *testing.T, d *Dataset, recs [][]byte, nlabels, use int) {
	t.Helper()
	must(t, d.Validate())
	i := 0
	for _, rec := range recs {
		for k := 0; k < len(rec)/(3072+nlabels); k++ {
			r := rec[k*(3072+nlabels):]
			if d.Labels[i] != int32(r[use]) {
				t.Fatalf("image %d: label %d, want %d", i, d.Labels[i], r[use])
			}
			pix, h, w := d.Image(i)
			if h != 32 || w != 32 || !bytes.Equal(pix, r[nlabels:nlabels+3072]) {
				t.Fatalf("image %d: pixels differ", i)
			}
			i++
		}
	}
	if i != d.N {
		t.Fatalf("got %d images, wrote %d", d.N, i)
	}
}

func TestLoadCIFAR10(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	root := t.TempDir()
	dir := filepath.Join(root, "cifar-10-batches-bin")
	must(t, os.Mkdir(dir, 0o755))
	var train [][]byte
	for i, n := range []int{3, 5, 1, 2, 7} {
		train = append(train, writeCIFAR(t, filepath.Join(dir, "data_batch_"+string(rune('1'+i))+".bin"), n, []int{10}, r))
	}
	test := writeCIFAR(t, filepath.Join(dir, "test_batch.bin"), 4, []int{10}, r)

	d, err := LoadCIFAR10(root, true) // finds the subdirectory
	must(t, err)
	if d.N != 18 || d.C != 3 || !slices.Equal(d.ClassNames, cifar10Classes) {
		t.Fatalf("train: N=%d C=%d names %v", d.N, d.C, d.ClassNames)
	}
	checkCIFAR(t, d, train, 1, 0)

	names := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n"
	must(t, os.WriteFile(filepath.Join(dir, "batches.meta.txt"), []byte(names), 0o644))
	d, err = LoadCIFAR10(dir, false)
	must(t, err)
	checkCIFAR(t, d, [][]byte{test}, 1, 0)
	if d.ClassNames[9] != "j" || len(d.ClassNames) != 10 {
		t.Fatalf("names from batches.meta.txt: %v", d.ClassNames)
	}
	must(t, os.WriteFile(filepath.Join(dir, "batches.meta.txt"), []byte("a\nb\n"), 0o644))
	if _, err := LoadCIFAR10(dir, false); err == nil || !strings.Contains(err.Error(), "2 class names, want 10") {
		t.Fatalf("short batches.meta.txt: %v", err)
	}
}

func TestLoadCIFAR100(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	dir := t.TempDir()
	train := writeCIFAR(t, filepath.Join(dir, "train.bin"), 9, []int{20, 100}, r)
	test := writeCIFAR(t, filepath.Join(dir, "test.bin"), 3, []int{20, 100}, r)
	for _, coarse := range []bool{false, true} {
		d, err := LoadCIFAR100(dir, true, coarse)
		must(t, err)
		use, classes := 1, 100
		if coarse {
			use, classes = 0, 20
		}
		if d.NumClasses != classes || len(d.ClassNames) != classes {
			t.Fatalf("coarse=%v: %d classes, %d names", coarse, d.NumClasses, len(d.ClassNames))
		}
		checkCIFAR(t, d, [][]byte{train}, 2, use)
		d, err = LoadCIFAR100(dir, false, coarse)
		must(t, err)
		checkCIFAR(t, d, [][]byte{test}, 2, use)
	}
}

func TestCIFARClassNameLists(t *testing.T) {
	// The official name files are sorted and free of repeats.
	for _, names := range [][]string{cifar100Classes, cifar100Superclasses} {
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Errorf("names not sorted or repeated: %v", names)
		}
	}
	if len(cifar100Classes) != 100 || len(cifar100Superclasses) != 20 || len(cifar10Classes) != 10 {
		t.Errorf("got %d, %d, %d names", len(cifar100Classes), len(cifar100Superclasses), len(cifar10Classes))
	}
}

func TestCIFARErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	good10 := func() []byte {
		var b bytes.Buffer
		for i := 0; i < 3; i++ {
			b.WriteByte(byte(i))
			b.Write(randBytes(r, 3072))
		}
		return b.Bytes()
	}()
	set := func(b []byte, i int, v byte) []byte { c := slices.Clone(b); c[i] = v; return c }
	for _, tc := range []struct {
		name   string
		data   []byte
		offset int64
		msg    string
	}{
		{"empty", nil, 0, "empty file"},
		{"two whole records", good10[:3073*2], -1, ""}, // a valid, shorter file
		{"cut after label", good10[:3073+1], 3074, "has 1 of 3073 bytes"},
		{"cut mid image", good10[:3073+1500], 3073 + 1500, "has 1500 of 3073"},
		{"one byte short", good10[:len(good10)-1], int64(len(good10) - 1), "has 3072 of 3073"},
		{"one byte long", append(slices.Clone(good10), 7), int64(len(good10) + 1), "has 1 of 3073"},
		{"label 10", set(good10, 3073, 10), 3073, "label 10 of record 1 is not below 10"},
		{"label 255", set(good10, 2*3073, 255), 2 * 3073, "label 255 of record 2"},
	} {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "test_batch.bin"), tc.data, 0o644))
		d, err := LoadCIFAR10(dir, false)
		if tc.offset < 0 {
			must(t, err)
			if d.N != 2 {
				t.Fatalf("%s: %d images", tc.name, d.N)
			}
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Offset != tc.offset || !strings.Contains(fe.Msg, tc.msg) ||
			!strings.HasSuffix(fe.File, "test_batch.bin") {
			t.Errorf("%s: got %v, want offset %d and %q", tc.name, err, tc.offset, tc.msg)
		}
	}
	// CIFAR-100 checks both label bytes whichever is used.
	var b bytes.Buffer
	b.Write([]byte{19, 99})
	b.Write(randBytes(r, 3072))
	b.Write([]byte{20, 5})
	b.Write(randBytes(r, 3072))
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "test.bin"), b.Bytes(), 0o644))
	for _, coarse := range []bool{false, true} {
		_, err := LoadCIFAR100(dir, false, coarse)
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Offset != 3074 || !strings.Contains(fe.Msg, "label 20 of record 1 is not below 20") {
			t.Errorf("coarse=%v: got %v", coarse, err)
		}
	}
	b.Reset()
	b.Write([]byte{3, 100})
	b.Write(randBytes(r, 3072))
	must(t, os.WriteFile(filepath.Join(dir, "test.bin"), b.Bytes(), 0o644))
	if _, err := LoadCIFAR100(dir, false, true); err == nil || !strings.Contains(err.Error(), "at byte offset 1: label 100") {
		t.Errorf("fine label 100: got %v", err)
	}
	if _, err := LoadCIFAR10(t.TempDir(), true); err == nil || !strings.Contains(err.Error(), "data_batch_1.bin") {
		t.Errorf("missing files: got %v", err)
	}
}
