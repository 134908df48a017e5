package data

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// maxTestAlloc is the most a reader may allocate while it rejects a file
// that announces gigabytes.
const maxTestAlloc = 64 << 20

// allocDuring returns the bytes allocated on the heap while f runs.
func allocDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hiddenSize hides the Len, Stat and Seek methods of a reader, as a pipe
// would, so that the size of the stream is unknown.
type hiddenSize struct{ r io.Reader }

func (h hiddenSize) Read(p []byte) (int, error) { return h.r.Read(p) }

// gzipIDX returns a gzip stream (fastest level) of a uint8 IDX header with
// the given dims followed by zeros bytes of zeros, however many the dims
// announce.
func gzipIDX(dims []int, zeros int) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	zw.Write(idxBytes(IDXUint8, dims, nil))
	block := make([]byte, 1<<20)
	for zeros > 0 {
		n := min(zeros, len(block))
		zw.Write(block[:n])
		zeros -= n
	}
	zw.Close()
	return out.Bytes()
}

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngBomb returns a PNG of a few dozen bytes whose IHDR announces a w x h
// 8-bit RGBA image: an IDAT chunk that holds one filter byte and an IEND.
func pngBomb(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // bit depth, colour type RGBA
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte{0})
	zw.Close()
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// jpegBomb returns a small baseline JPEG whose SOF0 segment is rewritten to
// announce a w x h image.
func jpegBomb(t testing.TB, w, h uint16) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	i := bytes.Index(out, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker in the encoded JPEG")
	}
	// FF C0, length (2), precision (1), height (2), width (2).
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

func TestReadIDXHeaderOverflow(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  IDXType
		dims []int
	}{
		// The product wraps to a negative number: a 16-byte file.
		{"wraps negative", IDXUint8, []int{0xffffffff, 0xffffffff, 1}},
		// The product wraps to exactly 0, with no data after the header.
		{"wraps to zero", IDXUint8, []int{262144, 262144, 1 << 28}},
		{"float64 wraps", IDXFloat64, []int{1 << 31, 1 << 31, 1 << 31, 1 << 31}},
		{"many dims", IDXInt32, []int{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
		{"just over the ceiling", IDXUint8, []int{1 << 17, 1 << 17, 1<<20 + 1}},
	} {
		file := idxBytes(tc.typ, tc.dims, nil)
		for _, gz := range []bool{false, true} {
			in := file
			if gz {
				in = gzipBytes(file)
			}
			for _, hide := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(in)
				if hide {
					r = hiddenSize{r}
				}
				x, err := ReadIDX(r, "hdr")
				var fe *FormatError
				if !errors.As(err, &fe) || !strings.Contains(fe.Msg, "larger than 17179869184 bytes (Limits.MaxBytes)") {
					t.Errorf("%s gz=%v hidden=%v: got %v, %v; want the data larger than the ceiling", tc.name, gz, hide, x, err)
				}
			}
		}
		// Through the loader, which knows the file's size.
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte"), file, 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), idxBytes(IDXUint8, []int{1}, []byte{0}), 0o644))
		if d, err := LoadFashionMNIST(dir, true); err == nil {
			t.Errorf("%s: LoadFashionMNIST accepted dims %v: %d images", tc.name, tc.dims, d.N)
		}
	}
	// A lower ceiling is obeyed, and the dimension that crosses it named.
	_, err := ReadIDXWithOptions(bytes.NewReader(idxBytes(IDXInt16, []int{10, 10, 10}, make([]byte, 2000))), "small",
		IDXOptions{Limits: Limits{MaxBytes: 1000}})
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Offset != 12 || !strings.Contains(fe.Msg, "dimension 2 = 10 makes the data larger than 1000 bytes") {
		t.Errorf("MaxBytes 1000: got %v", err)
	}
}

