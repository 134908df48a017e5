package data

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// stl10Classes are STL-10's class names in label order (the content of
// class_names.txt).
var stl10Classes = []string{
	"airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
}

// STL10Split names a part of STL-10.
type STL10Split string

// The splits of STL-10. STL10TrainUnlabeled is the usual pre-training set:
// the 5000 labelled training images followed by the 100000 unlabelled ones.
const (
	STL10Train          STL10Split = "train"           // 5000 labelled images
	STL10Test           STL10Split = "test"            // 8000 labelled images
	STL10Unlabeled      STL10Split = "unlabeled"       // 100000 images, labels -1
	STL10TrainUnlabeled STL10Split = "train+unlabeled" // both, in that order
)

const (
	stl10Side   = 96
	stl10Pixels = 3 * stl10Side * stl10Side
)

// LoadSTL10 reads a split of STL-10's binary version from dir (or from its
// stl10_binary subdirectory): train_X.bin with train_y.bin, test_X.bin with
// test_y.bin, unlabeled_X.bin. Images are 3 x 96 x 96, stored column-major in
// the files and returned row-major (CHW); labels 1..10 become 0..9 and
// unlabelled images get -1. Class names come from class_names.txt when present.
func LoadSTL10(dir string, split STL10Split) (*Dataset, error) {
	dir = subdirIfPresent(dir, "stl10_binary")
	type part struct{ images, labels string }
	var parts []part
	switch split {
	case STL10Train, STL10Test:
		parts = []part{{string(split) + "_X.bin", string(split) + "_y.bin"}}
	case STL10Unlabeled:
		parts = []part{{"unlabeled_X.bin", ""}}
	case STL10TrainUnlabeled:
		parts = []part{{"train_X.bin", "train_y.bin"}, {"unlabeled_X.bin", ""}}
	default:
		return nil, fmt.Errorf("data: unknown STL-10 split %q (want train, test, unlabeled or train+unlabeled)", split)
	}
	counts := make([]int, len(parts))
	total := 0
	for i, p := range parts {
		n, err := stl10Count(filepath.Join(dir, p.images))
		if err != nil {
			return nil, err
		}
		counts[i] = n
		total += n
	}
	d := &Dataset{N: total, C: 3, H: stl10Side, W: stl10Side, Pixels: make([]uint8, total*stl10Pixels),
		Labels: make([]int32, total), NumClasses: 10}
	start := 0
	for i, p := range parts {
		n := counts[i]
		path := filepath.Join(dir, p.images)
		if err := readSTL10Images(path, d.Pixels[start*stl10Pixels:(start+n)*stl10Pixels]); err != nil {
			return nil, err
		}
		if err := readSTL10Labels(dir, p.labels, path, d.Labels[start:start+n]); err != nil {
			return nil, err
		}
		start += n
	}
	names, err := readClassNames(filepath.Join(dir, "class_names.txt"), stl10Classes)
	if err != nil {
		return nil, err
	}
	d.ClassNames = names
	return d, nil
}

// stl10Count returns the number of images in an STL-10 image file, checking
// that its size is a whole number of images within the default
// Limits.MaxBytes.
func stl10Count(path string) (int, error) {
	size, err := statRegular(path)
	if err != nil {
		return 0, fmt.Errorf("data: %w", err)
	}
	return stl10CountSize(path, size, DefaultLimits())
}

// stl10CountSize returns the number of images in an STL-10 image file of
// size bytes.
func stl10CountSize(path string, size int64, lim Limits) (int, error) {
	if size == 0 {
		return 0, formatErr(path, 0, "empty file")
	}
	if size < 0 {
		return 0, formatErr(path, 0, "negative file size %d", size)
	}
	if size > lim.MaxBytes {
		return 0, formatErr(path, lim.MaxBytes, "the file holds %d bytes, more than the %d allowed (Limits.MaxBytes)", size, lim.MaxBytes)
	}
	if r := size % stl10Pixels; r != 0 {
		return 0, formatErr(path, size, "file truncated: its last image has %d of %d bytes", r, stl10Pixels)
	}
	return int(size / stl10Pixels), nil
}

// readSTL10Images reads len(dst)/27648 images from path into dst, turning
// each column-major channel plane into a row-major one with stl10Transpose.
func readSTL10Images(path string, dst []uint8) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	const block = 256 // images per read
	buf := make([]byte, min(block*stl10Pixels, len(dst)))
	for off := 0; off < len(dst); off += len(buf) {
		m := min(len(buf), len(dst)-off)
		if _, err := io.ReadFull(f, buf[:m]); err != nil {
			return truncErr(path, int64(off), "images (the file shrank while being read)", err)
		}
		stl10Transpose(dst[off:off+m], buf[:m])
	}
	return nil
}

// stl10Transpose turns the column-major channel planes of src, a whole
// number of 96 x 96 planes as STL-10's files store them, into the row-major
// planes of dst: byte x*96+y of a plane in src is pixel (row y, column x).
func stl10Transpose(dst, src []uint8) {
	const plane = stl10Side * stl10Side
	for k := 0; k < len(src)/plane; k++ {
		in := src[k*plane : (k+1)*plane]
		out := dst[k*plane : (k+1)*plane]
		for x := 0; x < stl10Side; x++ {
			col := in[x*stl10Side : (x+1)*stl10Side]
			for y, v := range col {
				out[y*stl10Side+x] = v
			}
		}
	}
}

// readSTL10Labels reads labels 1..10 from dir/file into dst as 0..9, or sets
// dst to -1 when file is empty (the unlabelled split). The file's size must
// be one byte per image; it is checked before the file is read.
func readSTL10Labels(dir, file, imagePath string, dst []int32) error {
	if file == "" {
		for i := range dst {
			dst[i] = -1
		}
		return nil
	}
	path := filepath.Join(dir, file)
	size, err := statRegular(path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if size != int64(len(dst)) {
		return formatErr(path, min(size, int64(len(dst))), "%d labels for the %d images of %s", size, len(dst), imagePath)
	}
	lb, err := readFileLimited(path, int64(len(dst)), "one byte per image")
	if err != nil {
		return err
	}
	return parseSTL10Labels(path, lb, imagePath, dst)
}

// parseSTL10Labels turns lb, the content of the label file path, into dst:
// labels 1..10 become 0..9. There must be one label per element of dst.
func parseSTL10Labels(path string, lb []byte, imagePath string, dst []int32) error {
	if len(lb) != len(dst) {
		return formatErr(path, int64(min(len(lb), len(dst))), "%d labels for the %d images of %s", len(lb), len(dst), imagePath)
	}
	for i, l := range lb {
		if l < 1 || l > 10 {
			return formatErr(path, int64(i), "label %d of image %d is outside 1..10", l, i)
		}
		dst[i] = int32(l) - 1
	}
	return nil
}
