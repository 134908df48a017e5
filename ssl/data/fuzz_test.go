package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fuzz targets below run their seed corpus under go test; with
// go test -fuzz they explore further. Each keeps its inputs small through
// tight limits, so that one iteration costs microseconds, and checks what a
// result must satisfy rather than only that nothing panics.

// FuzzReadIDX reads plain and gzip IDX streams, with their size known or
// not: both ways must give the same result, a success must re-encode to the
// decompressed input, and a failure must be a FormatError.
func FuzzReadIDX(f *testing.F) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, file := range [][]byte{
		idxBytes(IDXUint8, []int{2, 3, 4}, randBytes(r, 24)),
		idxBytes(IDXInt16, []int{3}, randBytes(r, 6)),
		idxBytes(IDXFloat64, []int{1, 2}, randBytes(r, 16)),
		idxBytes(IDXUint8, []int{0xffffffff, 0xffffffff, 1}, nil), // the product wraps negative
		idxBytes(IDXUint8, []int{262144, 262144, 1 << 28}, nil),   // the product wraps to 0
		idxBytes(IDXUint8, []int{5, 5}, randBytes(r, 20)),         // truncated
		idxBytes(IDXUint8, []int{2}, randBytes(r, 3)),             // trailing byte
		{0, 1, 8, 1, 0, 0, 0, 1, 7},                               // bad magic
		{0, 0, 8, 0},                                              // no dimensions
		nil,
	} {
		f.Add(file, false)
		f.Add(gzipBytes(file), true)
	}
	f.Add(gzipIDX([]int{8192, 1024, 1024}, 0), false) // announces 8 GiB
	f.Add(gzipIDX([]int{1000, 1000}, 1000), true)
	f.Add([]byte{0x1f, 0x8b, 8, 0}, false) // a cut gzip header
	lim := Limits{MaxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, in []byte, hide bool) {
		var src, other io.Reader = bytes.NewReader(in), hiddenSize{bytes.NewReader(in)}
		if hide {
			src, other = other, src
		}
		x, err := ReadIDXWithOptions(src, "fuzz-idx", IDXOptions{Limits: lim})
		y, err2 := ReadIDXWithOptions(other, "fuzz-idx", IDXOptions{Limits: lim})
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("hide=%v: %v; with the size the other way: %v", hide, err, err2)
		}
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "fuzz-idx" || fe.Offset < 0 {
				t.Fatalf("error %v (%T) is not a FormatError naming the file", err, err)
			}
			return
		}
		if !bytes.Equal(x.Data, y.Data) || !slices.Equal(x.Dims, y.Dims) || x.Type != y.Type {
			t.Fatal("the two size sources read different contents")
		}
		if x.Type.Size() == 0 || len(x.Dims) == 0 || len(x.Dims) > 255 {
			t.Fatalf("type %v, %d dims", x.Type, len(x.Dims))
		}
		for _, d := range x.Dims {
			if d <= 0 {
				t.Fatalf("dims %v", x.Dims)
			}
		}
		if n := x.Len(); n <= 0 || len(x.Data) != n*x.Type.Size() || int64(len(x.Data)) > lim.MaxBytes {
			t.Fatalf("dims %v of %v: %d data bytes", x.Dims, x.Type, len(x.Data))
		}
		x.At(0)
		x.At(x.Len() - 1)
		plain := in
		if len(in) >= 2 && in[0] == 0x1f && in[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(in))
			if err != nil {
				t.Fatalf("read as gzip, but: %v", err)
			}
			if plain, err = io.ReadAll(io.LimitReader(zr, 2*lim.MaxBytes)); err != nil {
				t.Fatalf("read as gzip, but: %v", err)
			}
		}
		if !bytes.Equal(idxBytes(x.Type, x.Dims, x.Data), plain) {
			t.Fatal("the result does not re-encode to the input")
		}
	})
}