// TestReadIDXBombs checks that a file announcing gigabytes is refused before
// they are allocated: a gzip stream far smaller than MaxRatio allows for what
// it announces, and a plain file far shorter than its header says.
func TestReadIDXBombs(t *testing.T) {
	bigDims := []int{8192, 1024, 1024} // 8 GiB of uint8
	for _, tc := range []struct {
		name string
		in   []byte
		opt  IDXOptions
		msg  string
	}{
		{"gzip announcing 8 GiB, holding 64 MiB", gzipIDX(bigDims, 64<<20), IDXOptions{}, "more than 100 times the"},
		{"gzip announcing 8 GiB, holding nothing", gzipIDX(bigDims, 0), IDXOptions{}, "more than 100 times the"},
		{"gzip announcing 1 GiB", gzipIDX([]int{1024, 1024, 1024}, 1<<20), IDXOptions{}, "more than 100 times the"},
		{"gzip, 64 MiB of zeros as announced", gzipIDX([]int{64, 1024, 1024}, 64<<20), IDXOptions{}, "more than 100 times the"},
		{"gzip under a lower ceiling", gzipIDX([]int{64, 1024, 1024}, 64<<20), IDXOptions{Limits: Limits{MaxBytes: 1 << 20, MaxRatio: 1e6}}, "larger than 1048576 bytes"},
		{"plain 16-byte header announcing 8 GiB", idxBytes(IDXUint8, bigDims, nil), IDXOptions{}, "file truncated reading data: the header announces 8589934592 bytes"},
		{"plain, explicit size", idxBytes(IDXUint8, bigDims, make([]byte, 100)), IDXOptions{Size: 116}, "the file holds 100"},
	} {
		for _, hide := range []bool{false, true} {
			if hide && !strings.HasPrefix(tc.name, "gzip") {
				continue // a plain stream of unknown size is read as it comes
			}
			var r io.Reader = bytes.NewReader(tc.in)
			if hide {
				r = hiddenSize{r}
			}
			var err error
			alloc := allocDuring(func() { _, err = ReadIDXWithOptions(r, "bomb.gz", tc.opt) })
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != "bomb.gz" || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("%s hidden=%v: got %v, want %q", tc.name, hide, err, tc.msg)
			}
			if alloc > maxTestAlloc {
				t.Errorf("%s hidden=%v: %d bytes allocated to refuse it", tc.name, hide, alloc)
			}
		}
	}
	// A real ratio of about 800 is read when the caller allows it.
	in := gzipIDX([]int{64, 1024, 1024}, 64<<20)
	x, err := ReadIDXWithOptions(bytes.NewReader(in), "zeros.gz", IDXOptions{Limits: Limits{MaxRatio: 2000}})
	must(t, err)
	if len(x.Data) != 64<<20 {
		t.Errorf("MaxRatio 2000: %d bytes read", len(x.Data))
	}

	// The same bomb on disk, through the loader.
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), gzipIDX([]int{10_000_000, 28, 28}, 8<<20), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), idxBytes(IDXUint8, []int{1}, []byte{0}), 0o644))
	alloc := allocDuring(func() { _, err = LoadFashionMNIST(dir, true) })
	if err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") || !strings.Contains(err.Error(), "7840000000 bytes of data") {
		t.Errorf("LoadFashionMNIST of a bomb: got %v", err)
	}
	if alloc > maxTestAlloc {
		t.Errorf("LoadFashionMNIST of a bomb: %d bytes allocated", alloc)
	}
}

