package data

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// FolderOptions says how LoadImageFolder and LoadTinyImageNet decode images.
type FolderOptions struct {
	// Height and Width, when both positive, make every image that size: the
	// largest centred window with the target's aspect ratio is resized to
	// Height x Width (antialiased bilinear). When both are 0 each image
	// keeps its size; if they all agree the data set has that fixed size.
	Height, Width int
	// Gray decodes to one channel (0.299 R + 0.587 G + 0.114 B) instead of RGB.
	Gray bool
	// Workers is the number of decoding goroutines; 0 means GOMAXPROCS.
	Workers int
}

// LoadImageFolder reads root/class_name/**/*.png|jpg|jpeg (extensions in any
// case) in the layout of torchvision's ImageFolder: one subdirectory per
// class, classes sorted by name and numbered from 0, each class directory
// searched recursively in lexical order (so Tiny ImageNet's train/ with its
// images/ subfolders loads as it is). Hidden entries (names starting with a
// dot) and files of other kinds are skipped; other image formats (bmp, gif,
// tiff, webp, ...) are an error rather than left out. A class without images
// is an error.
func LoadImageFolder(root string, opt FolderOptions) (*Dataset, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var classes []string
	for _, e := range entries {
		if isDir(root, e) && !strings.HasPrefix(e.Name(), ".") {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("data: no class directories in %s", root)
	}
	slices.Sort(classes)
	var paths []string
	var labels []int32
	for ci, cls := range classes {
		files, err := imageFiles(filepath.Join(root, cls))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("data: class directory %s holds no png or jpeg image", filepath.Join(root, cls))
		}
		paths = append(paths, files...)
		for range files {
			labels = append(labels, int32(ci))
		}
	}
	return decodeDataset(paths, labels, classes, opt)
}

