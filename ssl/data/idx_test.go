package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idxBytes encodes an IDX file of the given type and dims around raw data.
func idxBytes(t IDXType, dims []int, raw []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, byte(t), byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(raw)
	return b.Bytes()
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// writeMNIST writes an images/labels pair in the official layout and returns
// the pixels and labels written.
func writeMNIST(t *testing.T, dir, prefix string, n, h, w int, gz bool, r *rand.Rand) ([]byte, []byte) {
	t.Helper()
	pix := randBytes(r, n*h*w)
	lab := make([]byte, n)
	for i := range lab {
		lab[i] = byte(r.UintN(10))
	}
	img := idxBytes(IDXUint8, []int{n, h, w}, pix)
	lb := idxBytes(IDXUint8, []int{n}, lab)
	imgName, labName := prefix+"-images-idx3-ubyte", prefix+"-labels-idx1-ubyte"
	if gz {
		img, lb = gzipBytes(img), gzipBytes(lb)
		imgName += ".gz"
		labName += ".gz"
	}
	must(t, os.WriteFile(filepath.Join(dir, imgName), img, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, labName), lb, 0o644))
	return pix, lab
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadIDXTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		typ  IDXType
		dims []int
	}{
		{IDXUint8, []int{7}},
		{IDXUint8, []int{3, 5, 2}},
		{IDXInt8, []int{13}},
		{IDXInt16, []int{2, 11}},
		{IDXInt32, []int{3, 1, 7}},
		{IDXFloat32, []int{17}},
		{IDXFloat64, []int{5, 3}},
	} {
		n := 1
		for _, d := range tc.dims {
			n *= d
		}
		want := make([]float64, n)
		var raw bytes.Buffer
		for i := range want {
			switch tc.typ {
			case IDXUint8:
				v := uint8(r.UintN(256))
				raw.WriteByte(v)
				want[i] = float64(v)
			case IDXInt8:
				v := int8(r.IntN(256) - 128)
				raw.WriteByte(byte(v))
				want[i] = float64(v)
			case IDXInt16:
				v := int16(r.IntN(65536) - 32768)
				binary.Write(&raw, binary.BigEndian, v)
				want[i] = float64(v)
			case IDXInt32:
				v := int32(r.Uint32())
				binary.Write(&raw, binary.BigEndian, v)
				want[i] = float64(v)
			case IDXFloat32:
				v := float32(r.NormFloat64())
				binary.Write(&raw, binary.BigEndian, v)
				want[i] = float64(v)
			case IDXFloat64:
				v := r.NormFloat64()
				binary.Write(&raw, binary.BigEndian, v)
				want[i] = v
			}
		}
		file := idxBytes(tc.typ, tc.dims, raw.Bytes())
		for _, gz := range []bool{false, true} {
			in := file
			if gz {
				in = gzipBytes(file)
			}
			x, err := ReadIDX(bytes.NewReader(in), "f")
			if err != nil {
				t.Fatalf("%v %v gz=%v: %v", tc.typ, tc.dims, gz, err)
			}
			if x.Type != tc.typ || len(x.Dims) != len(tc.dims) || x.Len() != n {
				t.Fatalf("%v %v: got type %v dims %v", tc.typ, tc.dims, x.Type, x.Dims)
			}
			for i := range want {
				if got := x.At(i); got != want[i] && !(math.IsNaN(got) && math.IsNaN(want[i])) {
					t.Fatalf("%v %v: element %d = %v, want %v", tc.typ, tc.dims, i, got, want[i])
				}
			}
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	good := idxBytes(IDXUint8, []int{5, 3, 7}, randBytes(r, 5*3*7))
	type tc struct {
		name   string
		in     []byte
		offset int64
		msg    string
	}
	cases := []tc{
		{"bad magic", append([]byte{0, 1}, good[2:]...), 0, "bad magic"},
		{"bad type", append([]byte{0, 0, 0x07}, good[3:]...), 2, "unknown IDX element type"},
		{"no dims", []byte{0, 0, 8, 0}, 3, "zero dimensions"},
		{"zero dim", idxBytes(IDXUint8, []int{5, 0, 7}, nil), 8, "dimension 1 is 0"},
		{"huge", idxBytes(IDXFloat64, []int{1 << 20, 1 << 20}, nil), 8, "larger than"},
		{"trailing", append(append([]byte(nil), good...), 9), int64(len(good)), "trailing bytes"},
		{"empty", nil, 0, "truncated reading magic"},
	}
	// Truncation at every kind of place: inside the magic, inside a
	// dimension, at the start of the data, in the middle, one byte short.
	for _, cut := range []int{1, 3, 4, 6, 9, 15, 16, 17, 16 + 50, len(good) - 1} {
		what := "data"
		switch {
		case cut < 4:
			what = "magic"
		case cut < 16:
			what = "dimension"
		}
		cases = append(cases, tc{"cut" + strings.Repeat("'", cut%5), good[:cut], int64(cut), "truncated reading " + what})
	}
	for _, c := range cases {
		for _, gz := range []bool{false, true} {
			in := c.in
			if gz {
				in = gzipBytes(in)
			}
			x, err := ReadIDX(bytes.NewReader(in), "some/file-idx")
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%s gz=%v: got %v, %v; want a FormatError", c.name, gz, x, err)
			}
			if fe.File != "some/file-idx" || fe.Offset != c.offset || !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("%s gz=%v: got %q (offset %d), want offset %d and %q", c.name, gz, err, fe.Offset, c.offset, c.msg)
			}
			if !strings.Contains(err.Error(), "some/file-idx") {
				t.Errorf("%s: error %q does not name the file", c.name, err)
			}
		}
	}
	// A gzip stream cut short is truncated too, not a silent short read.
	z := gzipBytes(good)
	for _, cut := range []int{5, len(z) / 2, len(z) - 4} {
		_, err := ReadIDX(bytes.NewReader(z[:cut]), "z.gz")
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("gzip cut at %d of %d: got %v, want a FormatError", cut, len(z), err)
		}
	}
	// A corrupted gzip checksum is an error.
	bad := append([]byte(nil), z...)
	bad[len(bad)-6] ^= 0xff
	if _, err := ReadIDX(bytes.NewReader(bad), "crc.gz"); err == nil {
		t.Error("corrupt gzip checksum: no error")
	}
}