// TestReadIDXSizeSources reads the same streams through readers that know
// their size in each way ReadIDX can ask, and through one that does not: the
// results and the errors must be the same.
func TestReadIDXSizeSources(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	good := idxBytes(IDXUint8, []int{4, 3, 5}, randBytes(r, 60))
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"good", good},
		{"good gzip", gzipBytes(good)},
		{"truncated", good[:40]},
		{"truncated gzip", gzipBytes(good[:40])},
		{"trailing", append(append([]byte(nil), good...), 1, 2)},
		{"trailing gzip", gzipBytes(append(append([]byte(nil), good...), 1, 2))},
		{"header only", good[:16]},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		// The file starts with a prefix that the reader must not count.
		must(t, os.WriteFile(path, append([]byte("prefix"), tc.in...), 0o644))
		f, err := os.Open(path)
		must(t, err)
		_, err = f.Seek(6, io.SeekStart)
		must(t, err)
		want, wantErr := ReadIDX(hiddenSize{bytes.NewReader(tc.in)}, "f")
		for _, src := range []struct {
			name string
			r    io.Reader
			opt  IDXOptions
		}{
			{"Len", bytes.NewReader(tc.in), IDXOptions{}},
			{"Stat and Seek", f, IDXOptions{}},
			{"explicit Size", hiddenSize{bytes.NewReader(tc.in)}, IDXOptions{Size: int64(len(tc.in))}},
		} {
			if sz := streamSize(src.r); src.opt.Size == 0 && sz != int64(len(tc.in)) {
				t.Errorf("%s via %s: size %d, want %d", tc.name, src.name, sz, len(tc.in))
			}
			got, err := ReadIDXWithOptions(src.r, "f", src.opt)
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Errorf("%s via %s: error %v, unknown size gives %v", tc.name, src.name, err, wantErr)
				continue
			}
			if err == nil && (!bytes.Equal(got.Data, want.Data) || got.Len() != want.Len()) {
				t.Errorf("%s via %s: data differ", tc.name, src.name)
			}
		}
		f.Close()
	}
}

// TestImageBombs checks that image files whose headers announce billions of
// pixels are refused from the header, before anything is decoded.
func TestImageBombs(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		data       []byte
		msg        string
	}{
		{"png 50000x50000", "bomb.png", pngBomb(50000, 50000), "50000x50000 = 2500000000 pixels"},
		{"png 2^31-1 wide", "wide.png", pngBomb(1<<31-1, 2), "pixels, more than"},
		{"jpeg 65000x65000", "bomb.jpg", jpegBomb(t, 65000, 65000), "65000x65000 = 4225000000 pixels"},
	} {
		root := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(root, "a"), 0o755))
		must(t, os.WriteFile(filepath.Join(root, "a", tc.file), tc.data, 0o644))
		var err error
		alloc := allocDuring(func() { _, err = LoadImageFolder(root, FolderOptions{Height: 8, Width: 8}) })
		if err == nil || !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), tc.msg) ||
			!strings.Contains(err.Error(), "Limits.MaxPixels") {
			t.Errorf("%s (%d bytes): got %v, want %q", tc.name, len(tc.data), err, tc.msg)
		}
		if alloc > maxTestAlloc {
			t.Errorf("%s: %d bytes allocated to refuse it", tc.name, alloc)
		}
	}
	// A lower MaxPixels refuses an ordinary image; the default reads it.
	r := rand.New(rand.NewPCG(33, 34))
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "a", "x.png"), 20, 30, r)
	writeImage(t, filepath.Join(root, "b", "y.jpg"), image.NewGray(image.Rect(0, 0, 30, 20)))
	if _, err := LoadImageFolder(root, FolderOptions{Limits: Limits{MaxPixels: 599}}); err == nil ||
		!strings.Contains(err.Error(), "30x20 = 600 pixels, more than the 599 allowed") {
		t.Errorf("MaxPixels 599: got %v", err)
	}
	d, err := LoadImageFolder(root, FolderOptions{Limits: Limits{MaxPixels: 600}, Workers: 2})
	must(t, err)
	if d.N != 2 || d.H != 20 || d.W != 30 {
		t.Errorf("MaxPixels 600: %d images of %dx%d", d.N, d.H, d.W)
	}
	// An image file larger than MaxBytes is not read.
	if _, err := LoadImageFolder(root, FolderOptions{Limits: Limits{MaxBytes: 100}}); err == nil ||
		!strings.Contains(err.Error(), "more than the 100 allowed (Limits.MaxBytes)") {
		t.Errorf("MaxBytes 100: got %v", err)
	}
}