// LoadTinyImageNet reads a split of Tiny ImageNet (tiny-imagenet-200) from dir:
// "train" is dir/train/<wnid>/images/*.JPEG, "val" is dir/val/images/*.JPEG
// labelled by dir/val/val_annotations.txt. Classes are the WordNet ids of
// wnids.txt (or of the train/ subdirectories), sorted, and ClassNames holds
// them.
func LoadTinyImageNet(dir, split string, opt FolderOptions) (*Dataset, error) {
	switch split {
	case "train":
		d, err := LoadImageFolder(filepath.Join(dir, "train"), opt)
		if err != nil {
			return nil, err
		}
		if wn, err := readWnids(dir); err != nil {
			return nil, err
		} else if wn != nil && !slices.Equal(wn, d.ClassNames) {
			return nil, fmt.Errorf("data: %s: the %d classes of wnids.txt differ from the %d class directories of train/",
				dir, len(wn), len(d.ClassNames))
		}
		return d, nil
	case "val":
	default:
		return nil, fmt.Errorf("data: unknown Tiny ImageNet split %q (want train or val)", split)
	}
	if err := opt.check(); err != nil {
		return nil, err
	}
	classes, err := readWnids(dir)
	if err != nil {
		return nil, err
	}
	if classes == nil {
		entries, err := os.ReadDir(filepath.Join(dir, "train"))
		if err != nil {
			return nil, fmt.Errorf("data: Tiny ImageNet needs wnids.txt or train/ for its classes: %w", err)
		}
		for _, e := range entries {
			if isDir(filepath.Join(dir, "train"), e) && !strings.HasPrefix(e.Name(), ".") {
				classes = append(classes, e.Name())
			}
		}
		slices.Sort(classes)
	}
	index := make(map[string]int32, len(classes))
	for i, c := range classes {
		index[c] = int32(i)
	}
	ann := filepath.Join(dir, "val", "val_annotations.txt")
	text, err := os.ReadFile(ann)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var paths []string
	var labels []int32
	var off int64
	for line, raw := range strings.SplitAfter(string(text), "\n") {
		lineOff := off
		off += int64(len(raw))
		fields := strings.Fields(raw)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return nil, formatErr(ann, lineOff, "line %d has %d fields, want a file name and a class id", line+1, len(fields))
		}
		l, ok := index[fields[1]]
		if !ok {
			return nil, formatErr(ann, lineOff, "line %d: unknown class %q", line+1, fields[1])
		}
		if strings.ContainsAny(fields[0], `/\`) {
			return nil, formatErr(ann, lineOff, "line %d: file name %q has a directory part", line+1, fields[0])
		}
		paths = append(paths, filepath.Join(dir, "val", "images", fields[0]))
		labels = append(labels, l)
	}
	if len(paths) == 0 {
		return nil, formatErr(ann, 0, "no annotations")
	}
	return decodeDataset(paths, labels, classes, opt)
}

// readWnids returns the sorted lines of dir/wnids.txt, or nil when there is
// no such file.
func readWnids(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "wnids.txt"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var ids []string
	for _, l := range strings.Split(string(b), "\n") {
		if s := strings.TrimSpace(l); s != "" {
			ids = append(ids, s)
		}
	}
	slices.Sort(ids)
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		return nil, fmt.Errorf("data: %s: repeated class ids", filepath.Join(dir, "wnids.txt"))
	}
	return ids, nil
}

func (o FolderOptions) check() error {
	if o.Height < 0 || o.Width < 0 || (o.Height == 0) != (o.Width == 0) {
		return fmt.Errorf("data: image size %dx%d: want both positive, or both 0 to keep each image's size", o.Height, o.Width)
	}
	return nil
}

func isDir(parent string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink != 0 {
		fi, err := os.Stat(filepath.Join(parent, e.Name()))
		return err == nil && fi.IsDir()
	}
	return false
}

// imageFiles lists the png and jpeg files under dir, recursively, in lexical
// order.
func imageFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && path != dir {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg":
			files = append(files, path)
		case ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm":
			return fmt.Errorf("data: %s: unsupported image format (png and jpeg are read)", path)
		}
		return nil
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("data: %w", err)
		}
		return nil, err
	}
	return files, nil
}

// decodeDataset decodes paths in parallel into a Dataset.
func decodeDataset(paths []string, labels []int32, classes []string, opt FolderOptions) (*Dataset, error) {
	type result struct {
		pix  []uint8
		h, w int
	}
	res := make([]result, len(paths))
	errs := make([]error, len(paths))
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pix, h, w, err := decodeFile(paths[i], opt)
				res[i], errs[i] = result{pix, h, w}, err
			}
		}()
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs { // the first error, not a list of thousands
		if err != nil {
			return nil, err
		}
	}
	c := 3
	if opt.Gray {
		c = 1
	}
	d := &Dataset{N: len(paths), C: c, Labels: labels, NumClasses: len(classes), ClassNames: classes}
	same := true
	total := 0
	for _, r := range res {
		same = same && r.h == res[0].h && r.w == res[0].w
		total += len(r.pix)
	}
	d.Pixels = make([]uint8, 0, total)
	if same {
		d.H, d.W = res[0].h, res[0].w
	} else {
		d.Sizes = make([][2]int, len(res))
		d.Offsets = make([]int, len(res))
	}
	for i, r := range res {
		if !same {
			d.Sizes[i] = [2]int{r.h, r.w}
			d.Offsets[i] = len(d.Pixels)
		}
		d.Pixels = append(d.Pixels, r.pix...)
	}
	return d, nil
}

// decodeFile decodes one png or jpeg file into CHW bytes, resized as opt says.
func decodeFile(path string, opt FolderOptions) ([]uint8, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	var img image.Image
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		img, err = png.Decode(bufio.NewReader(f))
	default:
		img, err = jpeg.Decode(bufio.NewReader(f))
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("data: %s: cannot decode: %w", path, err)
	}
	pix, h, w := imageToCHW(img, opt.Gray)
	if h == 0 || w == 0 {
		return nil, 0, 0, fmt.Errorf("data: %s: empty image", path)
	}
	if opt.Height > 0 && (h != opt.Height || w != opt.Width) {
		pix = fitBytes(pix, len(pix)/(h*w), h, w, opt.Height, opt.Width)
		h, w = opt.Height, opt.Width
	}
	return pix, h, w, nil
}

// imageToCHW converts a decoded image to CHW bytes: RGB (alpha dropped, as
// PIL's convert("RGB")) or luma.
func imageToCHW(img image.Image, gray bool) ([]uint8, int, int) {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	n := h * w
	c := 3
	if gray {
		c = 1
	}
	out := make([]uint8, c*n)
	set := func(i int, r, g, bl uint8) {
		if gray {
			out[i] = uint8(math.Round(grayR*float64(r) + grayG*float64(g) + grayB*float64(bl)))
			return
		}
		out[i], out[n+i], out[2*n+i] = r, g, bl
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := m.Pix[y*m.Stride+x]
				set(y*w+x, v, v, v)
			}
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				set(y*w+x, r, g, bl)
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				set(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				set(y*w+x, p.R, p.G, p.B)
			}
		}
	}
	return out, h, w
}

// fitBytes resizes the largest centred window of an h x w image with the
// aspect ratio of oh x ow to oh x ow, rounding back to bytes.
func fitBytes(pix []uint8, c, h, w, oh, ow int) []uint8 {
	ch, cw := h, w
	if h*ow > w*oh { // taller than the target: cut rows
		ch = min(h, max(1, int(math.RoundToEven(float64(w)*float64(oh)/float64(ow)))))
	} else {
		cw = min(w, max(1, int(math.RoundToEven(float64(h)*float64(ow)/float64(oh)))))
	}
	img := resizedCrop(ImageFromBytes(pix, c, h, w), (h-ch)/2, (w-cw)/2, ch, cw, oh, ow)
	out := make([]uint8, len(img.Pix))
	for i, v := range img.Pix {
		out[i] = uint8(math.Round(float64(clamp01(v)) * 255))
	}
	return out
}
