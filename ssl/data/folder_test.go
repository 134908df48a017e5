package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writePNG writes a random NRGBA image and returns its CHW RGB bytes.
func writePNG(t *testing.T, path string, h, w int, r *rand.Rand) []uint8 {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	chw := make([]uint8, 3*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{uint8(r.UintN(256)), uint8(r.UintN(256)), uint8(r.UintN(256)), uint8(r.UintN(256))}
			img.SetNRGBA(x, y, c)
			chw[y*w+x], chw[h*w+y*w+x], chw[2*h*w+y*w+x] = c.R, c.G, c.B
		}
	}
	writeImage(t, path, img)
	return chw
}

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	var b bytes.Buffer
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		must(t, png.Encode(&b, img))
	default:
		must(t, jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}))
	}
	must(t, os.WriteFile(path, b.Bytes(), 0o644))
}

// decodeRef decodes a file with the standard library and converts it pixel
// by pixel through color.RGBA64 (alpha undone), as a check of the fast paths.
func decodeRef(t *testing.T, path string) ([]uint8, int, int) {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	img, _, err := image.Decode(f)
	must(t, err)
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	out := make([]uint8, 3*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			un := func(v uint32) uint8 {
				if a == 0 {
					return 0
				}
				return uint8((v * 0xffff / a) >> 8)
			}
			out[y*w+x], out[h*w+y*w+x], out[2*h*w+y*w+x] = un(r), un(g), un(bl)
		}
	}
	return out, h, w
}

