package data

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// imageFormat is how one file type is read: its header, then the image.
type imageFormat struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// imageFormats are the formats of image folders, by lower-case extension.
// GIF files give their first frame.
var imageFormats = map[string]imageFormat{
	".png":  {png.DecodeConfig, png.Decode},
	".jpg":  {jpeg.DecodeConfig, jpeg.Decode},
	".jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	".gif":  {gif.DecodeConfig, gif.Decode},
	".bmp":  {bmp.DecodeConfig, bmp.Decode},
	".tif":  {tiff.DecodeConfig, tiff.Decode},
	".tiff": {tiff.DecodeConfig, tiff.Decode},
	".webp": {webp.DecodeConfig, webp.Decode},
}

// formatNames names the formats of imageFormats in messages.
const formatNames = "png, jpeg, gif, bmp, tiff and webp"

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
	// Classes, when not empty, is the list of classes in label order, so
	// that a second split is labelled as the first: load train/, then val/
	// with Classes set to the training set's ClassNames. A class directory
	// is labelled by the index of its name in Classes, and one whose name is
	// not in the list is an error; classes of the list without a directory
	// are allowed. The data set's ClassNames and NumClasses are then those
	// of the list. The names must be distinct and not empty.
	Classes []string
	// Limits bounds the size of each image file, the pixels of each image
	// (checked from its header before decoding) and of the images decoded
	// at one time, and the size of the text files of Tiny ImageNet. The
	// zero value takes DefaultLimits.
	Limits Limits
	// Stream leaves the images in their files: the data set is streamed
	// (Dataset.Streamed), each image decoded (and resized) when it is
	// read, so that a folder larger than memory can be trained on. The
	// headers are still read and checked when the folder is listed.
	// Without Stream, a folder is streamed anyway when Height and Width are
	// set and its estimated decoded size, files x C x Height x Width bytes,
	// is above StreamAbove.
	Stream bool
	// StreamAbove is the estimated decoded size in bytes above which a
	// folder resized to Height x Width is streamed: 0 means
	// DefaultStreamAbove (4 GiB), a negative value never streams unless
	// Stream is set.
	StreamAbove int64
	// CacheBytes bounds the decoded images a streamed data set keeps in
	// memory (least recently used dropped first, about 128 bytes counted
	// per image beside its pixels). Each folder loaded has its own cache,
	// which its subsets (HoldOut, FirstN, Subset) share. 0 means DefaultCacheBytes (1 GiB), a negative
	// value caches nothing (each read decodes the file).
	CacheBytes int64
}

// streams reports whether a folder of n files is streamed.
func (o FolderOptions) streams(n int) bool {
	if o.Stream {
		return true
	}
	if o.Height == 0 || o.StreamAbove < 0 {
		return false
	}
	limit := o.StreamAbove
	if limit == 0 {
		limit = DefaultStreamAbove
	}
	c := int64(3)
	if o.Gray {
		c = 1
	}
	return float64(n)*float64(c)*float64(o.Height)*float64(o.Width) > float64(limit)
}

// loadFiles reads the image files paths, labelled by labels, as opt says:
// decoded now, or streamed.
func loadFiles(paths []string, labels []int32, classes []string, opt FolderOptions, lim Limits) (*Dataset, error) {
	if opt.streams(len(paths)) {
		return streamFolder(paths, labels, classes, opt, lim)
	}
	return decodeDataset(paths, labels, classes, opt, lim)
}

// LoadImageFolder reads root/class_name/**/*.png|jpg|jpeg|gif|bmp|tif|tiff|webp
// (extensions in any case) in the layout of torchvision's ImageFolder: one subdirectory per
// class, classes sorted by name and numbered from 0 (or numbered by
// opt.Classes when it is set), each class directory searched recursively in
// lexical order (so Tiny ImageNet's train/ with its images/ subfolders loads
// as it is). Hidden entries (names starting with a dot) and files of other
// kinds are skipped; other image formats (ppm, avif, heic, ...) are an
// error rather than left out. A class directory without images is an error.
func LoadImageFolder(root string, opt FolderOptions) (*Dataset, error) {
	lim, err := opt.check()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if isDir(root, e) && !strings.HasPrefix(e.Name(), ".") {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("data: no class directories in %s", root)
	}
	slices.Sort(dirs)
	classes := dirs
	if len(opt.Classes) > 0 {
		for _, d := range dirs {
			if !slices.Contains(opt.Classes, d) {
				return nil, fmt.Errorf("data: class directory %s is not one of the %d known classes: %s",
					filepath.Join(root, d), len(opt.Classes), listNames(opt.Classes))
			}
		}
		classes = slices.Clone(opt.Classes)
	}
	var paths []string
	var labels []int32
	for ci, cls := range classes {
		if _, found := slices.BinarySearch(dirs, cls); !found {
			continue // a class of opt.Classes that this split lacks
		}
		files, err := imageFiles(filepath.Join(root, cls))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("data: class directory %s holds no image (%s)", filepath.Join(root, cls), formatNames)
		}
		paths = append(paths, files...)
		for range files {
			labels = append(labels, int32(ci))
		}
	}
	return loadFiles(paths, labels, classes, opt, lim)
}

