package data

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// bitWriter packs values least significant bit first, as VP8L reads them.
type bitWriter struct {
	buf  []byte
	nbit int
}

func (w *bitWriter) put(v uint32, n int) {
	for k := range n {
		if w.nbit%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		w.buf[len(w.buf)-1] |= byte(v>>k&1) << (w.nbit % 8)
		w.nbit++
	}
}

// losslessWebP returns a w x 1 lossless WebP whose pixels are (r, greens[x],
// b) and opaque. The VP8L stream has no transform, no color cache and no
// meta prefix codes; its five prefix codes are "simple" ones: green holds the
// two symbols of greens (greens[0] < greens[1], so a pixel's 1-bit code is
// its index in greens), red, blue and alpha one symbol each (0 bits a pixel),
// distance one symbol (unused).
func losslessWebP(width int, r, b uint8, greens [2]uint8, pick []int) []byte {
	var bw bitWriter
	bw.put(0x2f, 8)                 // VP8L signature
	bw.put(uint32(width-1), 14)     // width - 1
	bw.put(0, 14)                   // height - 1
	bw.put(0, 1)                    // alpha is not used
	bw.put(0, 3)                    // version 0
	bw.put(0, 1)                    // no transform
	bw.put(0, 1)                    // no color cache
	bw.put(0, 1)                    // no meta prefix codes
	simple := func(syms ...uint8) { // a simple prefix code of 8-bit symbols
		bw.put(1, 1) // simple code
		bw.put(uint32(len(syms)-1), 1)
		bw.put(1, 1) // the first symbol has 8 bits
		for _, s := range syms {
			bw.put(uint32(s), 8)
		}
	}
	simple(greens[0], greens[1])
	simple(r)
	simple(b)
	simple(255)
	simple(0)
	for _, p := range pick {
		bw.put(uint32(p), 1)
	}
	chunk := bw.buf
	var out bytes.Buffer
	pad := len(chunk) % 2
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(4+8+len(chunk)+pad))
	out.WriteString("WEBPVP8L")
	binary.Write(&out, binary.LittleEndian, uint32(len(chunk)))
	out.Write(chunk)
	if pad == 1 {
		out.WriteByte(0)
	}
	return out.Bytes()
}

// TestImageFolderFormats reads one image of each format and finds the pixels
// written.
func TestImageFolderFormats(t *testing.T) {
	root := t.TempDir()
	const h, w = 3, 4
	src := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*37 + 11)
	}
	for i := 3; i < len(src.Pix); i += 4 {
		src.Pix[i] = 255 // opaque: BMP and TIFF may premultiply
	}
	want := make([]uint8, 3*h*w)
	for y := range h {
		for x := range w {
			c := src.NRGBAAt(x, y)
			want[y*w+x], want[h*w+y*w+x], want[2*h*w+y*w+x] = c.R, c.G, c.B
		}
	}
	write := func(name string, enc func(*bytes.Buffer) error) {
		var b bytes.Buffer
		must(t, enc(&b))
		must(t, os.MkdirAll(filepath.Join(root, "c"), 0o755))
		must(t, os.WriteFile(filepath.Join(root, "c", name), b.Bytes(), 0o644))
	}
	write("a.bmp", func(b *bytes.Buffer) error { return bmp.Encode(b, src) })
	write("b.BMP", func(b *bytes.Buffer) error { return bmp.Encode(b, src) })
	write("c.tif", func(b *bytes.Buffer) error { return tiff.Encode(b, src, nil) })
	write("d.TIFF", func(b *bytes.Buffer) error {
		return tiff.Encode(b, src, &tiff.Options{Compression: tiff.Deflate, Predictor: true})
	})
	pal := color.Palette{}
	for i := 0; i < len(src.Pix); i += 4 {
		pal = append(pal, color.NRGBA{src.Pix[i], src.Pix[i+1], src.Pix[i+2], 255})
	}
	pimg := image.NewPaletted(src.Rect, pal)
	for i := range pimg.Pix {
		pimg.Pix[i] = uint8(i)
	}
	write("e.gif", func(b *bytes.Buffer) error { return gif.Encode(b, pimg, nil) })
	pick := []int{0, 1, 1, 0}
	webpBytes := losslessWebP(4, 7, 200, [2]uint8{30, 240}, pick)
	write("f.WebP", func(b *bytes.Buffer) error { _, err := b.Write(webpBytes); return err })

	// The hand-made WebP is what x/image/webp itself reads.
	if img, err := webp.Decode(bytes.NewReader(webpBytes)); err != nil {
		t.Fatalf("webp: %v", err)
	} else if r, g, b, a := img.At(1, 0).RGBA(); r>>8 != 7 || g>>8 != 240 || b>>8 != 200 || a>>8 != 255 {
		t.Fatalf("webp pixel 1 = %d %d %d %d", r>>8, g>>8, b>>8, a>>8)
	}

	d, err := LoadImageFolder(root, FolderOptions{})
	must(t, err)
	if d.N != 6 || d.Sizes == nil {
		t.Fatalf("N=%d, sizes %v", d.N, d.Sizes)
	}
	for i, name := range []string{"a.bmp", "b.BMP", "c.tif", "d.TIFF", "e.gif"} {
		if got, gh, gw := d.Image(i); gh != h || gw != w || !bytes.Equal(got, want) {
			t.Errorf("%s: %dx%d %v, want %dx%d %v", name, gh, gw, got, h, w, want)
		}
	}
	wantWebP := make([]uint8, 3*4)
	for x, p := range pick {
		wantWebP[x], wantWebP[4+x], wantWebP[8+x] = 7, []uint8{30, 240}[p], 200
	}
	if got, gh, gw := d.Image(5); gh != 1 || gw != 4 || !slices.Equal(got, wantWebP) {
		t.Errorf("f.WebP: %dx%d %v, want 1x4 %v", gh, gw, got, wantWebP)
	}
}

