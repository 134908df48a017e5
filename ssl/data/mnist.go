package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package puts
// the Fashion-MNIST IDX files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTDir returns the directory named by the FASHION_MNIST_DIR
// environment variable, or DefaultFashionMNISTDir when it is unset.
func FashionMNISTDir() string {
	if d := os.Getenv("FASHION_MNIST_DIR"); d != "" {
		return d
	}
	return DefaultFashionMNISTDir
}

// fashionMNISTClasses are the names of Fashion-MNIST's ten classes, in label order.
var fashionMNISTClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// LoadFashionMNIST reads the Fashion-MNIST training (60000 images) or test
// (10000 images) split from dir: train-images-idx3-ubyte and
// train-labels-idx1-ubyte, or t10k-..., each plain or gzip-compressed (with
// or without a .gz suffix). Images are 1 x 28 x 28.
func LoadFashionMNIST(dir string, train bool) (*Dataset, error) {
	d, err := loadIDXPair(dir, train)
	if err != nil {
		return nil, err
	}
	d.ClassNames = append([]string(nil), fashionMNISTClasses...)
	return d, nil
}

// LoadMNIST reads the MNIST digits from dir; the files are named as for
// LoadFashionMNIST. Class names are the digits "0" to "9".
func LoadMNIST(dir string, train bool) (*Dataset, error) {
	d, err := loadIDXPair(dir, train)
	if err != nil {
		return nil, err
	}
	d.ClassNames = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	return d, nil
}

// loadIDXPair reads an images/labels pair of IDX files with ten classes.
func loadIDXPair(dir string, train bool) (*Dataset, error) {
	prefix := "t10k"
	if train {
		prefix = "train"
	}
	imgs, imgName, err := readIDXFile(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labs, labName, err := readIDXFile(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	if imgs.Type != IDXUint8 || len(imgs.Dims) != 3 {
		return nil, formatErr(imgName, 2, "images must be uint8 with 3 dimensions (N, H, W), found %v with dims %v",
			imgs.Type, imgs.Dims)
	}
	if labs.Type != IDXUint8 || len(labs.Dims) != 1 {
		return nil, formatErr(labName, 2, "labels must be uint8 with 1 dimension (N), found %v with dims %v",
			labs.Type, labs.Dims)
	}
	if imgs.Dims[0] != labs.Dims[0] {
		return nil, formatErr(labName, 4, "%d labels for the %d images of %s", labs.Dims[0], imgs.Dims[0], imgName)
	}
	const classes = 10
	const labelStart = 8 // magic + one dimension
	d := &Dataset{N: imgs.Dims[0], C: 1, H: imgs.Dims[1], W: imgs.Dims[2], Pixels: imgs.Data,
		Labels: make([]int32, imgs.Dims[0]), NumClasses: classes}
	for i, l := range labs.Data {
		if l >= classes {
			return nil, formatErr(labName, int64(labelStart+i), "label %d of image %d is not below %d", l, i, classes)
		}
		d.Labels[i] = int32(l)
	}
	return d, nil
}

// readIDXFile reads dir/base, or dir/base.gz when the first is missing, with
// the default limits; the size of the file bounds what its header may
// announce.
func readIDXFile(dir, base string) (*IDX, string, error) {
	path := filepath.Join(dir, base)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		path += ".gz"
		f, err = os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("data: neither %s nor %s.gz exists in %s", base, base, dir)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("data: %w", err)
	}
	var opt IDXOptions
	if fi.Mode().IsRegular() {
		opt.Size = fi.Size()
	}
	x, err := ReadIDXWithOptions(f, path, opt)
	return x, path, err
}