func TestLoadImageFolder(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	root := t.TempDir()
	a := writePNG(t, filepath.Join(root, "cat", "a.png"), 5, 7, r)
	b := writePNG(t, filepath.Join(root, "cat", "sub", "b.PNG"), 5, 7, r)
	// A gray PNG, a paletted PNG and a JPEG.
	g := image.NewGray(image.Rect(0, 0, 7, 5))
	for i := range g.Pix {
		g.Pix[i] = uint8(r.UintN(256))
	}
	writeImage(t, filepath.Join(root, "emu", "g.png"), g)
	pal := image.NewPaletted(image.Rect(0, 0, 7, 5), color.Palette{color.RGBA{10, 20, 30, 255}, color.RGBA{200, 100, 0, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(r.UintN(2))
	}
	writeImage(t, filepath.Join(root, "emu", "p.png"), pal)
	rgba := image.NewRGBA(image.Rect(0, 0, 7, 5))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(r.UintN(256))
	}
	writeImage(t, filepath.Join(root, "dog", "x.JPEG"), rgba)
	must(t, os.WriteFile(filepath.Join(root, "dog", "notes.txt"), []byte("not an image"), 0o644))
	writePNG(t, filepath.Join(root, ".hidden", "z.png"), 5, 7, r)
	writePNG(t, filepath.Join(root, "dog", ".cache", "z.png"), 5, 7, r)
	must(t, os.WriteFile(filepath.Join(root, "README"), []byte("a file at the top"), 0o644))

	d, err := LoadImageFolder(root, FolderOptions{Workers: 3})
	must(t, err)
	must(t, d.Validate())
	if !slices.Equal(d.ClassNames, []string{"cat", "dog", "emu"}) || d.N != 5 || d.H != 5 || d.W != 7 || d.C != 3 {
		t.Fatalf("got classes %v, N=%d, %dx%dx%d", d.ClassNames, d.N, d.C, d.H, d.W)
	}
	if !slices.Equal(d.Labels, []int32{0, 0, 1, 2, 2}) {
		t.Fatalf("labels %v", d.Labels)
	}
	files := []string{"cat/a.png", "cat/sub/b.PNG", "dog/x.JPEG", "emu/g.png", "emu/p.png"}
	for i, f := range files {
		want, _, _ := decodeRef(t, filepath.Join(root, f))
		got, _, _ := d.Image(i)
		for k := range want {
			if diff := int(got[k]) - int(want[k]); diff < -1 || diff > 1 { // YCbCr rounding may differ by 1
				t.Fatalf("%s: byte %d = %d, want %d", f, k, got[k], want[k])
			}
		}
	}
	if got, _, _ := d.Image(0); !bytes.Equal(got, a) {
		t.Error("cat/a.png: not the RGB written (alpha must be dropped, not applied)")
	}
	if got, _, _ := d.Image(1); !bytes.Equal(got, b) {
		t.Error("cat/sub/b.PNG: not the RGB written")
	}

	// One channel: the luma.
	gd, err := LoadImageFolder(root, FolderOptions{Gray: true})
	must(t, err)
	if gd.C != 1 {
		t.Fatalf("gray: %d channels", gd.C)
	}
	for i := range 35 {
		want := math.Round(0.299*float64(a[i]) + 0.587*float64(a[35+i]) + 0.114*float64(a[70+i]))
		if float64(gd.Pixels[i]) != want {
			t.Fatalf("gray pixel %d = %d, want %v", i, gd.Pixels[i], want)
		}
	}
	if got, _, _ := gd.Image(3); !bytes.Equal(got, g.Pix) {
		t.Error("a gray PNG read as gray is not its own pixels")
	}

	// Fixed size: the centred window with the target's ratio, resized.
	fd, err := LoadImageFolder(root, FolderOptions{Height: 4, Width: 4})
	must(t, err)
	if fd.H != 4 || fd.W != 4 || len(fd.Pixels) != 5*48 {
		t.Fatalf("fixed size: %dx%d, %d bytes", fd.H, fd.W, len(fd.Pixels))
	}
	// 5x7 to a square: the central 5x5 window (columns 1..5).
	want := resizedCrop(ImageFromBytes(a, 3, 5, 7), 0, 1, 5, 5, 4, 4)
	for i, v := range want.Pix {
		if w := uint8(math.Round(float64(v) * 255)); fd.Pixels[i] != w {
			t.Fatalf("fixed size: byte %d = %d, want %d", i, fd.Pixels[i], w)
		}
	}
}

func TestImageFolderVariedSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(73, 74))
	root := t.TempDir()
	a := writePNG(t, filepath.Join(root, "a", "1.png"), 3, 4, r)
	b := writePNG(t, filepath.Join(root, "a", "2.png"), 6, 2, r)
	c := writePNG(t, filepath.Join(root, "b", "1.png"), 5, 5, r)
	d, err := LoadImageFolder(root, FolderOptions{})
	must(t, err)
	must(t, d.Validate())
	if d.H != 0 || d.W != 0 || len(d.Sizes) != 3 {
		t.Fatalf("varied sizes: H=%d W=%d sizes %v", d.H, d.W, d.Sizes)
	}
	for i, want := range [][]uint8{a, b, c} {
		got, h, w := d.Image(i)
		if !bytes.Equal(got, want) || h*w*3 != len(want) {
			t.Fatalf("image %d: %dx%d, pixels equal %v", i, h, w, bytes.Equal(got, want))
		}
	}
	sub := d.Subset([]int{2, 0})
	must(t, sub.Validate())
	if got, _, _ := sub.Image(0); !bytes.Equal(got, c) || sub.Labels[0] != 1 || sub.Labels[1] != 0 {
		t.Fatal("Subset of a varied data set")
	}
}

func TestImageFolderErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(75, 76))
	for _, tc := range []struct {
		name  string
		setup func(root string)
		opt   FolderOptions
		msg   string
	}{
		{"empty class", func(root string) {
			writePNG(t, filepath.Join(root, "a", "1.png"), 3, 3, r)
			must(t, os.Mkdir(filepath.Join(root, "b"), 0o755))
		}, FolderOptions{}, "holds no image (png, jpeg"},
		{"no classes", func(root string) {}, FolderOptions{}, "no class directories"},
		{"corrupt png", func(root string) {
			must(t, os.MkdirAll(filepath.Join(root, "a"), 0o755))
			must(t, os.WriteFile(filepath.Join(root, "a", "bad.png"), []byte("\x89PNG\r\n\x1a\n garbage"), 0o644))
		}, FolderOptions{}, "bad.png: cannot decode"},
		{"truncated jpeg", func(root string) {
			p := filepath.Join(root, "a", "t.jpg")
			writeImage(t, p, image.NewGray(image.Rect(0, 0, 16, 16)))
			b, _ := os.ReadFile(p)
			must(t, os.WriteFile(p, b[:len(b)/2], 0o644))
		}, FolderOptions{}, "t.jpg: cannot decode"},
		{"ppm", func(root string) {
			writePNG(t, filepath.Join(root, "a", "1.png"), 3, 3, r)
			must(t, os.WriteFile(filepath.Join(root, "a", "2.ppm"), []byte("P6"), 0o644))
		}, FolderOptions{}, "2.ppm: unsupported image format (png, jpeg, gif, bmp, tiff and webp are read)"},
		{"corrupt bmp", func(root string) {
			writePNG(t, filepath.Join(root, "a", "1.png"), 3, 3, r)
			must(t, os.WriteFile(filepath.Join(root, "a", "2.bmp"), []byte("BM"), 0o644))
		}, FolderOptions{}, "2.bmp: cannot decode"},
		{"half a size", func(root string) { writePNG(t, filepath.Join(root, "a", "1.png"), 3, 3, r) }, FolderOptions{Height: 4}, "want both positive"},
	} {
		root := t.TempDir()
		tc.setup(root)
		if _, err := LoadImageFolder(root, tc.opt); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.msg)
		}
	}
	if _, err := LoadImageFolder(filepath.Join(t.TempDir(), "missing"), FolderOptions{}); err == nil {
		t.Error("missing root: no error")
	}
}

func TestLoadTinyImageNet(t *testing.T) {
	r := rand.New(rand.NewPCG(77, 78))
	dir := t.TempDir()
	wnids := []string{"n02", "n01", "n03"}
	must(t, os.WriteFile(filepath.Join(dir, "wnids.txt"), []byte(strings.Join(wnids, "\n")+"\n"), 0o644))
	train := map[string][][]uint8{}
	for _, w := range wnids {
		for k := range 2 {
			p := filepath.Join(dir, "train", w, "images", w+"_"+string(rune('0'+k))+".png")
			train[w] = append(train[w], writePNG(t, p, 8, 8, r))
		}
		must(t, os.WriteFile(filepath.Join(dir, "train", w, w+"_boxes.txt"), []byte("x\t0\t0\t8\t8\n"), 0o644))
	}
	var ann strings.Builder
	var val [][]uint8
	valLabels := []int32{2, 0, 1, 0}
	for i, l := range valLabels {
		name := "val_" + string(rune('0'+i)) + ".png"
		val = append(val, writePNG(t, filepath.Join(dir, "val", "images", name), 8, 8, r))
		ann.WriteString(name + "\t" + []string{"n01", "n02", "n03"}[l] + "\t0\t0\t8\t8\n")
	}
	must(t, os.WriteFile(filepath.Join(dir, "val", "val_annotations.txt"), []byte(ann.String()), 0o644))

	d, err := LoadTinyImageNet(dir, "train", FolderOptions{})
	must(t, err)
	if !slices.Equal(d.ClassNames, []string{"n01", "n02", "n03"}) || d.N != 6 || d.H != 8 {
		t.Fatalf("train: classes %v N=%d", d.ClassNames, d.N)
	}
	for i := 0; i < 6; i++ {
		got, _, _ := d.Image(i)
		if !bytes.Equal(got, train[d.ClassNames[d.Labels[i]]][i%2]) {
			t.Fatalf("train image %d", i)
		}
	}
	v, err := LoadTinyImageNet(dir, "val", FolderOptions{Height: 8, Width: 8})
	must(t, err)
	if !slices.Equal(v.Labels, valLabels) || v.NumClasses != 3 {
		t.Fatalf("val labels %v", v.Labels)
	}
	for i := range val {
		if got, _, _ := v.Image(i); !bytes.Equal(got, val[i]) {
			t.Fatalf("val image %d", i)
		}
	}

	// Broken annotations.
	for _, tc := range []struct {
		ann    string
		offset int64
		msg    string
	}{
		{"val_0.png\tn01\n\nval_1.png\tn09\t0\n", 15, "line 3: unknown class \"n09\""},
		{"val_0.png\n", 0, "line 1 has 1 fields"},
		{"../x.png\tn01\n", 0, "directory part"},
		{"val_0.png\tn01\n..\tn02\n", 14, "line 2: file name \"..\" has a directory part"},
		{".\tn02\n", 0, "directory part"},
		{"\n\n", 0, "no annotations"},
	} {
		must(t, os.WriteFile(filepath.Join(dir, "val", "val_annotations.txt"), []byte(tc.ann), 0o644))
		_, err := LoadTinyImageNet(dir, "val", FolderOptions{})
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Offset != tc.offset || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("annotations %q: got %v, want offset %d and %q", tc.ann, err, tc.offset, tc.msg)
		}
	}
	must(t, os.WriteFile(filepath.Join(dir, "val", "val_annotations.txt"), []byte("val_9.png\tn01\n"), 0o644))
	if _, err := LoadTinyImageNet(dir, "val", FolderOptions{}); err == nil || !strings.Contains(err.Error(), "val_9.png") {
		t.Errorf("missing image: %v", err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "wnids.txt"), []byte("n01\nn02\n"), 0o644))
	if _, err := LoadTinyImageNet(dir, "train", FolderOptions{}); err == nil || !strings.Contains(err.Error(), "wnids.txt") {
		t.Errorf("wnids mismatch: %v", err)
	}
	if _, err := LoadTinyImageNet(dir, "test", FolderOptions{}); err == nil {
		t.Error("unknown split accepted")
	}
}