// TestFileSizeLimits checks the readers whose sizes come from the files
// themselves: a file larger than a limit is refused from its size, before it
// is read. The large files are sparse.
func TestFileSizeLimits(t *testing.T) {
	sparse := func(t *testing.T, path string, size int64) {
		t.Helper()
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		f, err := os.Create(path)
		must(t, err)
		must(t, f.Truncate(size))
		must(t, f.Close())
	}
	r := rand.New(rand.NewPCG(35, 36))
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		load  func(dir string) error
		msg   string
	}{
		{"CIFAR batch of 17 GiB", func(t *testing.T, dir string) {
			sparse(t, filepath.Join(dir, "test_batch.bin"), 17<<30)
		}, func(dir string) error { _, err := LoadCIFAR10(dir, false); return err },
			"test_batch.bin: at byte offset 17179869184: the file holds 18253611008 bytes, more than the 17179869184 allowed (Limits.MaxBytes)"},
		{"CIFAR class names of 17 MiB", func(t *testing.T, dir string) {
			writeCIFAR(t, filepath.Join(dir, "test_batch.bin"), 1, []int{10}, r)
			sparse(t, filepath.Join(dir, "batches.meta.txt"), 17<<20)
		}, func(dir string) error { _, err := LoadCIFAR10(dir, false); return err },
			"batches.meta.txt: at byte offset 16777216: the file holds 17825792 bytes, more than the 16777216 allowed (Limits.MaxTextBytes)"},
		{"STL-10 images of 17 GiB", func(t *testing.T, dir string) {
			sparse(t, filepath.Join(dir, "train_X.bin"), 17<<30/stl10Pixels*stl10Pixels)
		}, func(dir string) error { _, err := LoadSTL10(dir, STL10Train); return err },
			"train_X.bin: at byte offset 17179869184: the file holds 18253596672 bytes"},
		{"STL-10 labels of 17 GiB", func(t *testing.T, dir string) {
			writeSTL10(t, dir, "train_X.bin", "", 1, r)
			sparse(t, filepath.Join(dir, "train_y.bin"), 17<<30)
		}, func(dir string) error { _, err := LoadSTL10(dir, STL10Train); return err },
			"train_y.bin: at byte offset 1: 18253611008 labels for the 1 images"},
		{"wnids.txt over MaxTextBytes", func(t *testing.T, dir string) {
			writePNG(t, filepath.Join(dir, "train", "n01", "images", "a.png"), 4, 4, r)
			must(t, os.WriteFile(filepath.Join(dir, "wnids.txt"), []byte(strings.Repeat("n01\n", 100)), 0o644))
		}, func(dir string) error {
			_, err := LoadTinyImageNet(dir, "train", FolderOptions{Limits: Limits{MaxTextBytes: 399}})
			return err
		}, "wnids.txt: at byte offset 399: the file holds 400 bytes, more than the 399 allowed (Limits.MaxTextBytes)"},
		{"annotations over MaxTextBytes", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "wnids.txt"), []byte("n01\n"), 0o644))
			sparse(t, filepath.Join(dir, "val", "val_annotations.txt"), 1000)
		}, func(dir string) error {
			_, err := LoadTinyImageNet(dir, "val", FolderOptions{Limits: Limits{MaxTextBytes: 999}})
			return err
		}, "val_annotations.txt: at byte offset 999: the file holds 1000 bytes"},
	} {
		dir := t.TempDir()
		tc.setup(t, dir)
		var err error
		alloc := allocDuring(func() { err = tc.load(dir) })
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.msg)
		}
		if alloc > maxTestAlloc {
			t.Errorf("%s: %d bytes allocated to refuse it", tc.name, alloc)
		}
	}
}