// listNames quotes the first names of a class list for an error message.
func listNames(names []string) string {
	const show = 20
	var b strings.Builder
	for i, n := range names[:min(len(names), show)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", n)
	}
	if len(names) > show {
		fmt.Fprintf(&b, " and %d more", len(names)-show)
	}
	return b.String()
}

// LoadTinyImageNet reads a split of Tiny ImageNet (tiny-imagenet-200) from dir:
// "train" is dir/train/<wnid>/images/*.JPEG, "val" is dir/val/images/*.JPEG
// labelled by dir/val/val_annotations.txt. Classes are the WordNet ids of
// wnids.txt (or of the train/ subdirectories), sorted, and ClassNames holds
// them; when opt.Classes is set, it is the class list of both splits instead
// (and wnids.txt, when present, must name the same classes for train).
func LoadTinyImageNet(dir, split string, opt FolderOptions) (*Dataset, error) {
	switch split {
	case "train":
		d, err := LoadImageFolder(filepath.Join(dir, "train"), opt)
		if err != nil {
			return nil, err
		}
		lim, _ := opt.check() // LoadImageFolder has checked opt
		if wn, err := readWnids(dir, lim); err != nil {
			return nil, err
		} else if wn != nil && !slices.Equal(wn, slices.Sorted(slices.Values(d.ClassNames))) {
			return nil, fmt.Errorf("data: %s: the %d classes of wnids.txt differ from the %d classes of train/",
				dir, len(wn), len(d.ClassNames))
		}
		return d, nil
	case "val":
	default:
		return nil, fmt.Errorf("data: unknown Tiny ImageNet split %q (want train or val)", split)
	}
	lim, err := opt.check()
	if err != nil {
		return nil, err
	}
	classes := slices.Clone(opt.Classes)
	if len(classes) == 0 {
		if classes, err = readWnids(dir, lim); err != nil {
			return nil, err
		}
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
	text, err := readFileLimited(ann, lim.MaxTextBytes, "Limits.MaxTextBytes")
	if err != nil {
		return nil, err
	}
	paths, labels, err := parseValAnnotations(ann, text, index, filepath.Join(dir, "val", "images"))
	if err != nil {
		return nil, err
	}
	return loadFiles(paths, labels, classes, opt, lim)
}

// parseValAnnotations reads text, the content of the annotation file ann:
// one line per image, a file name in imagesDir and a class of index, then
// fields that are ignored (the bounding box); blank lines are skipped. It
// returns the images' paths and labels.
func parseValAnnotations(ann string, text []byte, index map[string]int32, imagesDir string) ([]string, []int32, error) {
	var paths []string
	var labels []int32
	var off int64
	line := 0
	for raw := range strings.Lines(string(text)) {
		lineOff := off
		off += int64(len(raw))
		line++
		fields := strings.Fields(raw)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return nil, nil, formatErr(ann, lineOff, "line %d has %d fields, want a file name and a class id", line, len(fields))
		}
		l, ok := index[fields[1]]
		if !ok {
			return nil, nil, formatErr(ann, lineOff, "line %d: unknown class %q", line, fields[1])
		}
		if name := fields[0]; strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return nil, nil, formatErr(ann, lineOff, "line %d: file name %q has a directory part", line, name)
		}
		paths = append(paths, filepath.Join(imagesDir, fields[0]))
		labels = append(labels, l)
	}
	if len(paths) == 0 {
		return nil, nil, formatErr(ann, 0, "no annotations")
	}
	return paths, labels, nil
}

// readWnids returns the sorted lines of dir/wnids.txt, or nil when there is
// no such file.
func readWnids(dir string, lim Limits) ([]string, error) {
	path := filepath.Join(dir, "wnids.txt")
	b, err := readFileLimited(path, lim.MaxTextBytes, "Limits.MaxTextBytes")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseWnids(path, b)
}

// parseWnids returns the non-blank lines of b, the content of the file path,
// with surrounding white space removed and sorted, or nil when there is
// none; a repeated line is an error.
func parseWnids(path string, b []byte) ([]string, error) {
	var ids []string
	for l := range strings.Lines(string(b)) {
		if s := strings.TrimSpace(l); s != "" {
			ids = append(ids, s)
		}
	}
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return nil, fmt.Errorf("data: %s: repeated class id %q", path, ids[i])
		}
	}
	return ids, nil
}