// TestImageFolderClasses loads a validation folder with the training set's
// class list: labels follow the list, whatever directories the folder has.
func TestImageFolderClasses(t *testing.T) {
	r := rand.New(rand.NewPCG(79, 80))
	root := t.TempDir()
	for _, c := range []string{"a", "b", "c"} {
		writePNG(t, filepath.Join(root, "train", c, "1.png"), 4, 4, r)
	}
	writePNG(t, filepath.Join(root, "val", "a", "1.png"), 4, 4, r)
	cPix := writePNG(t, filepath.Join(root, "val", "c", "1.png"), 4, 4, r)
	writePNG(t, filepath.Join(root, "extra", "a", "1.png"), 4, 4, r)
	writePNG(t, filepath.Join(root, "extra", "d", "1.png"), 4, 4, r)
	train, err := LoadImageFolder(filepath.Join(root, "train"), FolderOptions{})
	must(t, err)

	// Without a class list, val/ numbers its own two directories.
	v, err := LoadImageFolder(filepath.Join(root, "val"), FolderOptions{})
	must(t, err)
	if !slices.Equal(v.Labels, []int32{0, 1}) || v.NumClasses != 2 {
		t.Fatalf("val without Classes: labels %v, %d classes", v.Labels, v.NumClasses)
	}

	for _, tc := range []struct {
		name    string
		dir     string
		classes []string
		labels  []int32
		c       int // index of val/c/1.png in the data set, or -1
		msg     string
	}{
		{"train's classes", "val", train.ClassNames, []int32{0, 2}, 1, ""},
		{"list in another order", "val", []string{"c", "b", "a"}, []int32{0, 2}, 0, ""},
		{"list with classes absent from train", "val", []string{"z", "a", "c", "y"}, []int32{1, 2}, 1, ""},
		{"directory not in the list", "extra", train.ClassNames, nil, -1,
			"class directory " + filepath.Join(root, "extra", "d") + ` is not one of the 3 known classes: "a", "b", "c"`},
		{"repeated class", "val", []string{"a", "c", "a"}, nil, -1, `class "a" is repeated`},
		{"empty class name", "val", []string{"a", "", "c"}, nil, -1, "class 1 of FolderOptions.Classes is an empty name"},
	} {
		d, err := LoadImageFolder(filepath.Join(root, tc.dir), FolderOptions{Classes: tc.classes})
		if tc.msg != "" {
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: got %v, want %q", tc.name, err, tc.msg)
			}
			continue
		}
		must(t, err)
		must(t, d.Validate())
		if !slices.Equal(d.Labels, tc.labels) || d.NumClasses != len(tc.classes) || !slices.Equal(d.ClassNames, tc.classes) {
			t.Errorf("%s: labels %v, classes %v; want %v, %v", tc.name, d.Labels, d.ClassNames, tc.labels, tc.classes)
			continue
		}
		if got, _, _ := d.Image(tc.c); !bytes.Equal(got, cPix) || d.ClassNames[d.Labels[tc.c]] != "c" {
			t.Errorf("%s: image %d is not val/c/1.png labelled c", tc.name, tc.c)
		}
	}

	// The list is copied, not shared with the caller.
	list := []string{"a", "b", "c"}
	d, err := LoadImageFolder(filepath.Join(root, "val"), FolderOptions{Classes: list})
	must(t, err)
	list[0] = "changed"
	if d.ClassNames[0] != "a" {
		t.Error("ClassNames shares the caller's Classes slice")
	}
	// With a long list the error names the first classes only.
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("k%02d", i))
	}
	if _, err := LoadImageFolder(filepath.Join(root, "val"), FolderOptions{Classes: many}); err == nil ||
		!strings.Contains(err.Error(), `"k19" and 10 more`) {
		t.Errorf("long class list: got %v", err)
	}
}

