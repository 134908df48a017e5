package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// cifar10Classes are CIFAR-10's class names in label order (the content of
// batches.meta.txt).
var cifar10Classes = []string{
	"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
}

// cifar100Classes are CIFAR-100's 100 fine class names in label order (the
// content of fine_label_names.txt).
var cifar100Classes = []string{
	"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
	"bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
	"chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
	"dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
	"lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
	"mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
	"plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
	"rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
	"squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
	"train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
}

// cifar100Superclasses are CIFAR-100's 20 coarse class names in label order
// (the content of coarse_label_names.txt).
var cifar100Superclasses = []string{
	"aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
	"household_electrical_devices", "household_furniture", "insects", "large_carnivores",
	"large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
	"medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
	"vehicles_1", "vehicles_2",
}

const cifarPixels = 3 * 32 * 32

// LoadCIFAR10 reads CIFAR-10's binary version from dir (or from its
// cifar-10-batches-bin subdirectory): data_batch_1.bin to data_batch_5.bin
// for training (50000 images), test_batch.bin for test (10000). Each record is
// a label byte and 3072 bytes of 32 x 32 red, green and blue planes. Class
// names come from batches.meta.txt when present.
func LoadCIFAR10(dir string, train bool) (*Dataset, error) {
	dir = subdirIfPresent(dir, "cifar-10-batches-bin")
	files := []string{"test_batch.bin"}
	if train {
		files = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	}
	d := &Dataset{C: 3, H: 32, W: 32, NumClasses: 10}
	for _, f := range files {
		if err := readCIFARFile(d, filepath.Join(dir, f), []int{10}, 0); err != nil {
			return nil, err
		}
	}
	names, err := readClassNames(filepath.Join(dir, "batches.meta.txt"), cifar10Classes)
	if err != nil {
		return nil, err
	}
	d.ClassNames = names
	return d, nil
}

// LoadCIFAR100 reads CIFAR-100's binary version from dir (or from its
// cifar-100-binary subdirectory): train.bin (50000 images) or test.bin
// (10000). Each record is a coarse label byte, a fine label byte and 3072
// bytes of pixels. With coarse the labels are the 20 superclasses, otherwise
// the 100 fine classes. Class names come from coarse_label_names.txt or
// fine_label_names.txt when present.
func LoadCIFAR100(dir string, train, coarse bool) (*Dataset, error) {
	dir = subdirIfPresent(dir, "cifar-100-binary")
	file := "test.bin"
	if train {
		file = "train.bin"
	}
	labelByte, classes, namesFile, defNames := 1, 100, "fine_label_names.txt", cifar100Classes
	if coarse {
		labelByte, classes, namesFile, defNames = 0, 20, "coarse_label_names.txt", cifar100Superclasses
	}
	d := &Dataset{C: 3, H: 32, W: 32, NumClasses: classes}
	if err := readCIFARFile(d, filepath.Join(dir, file), []int{20, 100}, labelByte); err != nil {
		return nil, err
	}
	names, err := readClassNames(filepath.Join(dir, namesFile), defNames)
	if err != nil {
		return nil, err
	}
	d.ClassNames = names
	return d, nil
}

// readCIFARFile appends the records of one CIFAR binary file to d with the
// default limits. A record is len(limits) label bytes, each below its limit,
// and 3072 pixel bytes; label byte use becomes the label.
func readCIFARFile(d *Dataset, path string, limits []int, use int) error {
	b, err := readFileLimited(path, DefaultLimits().MaxBytes, "Limits.MaxBytes")
	if err != nil {
		return err
	}
	return parseCIFAR(d, b, path, limits, use)
}

// parseCIFAR appends the CIFAR records held in b, the content of the file
// path, to d. Every record is checked before any is appended, so that on an
// error d is left as it was.
func parseCIFAR(d *Dataset, b []byte, path string, limits []int, use int) error {
	rec := len(limits) + cifarPixels
	if len(b) == 0 {
		return formatErr(path, 0, "empty file")
	}
	if r := len(b) % rec; r != 0 {
		return formatErr(path, int64(len(b)), "file truncated: its last record has %d of %d bytes", r, rec)
	}
	n := len(b) / rec
	for i := 0; i < n; i++ {
		r := b[i*rec : (i+1)*rec]
		for k, limit := range limits {
			if int(r[k]) >= limit {
				return formatErr(path, int64(i*rec+k), "label %d of record %d is not below %d", r[k], i, limit)
			}
		}
	}
	d.Labels = slices.Grow(d.Labels, n)
	d.Pixels = slices.Grow(d.Pixels, n*cifarPixels)
	for i := 0; i < n; i++ {
		r := b[i*rec : (i+1)*rec]
		d.Labels = append(d.Labels, int32(r[use]))
		d.Pixels = append(d.Pixels, r[len(limits):]...)
	}
	d.N += n
	return nil
}

// readClassNames reads one class name a line from path, or returns def when
// the file does not exist. The file must have exactly len(def) names and at
// most the default Limits.MaxTextBytes bytes.
func readClassNames(path string, def []string) ([]string, error) {
	b, err := readFileLimited(path, DefaultLimits().MaxTextBytes, "Limits.MaxTextBytes")
	if errors.Is(err, fs.ErrNotExist) {
		return append([]string(nil), def...), nil
	}
	if err != nil {
		return nil, err
	}
	return parseClassNames(path, b, len(def))
}

// parseClassNames returns the non-blank lines of b, the content of the file
// path, with surrounding white space removed; there must be exactly want.
func parseClassNames(path string, b []byte, want int) ([]string, error) {
	names := make([]string, 0, want)
	count := 0
	for line := range strings.Lines(string(b)) {
		if s := strings.TrimSpace(line); s != "" {
			if count < want {
				names = append(names, s)
			}
			count++
		}
	}
	if count != want {
		return nil, fmt.Errorf("data: %s: %d class names, want %d", path, count, want)
	}
	return names, nil
}

// subdirIfPresent returns dir/sub when it is a directory, else dir.
func subdirIfPresent(dir, sub string) string {
	if fi, err := os.Stat(filepath.Join(dir, sub)); err == nil && fi.IsDir() {
		return filepath.Join(dir, sub)
	}
	return dir
}