func TestLimitsResolve(t *testing.T) {
	def := DefaultLimits()
	for _, tc := range []struct {
		name string
		in   Limits
		want Limits
		err  bool
	}{
		{"zero takes the defaults", Limits{}, def, false},
		{"set fields are kept", Limits{MaxBytes: 5, MaxRatio: 2.5, MaxPixels: 7, MaxTextBytes: 9}, Limits{5, 2.5, 7, 9}, false},
		{"one field set", Limits{MaxPixels: 3}, Limits{def.MaxBytes, def.MaxRatio, 3, def.MaxTextBytes}, false},
		{"negative bytes", Limits{MaxBytes: -1}, Limits{}, true},
		{"negative ratio", Limits{MaxRatio: -1}, Limits{}, true},
		{"negative pixels", Limits{MaxPixels: -1}, Limits{}, true},
		{"negative text", Limits{MaxTextBytes: -1}, Limits{}, true},
	} {
		got, err := tc.in.resolve()
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("%s: got %+v, %v; want %+v, error %v", tc.name, got, err, tc.want, tc.err)
		}
		if !tc.err {
			continue
		}
		// Every entry point refuses negative limits.
		if _, err := ReadIDXWithOptions(bytes.NewReader(nil), "x", IDXOptions{Limits: tc.in}); err == nil {
			t.Errorf("%s: ReadIDXWithOptions accepted it", tc.name)
		}
		if _, err := LoadImageFolder(t.TempDir(), FolderOptions{Limits: tc.in}); err == nil || !strings.Contains(err.Error(), "limits") {
			t.Errorf("%s: LoadImageFolder: %v", tc.name, err)
		}
	}
	if def.MaxRatio < 50 || def.MaxPixels < 8192*8192 || def.MaxBytes < 3<<30 {
		t.Errorf("defaults %+v too tight for the data sets read", def)
	}
}

// TestPixelBudget runs many goroutines through a budget and checks that the
// pixels taken at one time never exceed it and that large requests are
// served among small ones.
func TestPixelBudget(t *testing.T) {
	const max = 1000
	b := newPixelBudget(max)
	var inUse, peak atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 37))
			for range 200 {
				n := int64(1 + r.IntN(50))
				if r.IntN(20) == 0 {
					n = max // a whole-budget image
				}
				b.acquire(n)
				now := inUse.Add(n)
				for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
				}
				runtime.Gosched()
				inUse.Add(-n)
				b.release(n)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > max || p == 0 {
		t.Errorf("peak %d pixels in use, budget %d", p, max)
	}
	if b.used != 0 {
		t.Errorf("%d pixels still taken", b.used)
	}
}

// TestFashionMNISTRealLimits reads the installed Fashion-MNIST files, when
// there are any, with the default limits through every size source, and
// checks that their compression ratio leaves a wide margin under MaxRatio.
func TestFashionMNISTRealLimits(t *testing.T) {
	dir := FashionMNISTDir()
	files := []string{"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"}
	if testing.Short() {
		files = files[:2]
	}
	found := 0
	for _, base := range files {
		x, path, err := readIDXFile(dir, base)
		if err != nil {
			if strings.Contains(err.Error(), "neither") {
				continue
			}
			t.Fatal(err)
		}
		found++
		raw, err := os.ReadFile(path)
		must(t, err)
		if strings.HasSuffix(path, ".gz") {
			ratio := float64(len(x.Data)+4+4*len(x.Dims)) / float64(len(raw))
			t.Logf("%s: %d bytes compressed to %d, ratio %.2f", path, len(x.Data), len(raw), ratio)
			if ratio > DefaultLimits().MaxRatio/10 {
				t.Errorf("%s: compression ratio %.1f, within a factor 10 of the default MaxRatio", path, ratio)
			}
		}
		y, err := ReadIDX(hiddenSize{bytes.NewReader(raw)}, path)
		must(t, err)
		if !bytes.Equal(x.Data, y.Data) || x.Len() != y.Len() {
			t.Errorf("%s: read differently when its size is unknown", path)
		}
	}
	if found == 0 {
		t.Skipf("Fashion-MNIST not installed in %s (run scripts/install-data.sh)", dir)
	}
	// The full loaders, as TestFashionMNISTReal checks their content.
	if _, err := LoadFashionMNIST(dir, false); err != nil {
		t.Fatal(err)
	}
}