// TestTinyImageNetClasses checks FolderOptions.Classes with Tiny ImageNet:
// both splits are labelled by the list, and wnids.txt must agree with it.
func TestTinyImageNetClasses(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "wnids.txt"), []byte("n01\nn02\n"), 0o644))
	for _, w := range []string{"n01", "n02"} {
		writePNG(t, filepath.Join(dir, "train", w, "images", w+"_0.png"), 4, 4, r)
	}
	writePNG(t, filepath.Join(dir, "val", "images", "v0.png"), 4, 4, r)
	writePNG(t, filepath.Join(dir, "val", "images", "v1.png"), 4, 4, r)
	must(t, os.WriteFile(filepath.Join(dir, "val", "val_annotations.txt"), []byte("v0.png\tn02\nv1.png\tn01\n"), 0o644))
	for _, tc := range []struct {
		name    string
		split   string
		classes []string
		labels  []int32
		msg     string
	}{
		{"train, wnids order", "train", nil, []int32{0, 1}, ""},
		{"train, list reversed", "train", []string{"n02", "n01"}, []int32{0, 1}, ""},
		{"train, list differs from wnids", "train", []string{"n02", "n01", "n03"}, nil, "wnids.txt differ"},
		{"val, wnids order", "val", nil, []int32{1, 0}, ""},
		{"val, list reversed", "val", []string{"n02", "n01"}, []int32{0, 1}, ""},
		{"val, class missing from the list", "val", []string{"n01"}, nil, `line 1: unknown class "n02"`},
	} {
		d, err := LoadTinyImageNet(dir, tc.split, FolderOptions{Classes: tc.classes})
		if tc.msg != "" {
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: got %v, want %q", tc.name, err, tc.msg)
			}
			continue
		}
		must(t, err)
		if !slices.Equal(d.Labels, tc.labels) {
			t.Errorf("%s: labels %v, want %v", tc.name, d.Labels, tc.labels)
		}
		if tc.classes != nil && !slices.Equal(d.ClassNames, tc.classes) {
			t.Errorf("%s: class names %v, want %v", tc.name, d.ClassNames, tc.classes)
		}
	}
}