// check checks the options and returns the limits, zero fields filled in.
func (o FolderOptions) check() (Limits, error) {
	if o.Height < 0 || o.Width < 0 || (o.Height == 0) != (o.Width == 0) {
		return Limits{}, fmt.Errorf("data: image size %dx%d: want both positive, or both 0 to keep each image's size", o.Height, o.Width)
	}
	seen := make(map[string]bool, len(o.Classes))
	for i, c := range o.Classes {
		if c == "" {
			return Limits{}, fmt.Errorf("data: class %d of FolderOptions.Classes is an empty name", i)
		}
		if seen[c] {
			return Limits{}, fmt.Errorf("data: class %q is repeated in FolderOptions.Classes", c)
		}
		seen[c] = true
	}
	return o.Limits.resolve()
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

// imageFiles lists the image files of imageFormats under dir, recursively, in lexical
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
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if _, ok := imageFormats[ext]; ok {
			files = append(files, path)
			return nil
		}
		switch ext {
		case ".ppm", ".pgm", ".pbm", ".pnm", ".avif", ".heic", ".heif", ".jxl", ".jp2", ".ico":
			return fmt.Errorf("data: %s: unsupported image format (%s are read)", path, formatNames)
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

// decodeDataset decodes paths in parallel into a Dataset. The images being
// decoded at one time hold at most lim.MaxPixels pixels together.
func decodeDataset(paths []string, labels []int32, classes []string, opt FolderOptions, lim Limits) (*Dataset, error) {
	type result struct {
		pix  []uint8
		h, w int
	}
	res := make([]result, len(paths))
	budget := newPixelBudget(lim.MaxPixels)
	// The first error, not a list of thousands.
	if err := parallelEach(len(paths), opt.Workers, false, func(i int) error {
		pix, h, w, err := decodeFile(paths[i], opt, lim, budget)
		res[i] = result{pix, h, w}
		return err
	}); err != nil {
		return nil, err
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

// decodeFile decodes one image file into CHW bytes, resized as opt
// says, within lim; budget, when not nil, is shared by the goroutines that
// decode at the same time.
func decodeFile(path string, opt FolderOptions, lim Limits, budget *pixelBudget) ([]uint8, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > lim.MaxBytes {
		return nil, 0, 0, formatErr(path, lim.MaxBytes, "the file holds %d bytes, more than the %d allowed (Limits.MaxBytes)",
			fi.Size(), lim.MaxBytes)
	}
	return decodeImage(path, f, opt, lim, budget)
}

// decodeImage decodes r, the image file path (its extension says which
// format of imageFormats) read from its start, into CHW bytes, resized as opt says. The
// image's width and height are read from its header first and checked
// against lim.MaxPixels; budget, when not nil, must then hold room for its
// pixels before r is rewound and the image decoded.
func decodeImage(path string, r io.ReadSeeker, opt FolderOptions, lim Limits, budget *pixelBudget) ([]uint8, int, int, error) {
	format, cfg, err := readHeader(path, r, lim)
	if err != nil {
		return nil, 0, 0, err
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if budget != nil {
		budget.acquire(px)
		defer budget.release(px)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, 0, 0, fmt.Errorf("data: %s: %w", path, err)
	}
	img, err := format.decode(bufio.NewReader(r))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("data: %s: cannot decode: %w", path, err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, 0, 0, fmt.Errorf("data: %s: decoded %dx%d, the header announces %dx%d", path, b.Dx(), b.Dy(), cfg.Width, cfg.Height)
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

// readHeader reads the header of r, the image file path, and checks its
// width and height against lim.MaxPixels.
func readHeader(path string, r io.Reader, lim Limits) (imageFormat, image.Config, error) {
	format, ok := imageFormats[strings.ToLower(filepath.Ext(path))]
	if !ok {
		return format, image.Config{}, fmt.Errorf("data: %s: unsupported image format (%s are read)", path, formatNames)
	}
	cfg, err := format.config(bufio.NewReader(r))
	if err != nil {
		return format, cfg, fmt.Errorf("data: %s: cannot decode: %w", path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return format, cfg, fmt.Errorf("data: %s: empty image (%dx%d)", path, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > lim.MaxPixels {
		return format, cfg, fmt.Errorf("data: %s: the header announces %dx%d = %d pixels, more than the %d allowed (Limits.MaxPixels)",
			path, cfg.Width, cfg.Height, px, lim.MaxPixels)
	}
	return format, cfg, nil
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
	case *image.RGBA: // PNG without alpha, BMP, TIFF: alpha-premultiplied
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				r, g, bl, a := row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]
				if a != 255 {
					r, g, bl = unpremultiply(r, a), unpremultiply(g, a), unpremultiply(bl, a)
				}
				set(y*w+x, r, g, bl)
			}
		}
	case *image.Paletted: // PNG and GIF palettes
		pal := make([]color.NRGBA, 256)
		for i, c := range m.Palette {
			pal[i] = color.NRGBAModel.Convert(c).(color.NRGBA)
		}
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				p := pal[row[x]]
				set(y*w+x, p.R, p.G, p.B)
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

// unpremultiply undoes the alpha premultiplication of an 8-bit channel v as
// color.NRGBAModel does.
func unpremultiply(v, a uint8) uint8 {
	if a == 0 {
		return 0
	}
	return uint8((uint32(v) * 0x101 * 0xffff / (uint32(a) * 0x101)) >> 8)
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