// FuzzCIFAR parses CIFAR-10 and CIFAR-100 records appended to a data set
// that already holds one image: a success appends every record with its
// label, a failure leaves the data set as it was.
func FuzzCIFAR(f *testing.F) {
	r := rand.New(rand.NewPCG(43, 44))
	rec := func(labels ...byte) []byte { return append(labels, randBytes(r, cifarPixels)...) }
	f.Add(rec(3), uint8(0))
	f.Add(append(rec(9), rec(0)...), uint8(0))
	f.Add(rec(19, 99), uint8(1))
	f.Add(rec(19, 99), uint8(2))
	f.Add(rec(10), uint8(0))           // label out of range
	f.Add(rec(20, 5), uint8(2))        // coarse label out of range, fine used
	f.Add(rec(3)[:100], uint8(0))      // truncated
	f.Add(append(rec(1), 5), uint8(0)) // a byte too many
	f.Add([]byte(nil), uint8(1))       // empty
	kinds := []struct {
		limits []int
		use    int
	}{{[]int{10}, 0}, {[]int{20, 100}, 0}, {[]int{20, 100}, 1}}
	f.Fuzz(func(t *testing.T, b []byte, kind uint8) {
		k := kinds[int(kind)%len(kinds)]
		first := randBytes(rand.New(rand.NewPCG(1, 1)), cifarPixels)
		d := &Dataset{N: 1, C: 3, H: 32, W: 32, NumClasses: k.limits[k.use], Labels: []int32{0}, Pixels: slices.Clone(first)}
		err := parseCIFAR(d, b, "fuzz.bin", k.limits, k.use)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "fuzz.bin" || fe.Offset < 0 || fe.Offset > int64(len(b)) {
				t.Fatalf("error %v is not a FormatError in the file", err)
			}
			if d.N != 1 || len(d.Labels) != 1 || !bytes.Equal(d.Pixels, first) {
				t.Fatalf("a failed parse changed the data set: N=%d, %d labels, %d pixel bytes", d.N, len(d.Labels), len(d.Pixels))
			}
			return
		}
		size := len(k.limits) + cifarPixels
		if len(b) == 0 || len(b)%size != 0 || d.N != 1+len(b)/size {
			t.Fatalf("%d bytes parsed as %d records of %d", len(b), d.N-1, size)
		}
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.Pixels[:cifarPixels], first) {
			t.Fatal("the image already there changed")
		}
		for i := 1; i < d.N; i++ {
			rb := b[(i-1)*size : i*size]
			for j, l := range k.limits {
				if int(rb[j]) >= l {
					t.Fatalf("record %d: label byte %d = %d accepted, limit %d", i-1, j, rb[j], l)
				}
			}
			pix, _, _ := d.Image(i)
			if d.Labels[i] != int32(rb[k.use]) || !bytes.Equal(pix, rb[len(k.limits):]) {
				t.Fatalf("record %d differs from its bytes", i-1)
			}
		}
	})
}

// FuzzSTL10 parses an STL-10 image file and its label file: the image count
// must follow the file size, every pixel must land at its transposed place
// and every label must be 1..10 less one. An image is 27648 bytes, too large
// for the fuzzer to mutate and minimise quickly, so the image file is given
// by its size and a short pattern that fills it.
func FuzzSTL10(f *testing.F) {
	f.Add(int64(stl10Pixels), []byte{1, 2, 3}, []byte{1})
	f.Add(int64(2*stl10Pixels), []byte{7}, []byte{10, 3})
	f.Add(int64(stl10Pixels), []byte(nil), []byte{0})  // label 0
	f.Add(int64(stl10Pixels), []byte{9}, []byte{11})   // label 11
	f.Add(int64(stl10Pixels), []byte{5}, []byte{1, 2}) // a label too many
	f.Add(int64(1000), []byte{1}, []byte{1})           // truncated image
	f.Add(int64(0), []byte(nil), []byte(nil))          // empty
	f.Add(int64(17<<30), []byte{1}, []byte{1})         // over MaxBytes
	f.Add(int64(-stl10Pixels), []byte{1}, []byte{1})   // no file has this size
	lim := Limits{MaxBytes: 4 * stl10Pixels}
	f.Fuzz(func(t *testing.T, size int64, fill, y []byte) {
		n, err := stl10CountSize("x.bin", size, lim)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "x.bin" {
				t.Fatalf("error %v is not a FormatError naming the file", err)
			}
			if size > 0 && size%stl10Pixels == 0 && size <= lim.MaxBytes {
				t.Fatalf("%d bytes refused: %v", size, err)
			}
			return
		}
		if n <= 0 || int64(n)*stl10Pixels != size || size > lim.MaxBytes {
			t.Fatalf("%d bytes counted as %d images", size, n)
		}
		x := make([]uint8, size)
		for i := range x {
			x[i] = byte(i*131 + i>>9)
			if len(fill) > 0 {
				x[i] ^= fill[i%len(fill)]
			}
		}
		pix := make([]uint8, len(x))
		stl10Transpose(pix, x)
		const plane = stl10Side * stl10Side
		for p := 0; p < 3*n; p++ {
			for row := 0; row < stl10Side; row++ {
				for col := 0; col < stl10Side; col++ {
					if pix[p*plane+row*stl10Side+col] != x[p*plane+col*stl10Side+row] {
						t.Fatalf("plane %d, pixel (%d, %d) not transposed", p, row, col)
					}
				}
			}
		}
		labels := make([]int32, n)
		err = parseSTL10Labels("y.bin", y, "x.bin", labels)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "y.bin" || fe.Offset < 0 || fe.Offset > int64(len(y)) {
				t.Fatalf("error %v is not a FormatError in the file", err)
			}
			return
		}
		if len(y) != n {
			t.Fatalf("%d labels accepted for %d images", len(y), n)
		}
		for i, l := range labels {
			if l < 0 || l > 9 || l != int32(y[i])-1 {
				t.Fatalf("label %d = %d from byte %d", i, l, y[i])
			}
		}
	})
}