// bmpHeader returns the 54-byte header of a 24-bit BMP of w x h pixels,
// with no pixels after it.
func bmpHeader(w, h int32) []byte {
	var b bytes.Buffer
	b.WriteString("BM")
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	le(uint32(54 + 3*int64(w)*int64(h)))                                // file size
	le(uint32(0))                                                       // reserved
	le(uint32(54))                                                      // offset of the pixels
	le(uint32(40))                                                      // BITMAPINFOHEADER
	le(w)                                                               // width
	le(h)                                                               // height
	le(uint16(1))                                                       // planes
	le(uint16(24))                                                      // bits per pixel
	le([6]uint32{0, uint32(3 * int64(w) * int64(h)), 2835, 2835, 0, 0}) // no compression, sizes, resolution, palette
	return b.Bytes()
}

// TestImageBombsFormats refuses BMP and TIFF headers that announce more
// pixels than Limits.MaxPixels before decoding them, in memory or streamed.
func TestImageBombsFormats(t *testing.T) {
	var tb bytes.Buffer
	must(t, tiff.Encode(&tb, image.NewGray(image.Rect(0, 0, 30, 20)), nil))
	for _, tc := range []struct {
		file string
		data []byte
		opt  FolderOptions
		msg  string
	}{
		{"bomb.bmp", bmpHeader(50000, 50000), FolderOptions{Height: 8, Width: 8}, "50000x50000 = 2500000000 pixels"},
		{"bomb.bmp", bmpHeader(50000, 50000), FolderOptions{Height: 8, Width: 8, Stream: true}, "50000x50000 = 2500000000 pixels"},
		{"small.tif", tb.Bytes(), FolderOptions{Limits: Limits{MaxPixels: 599}}, "30x20 = 600 pixels, more than the 599 allowed"},
		{"small.tif", tb.Bytes(), FolderOptions{Limits: Limits{MaxPixels: 599}, Stream: true}, "30x20 = 600 pixels, more than the 599 allowed"},
	} {
		root := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(root, "a"), 0o755))
		must(t, os.WriteFile(filepath.Join(root, "a", tc.file), tc.data, 0o644))
		var err error
		alloc := allocDuring(func() { _, err = LoadImageFolder(root, tc.opt) })
		if err == nil || !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), tc.msg) ||
			!strings.Contains(err.Error(), "Limits.MaxPixels") {
			t.Errorf("%s %+v: got %v, want %q", tc.file, tc.opt, err, tc.msg)
		}
		if alloc > maxTestAlloc {
			t.Errorf("%s: %d bytes allocated to refuse it", tc.file, alloc)
		}
	}
}

// TestImageToCHWFastPaths checks the conversions of RGBA and paletted images
// against color.NRGBAModel, pixel by pixel.
func TestImageToCHWFastPaths(t *testing.T) {
	rgba := image.NewRGBA(image.Rect(2, 1, 9, 6))
	for i := 0; i < len(rgba.Pix); i += 4 {
		a := uint8(i * 13)
		if i%12 == 0 {
			a = 255
		}
		for c := range 3 { // premultiplied: a channel is at most alpha
			rgba.Pix[i+c] = uint8(uint32(i*7+c*50) % (uint32(a) + 1))
		}
		rgba.Pix[i+3] = a
	}
	pal := image.NewPaletted(image.Rect(0, 0, 5, 4), color.Palette{color.RGBA{10, 20, 30, 255}, color.RGBA{100, 50, 20, 128}, color.Gray{77}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 3)
	}
	for _, img := range []image.Image{rgba, pal} {
		for _, gray := range []bool{false, true} {
			got, h, w := imageToCHW(img, gray)
			// The general path: an image type without a fast path.
			want, _, _ := imageToCHW(struct{ image.Image }{img}, gray)
			if b := img.Bounds(); h != b.Dy() || w != b.Dx() || !slices.Equal(got, want) {
				t.Errorf("%T gray=%v: %v, want %v", img, gray, got, want)
			}
		}
	}
}