func TestLoadMNISTFiles(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		pix, lab := writeMNIST(t, dir, "train", 37, 28, 28, gz, r)
		tpix, tlab := writeMNIST(t, dir, "t10k", 11, 28, 28, gz, r)
		for _, train := range []bool{true, false} {
			d, err := LoadFashionMNIST(dir, train)
			must(t, err)
			wp, wl := pix, lab
			if !train {
				wp, wl = tpix, tlab
			}
			if d.N != len(wl) || d.C != 1 || d.H != 28 || d.W != 28 || d.NumClasses != 10 || len(d.ClassNames) != 10 {
				t.Fatalf("gz=%v train=%v: got N=%d C=%d H=%d W=%d classes=%d", gz, train, d.N, d.C, d.H, d.W, d.NumClasses)
			}
			if !bytes.Equal(d.Pixels, wp) {
				t.Fatalf("gz=%v train=%v: pixels differ", gz, train)
			}
			for i := range wl {
				if d.Labels[i] != int32(wl[i]) {
					t.Fatalf("label %d = %d, want %d", i, d.Labels[i], wl[i])
				}
			}
			must(t, d.Validate())
		}
		m, err := LoadMNIST(dir, true)
		must(t, err)
		if m.ClassNames[7] != "7" || m.N != 37 {
			t.Fatalf("MNIST: %d images, class 7 named %q", m.N, m.ClassNames[7])
		}
	}
}

func TestLoadMNISTErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	pix := randBytes(r, 9*4*5)
	lab := []byte{0, 1, 2, 3, 4, 5, 6, 7, 9}
	img := idxBytes(IDXUint8, []int{9, 4, 5}, pix)
	cases := []struct {
		name      string
		img, lab  []byte
		file      string
		offset    int64
		msgSubstr string
	}{
		{"count mismatch", img, idxBytes(IDXUint8, []int{8}, lab[:8]), "labels", 4, "8 labels for the 9 images"},
		{"label out of range", img, idxBytes(IDXUint8, []int{9}, []byte{0, 1, 2, 3, 10, 5, 6, 7, 9}), "labels", 12, "label 10 of image 4"},
		{"images 2-D", idxBytes(IDXUint8, []int{9, 20}, pix), idxBytes(IDXUint8, []int{9}, lab), "images", 2, "3 dimensions"},
		{"labels int32", img, idxBytes(IDXInt32, []int{9}, make([]byte, 36)), "labels", 2, "uint8 with 1 dimension"},
		{"truncated images", img[:len(img)-7], idxBytes(IDXUint8, []int{9}, lab), "images", int64(len(img) - 7), "truncated"},
		{"truncated labels", img, idxBytes(IDXUint8, []int{9}, lab)[:10], "labels", 10, "truncated"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte"), c.img, 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), c.lab, 0o644))
		d, err := LoadFashionMNIST(dir, true)
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: got %v, %v; want a FormatError", c.name, d, err)
		}
		if !strings.Contains(fe.File, c.file) || fe.Offset != c.offset || !strings.Contains(fe.Msg, c.msgSubstr) {
			t.Errorf("%s: got %q", c.name, err)
		}
	}
	if _, err := LoadFashionMNIST(t.TempDir(), false); err == nil || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte") {
		t.Errorf("missing files: got %v", err)
	}
}

// TestFashionMNISTReal reads the installed data set, when there is one, and
// checks what is known of it: sizes and a balanced label histogram.
func TestFashionMNISTReal(t *testing.T) {
	dir := FashionMNISTDir()
	if _, err := os.Stat(filepath.Join(dir, "t10k-images-idx3-ubyte.gz")); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, "t10k-images-idx3-ubyte")); err2 != nil {
			t.Skipf("Fashion-MNIST not installed in %s (run scripts/install-data.sh)", dir)
		}
	}
	for _, tc := range []struct {
		train bool
		n     int
	}{{false, 10000}, {true, 60000}} {
		if tc.train && testing.Short() {
			continue
		}
		d, err := LoadFashionMNIST(dir, tc.train)
		must(t, err)
		if d.N != tc.n || d.H != 28 || d.W != 28 || d.C != 1 {
			t.Fatalf("train=%v: got %d images of %dx%dx%d", tc.train, d.N, d.C, d.H, d.W)
		}
		var hist [10]int
		for _, l := range d.Labels {
			hist[l]++
		}
		for c, h := range hist {
			if h != tc.n/10 {
				t.Errorf("train=%v: class %d has %d images, want %d", tc.train, c, h, tc.n/10)
			}
		}
		var sum float64
		for _, p := range d.Pixels {
			sum += float64(p)
		}
		// Fashion-MNIST's mean pixel is about 0.286 (train) / 0.287 (test).
		if mean := sum / float64(len(d.Pixels)) / 255; math.Abs(mean-0.286) > 0.005 {
			t.Errorf("train=%v: mean pixel %.4f, want about 0.286", tc.train, mean)
		}
	}
}