// FuzzTinyImageNetAnnotations parses val_annotations.txt: a success gives one
// image per non-blank line, each a file directly in the images directory
// with a label of the class list.
func FuzzTinyImageNetAnnotations(f *testing.F) {
	f.Add([]byte("val_0.JPEG\tn01\t0\t0\t63\t63\nval_1.JPEG\tn03\t1\t2\t3\t4\n"))
	f.Add([]byte("val_0.png\tn01\n\nval_1.png\tn09\t0\n"))
	f.Add([]byte("val_0.png\n"))
	f.Add([]byte("../x.png\tn01\n"))
	f.Add([]byte("..\tn01\n"))
	f.Add([]byte(".\tn02\r\n"))
	f.Add([]byte("\n\n"))
	f.Add([]byte("a\\b\tn02"))
	classes := []string{"n01", "n02", "n03"}
	index := map[string]int32{"n01": 0, "n02": 1, "n03": 2}
	imagesDir := filepath.Join("root", "val", "images")
	f.Fuzz(func(t *testing.T, text []byte) {
		paths, labels, err := parseValAnnotations("ann.txt", text, index, imagesDir)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "ann.txt" || fe.Offset < 0 || fe.Offset > int64(len(text)) {
				t.Fatalf("error %v is not a FormatError in the file", err)
			}
			return
		}
		var lines [][]string
		for _, l := range strings.Split(string(text), "\n") {
			if fs := strings.Fields(l); len(fs) > 0 {
				lines = append(lines, fs)
			}
		}
		if len(paths) == 0 || len(paths) != len(labels) || len(paths) != len(lines) {
			t.Fatalf("%d paths, %d labels for %d lines", len(paths), len(labels), len(lines))
		}
		for i, p := range paths {
			if filepath.Dir(p) != imagesDir || filepath.Base(p) != lines[i][0] {
				t.Fatalf("line %d: path %q is not %q in %s", i, p, lines[i][0], imagesDir)
			}
			if labels[i] < 0 || int(labels[i]) >= len(classes) || classes[labels[i]] != lines[i][1] {
				t.Fatalf("line %d: label %d for class %q", i, labels[i], lines[i][1])
			}
		}
	})
}

// FuzzWnids parses wnids.txt and the class name files of CIFAR and STL-10:
// the names are the trimmed non-blank lines, wnids sorted and distinct, a
// class name file exactly as many as wanted.
func FuzzWnids(f *testing.F) {
	f.Add([]byte("n02\nn01\nn03\n"))
	f.Add([]byte("n01\n n01 \n"))
	f.Add([]byte("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n"))
	f.Add([]byte("a\r\nb\r\nc\r\nd\r\ne\r\nf\r\ng\r\nh\r\ni\r\nj"))
	f.Add([]byte("\n \t\n"))
	f.Add([]byte("two words\nx\u00a0\n"))
	const want = 10
	f.Fuzz(func(t *testing.T, b []byte) {
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if s := strings.TrimSpace(l); s != "" {
				lines = append(lines, s)
			}
		}
		ids, err := parseWnids("wnids.txt", b)
		sorted := slices.Sorted(slices.Values(lines))
		distinct := len(slices.Compact(slices.Clone(sorted))) == len(sorted)
		if (err == nil) != distinct {
			t.Fatalf("error %v for lines %q", err, lines)
		}
		if err == nil && !slices.Equal(ids, sorted) {
			t.Fatalf("ids %q, want %q", ids, sorted)
		}
		if err != nil && !strings.Contains(err.Error(), "wnids.txt") {
			t.Fatalf("error %v does not name the file", err)
		}
		names, err := parseClassNames("names.txt", b, want)
		if (err == nil) != (len(lines) == want) {
			t.Fatalf("%d names: error %v", len(lines), err)
		}
		if err == nil && !slices.Equal(names, lines) {
			t.Fatalf("names %q, want %q", names, lines)
		}
		if err != nil && !strings.Contains(err.Error(), "names.txt") {
			t.Fatalf("error %v does not name the file", err)
		}
	})
}

// FuzzDecodeImage decodes one png or jpeg file's bytes as an image folder
// does, with a small MaxPixels: a success has the size the header announces
// (or the size asked for) and a channel count of 1 or 3, and the pixel budget
// is given back whatever happens.
func FuzzDecodeImage(f *testing.F) {
	r := rand.New(rand.NewPCG(47, 48))
	enc := func(img image.Image, asJPEG bool) []byte {
		var b bytes.Buffer
		if asJPEG {
			jpeg.Encode(&b, img, &jpeg.Options{Quality: 75})
		} else {
			png.Encode(&b, img)
		}
		return b.Bytes()
	}
	gray := image.NewGray(image.Rect(0, 0, 5, 3))
	rgba := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	pal := image.NewPaletted(image.Rect(0, 0, 6, 2), color.Palette{color.Black, color.White})
	for _, img := range []*[]uint8{&gray.Pix, &rgba.Pix, &pal.Pix} {
		for i := range *img {
			(*img)[i] = uint8(r.UintN(2) * 255)
		}
	}
	for i := range pal.Pix {
		pal.Pix[i] &= 1
	}
	f.Add(enc(gray, false), false, uint8(0), false)
	f.Add(enc(rgba, false), false, uint8(70), true)
	f.Add(enc(pal, false), false, uint8(0), false)
	f.Add(enc(rgba, true), true, uint8(0), false)
	f.Add(enc(gray, true), true, uint8(99), false)
	f.Add(pngBomb(50000, 50000), false, uint8(0), false)
	f.Add(pngBomb(64, 65), false, uint8(0), false) // just over the fuzzing MaxPixels
	f.Add(jpegBomb(f, 65000, 65000), true, uint8(0), false)
	f.Add([]byte("\x89PNG\r\n\x1a\n garbage"), false, uint8(0), false)
	f.Add(enc(rgba, true)[:40], true, uint8(0), true)
	lim, _ := Limits{MaxPixels: 1 << 12}.resolve()
	f.Fuzz(func(t *testing.T, b []byte, asJPEG bool, size uint8, grayOut bool) {
		name := "x.png"
		if asJPEG {
			name = "x.jpg"
		}
		opt := FolderOptions{Gray: grayOut}
		if size >= 64 {
			opt.Height, opt.Width = 1+int(size%8), 1+int(size/8%8)
		}
		budget := newPixelBudget(lim.MaxPixels)
		pix, h, w, err := decodeImage(name, bytes.NewReader(b), opt, lim, budget)
		if budget.used != 0 {
			t.Fatalf("%d pixels of the budget not given back", budget.used)
		}
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		c := 3
		if grayOut {
			c = 1
		}
		if h <= 0 || w <= 0 || len(pix) != c*h*w {
			t.Fatalf("%d bytes for %dx%dx%d", len(pix), c, h, w)
		}
		if opt.Height > 0 {
			if h != opt.Height || w != opt.Width {
				t.Fatalf("%dx%d, asked for %dx%d", h, w, opt.Height, opt.Width)
			}
			return
		}
		var cfg image.Config
		if asJPEG {
			cfg, err = jpeg.DecodeConfig(bytes.NewReader(b))
		} else {
			cfg, err = png.DecodeConfig(bytes.NewReader(b))
		}
		if err != nil || cfg.Width != w || cfg.Height != h || int64(w*h) > lim.MaxPixels {
			t.Fatalf("decoded %dx%d, header %dx%d (%v), MaxPixels %d", w, h, cfg.Width, cfg.Height, err, lim.MaxPixels)
		}
	})
}
