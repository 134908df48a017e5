package data

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Splits are the parts of a data set that pre-training and evaluation use,
// with the constants that go with the data set.
type Splits struct {
	// Name is the registry name the set was opened by.
	Name string
	// Train is the pre-training set and the evaluations' labelled training
	// set (the kNN's memory bank, the linear probe's training data), with
	// the validation images taken out.
	Train *Dataset
	// Val is held out of the training split (nil without one): the
	// monitor, early decisions and any search of settings read it, so that
	// Test is read once, at the end.
	Val *Dataset
	// Test is the data set's own test (or validation) split.
	Test *Dataset
	// Unlabeled, when set, is pre-trained on beside Train (STL-10's 100,000
	// unlabelled images); its labels are -1.
	Unlabeled *Dataset
	// Norm is the per-channel normalisation of the data set (the paper's
	// released values where it has them, else measured on Train, or on
	// normSample of its images evenly spread when Train is streamed).
	Norm Normalize
	// Anchor is the box and Beta parameter of the Hallucinator's anchor
	// view crop (AnchorResizedCrop), the paper's released settings.
	Anchor AnchorBox
}

// AnchorBox is the crop box of the anchor view, as fractions of the image
// side, and the Beta(Alpha, Alpha) parameter of the crop's placement.
type AnchorBox struct{ Lo, Hi, Alpha float64 }

// Pretrain returns the images pre-training runs on: Train, followed by
// Unlabeled when there is one.
func (s *Splits) Pretrain() (*Dataset, error) {
	if s.Unlabeled == nil {
		return s.Train, nil
	}
	return Concat(s.Train, s.Unlabeled)
}

// OpenOptions configures Open.
type OpenOptions struct {
	// Dir is where the files are: the directory of the IDX, CIFAR or STL-10
	// files, or the root of an image folder (train/ and val/ inside) or of
	// Tiny ImageNet. Empty means the default place, which only
	// Fashion-MNIST has (FashionMNISTDir).
	Dir string
	// Val is the number of training images held out for validation: 0 for
	// none, a negative value for the data set's default (DefaultVal). The
	// images are drawn class by class in proportion to the classes' sizes
	// by a fixed permutation, the same for every run and seed, so runs
	// compare on the same split.
	Val int
	// Unlabeled adds STL-10's unlabelled split to pre-training (the paper's
	// protocol); other data sets have none and refuse it.
	Unlabeled bool
	// TrainSubset and TestSubset keep the first N images of the training
	// split (after the validation images are taken out) and of the test
	// split; 0 keeps all.
	TrainSubset, TestSubset int
	// ImageSize is the side image folders are resized to (0: 64).
	ImageSize int
	// Workers is the number of goroutines decoding image folders (0:
	// GOMAXPROCS).
	Workers int
	// Limits bounds the files and images read (zero: DefaultLimits).
	Limits Limits
	// Stream streams image folders (FolderOptions.Stream): their images
	// are decoded when read, through a cache of CacheBytes. Without it a
	// folder is streamed when its decoded images would take more than
	// DefaultStreamAbove bytes.
	Stream bool
	// CacheBytes is the decode cache of each streamed split
	// (FolderOptions.CacheBytes: 0 for DefaultCacheBytes, negative for
	// none).
	CacheBytes int64
}

// normSample is the number of images of a streamed training set that Open
// measures the normalisation on when the data set has none of its own.
const normSample = 10000

// dataset is one entry of the registry.
type dataset struct {
	name, doc string
	// load reads the training and test splits.
	load func(o OpenOptions, dir string) (train, test *Dataset, err error)
	// val is the default validation count, or share when below 1.
	val       float64
	anchor    AnchorBox
	unlabeled func(dir string) (*Dataset, error)
	defDir    func() string
}

var paperAnchor = AnchorBox{Lo: 0.25, Hi: 0.75, Alpha: 0.1}

// registry lists the data sets Open knows, by name.
func registry() []dataset {
	idx := func(load func(string, bool) (*Dataset, error)) func(OpenOptions, string) (*Dataset, *Dataset, error) {
		return func(_ OpenOptions, dir string) (*Dataset, *Dataset, error) {
			tr, err := load(dir, true)
			if err != nil {
				return nil, nil, err
			}
			te, err := load(dir, false)
			return tr, te, err
		}
	}
	folder := func(o OpenOptions) FolderOptions {
		size := o.ImageSize
		if size == 0 {
			size = 64
		}
		return FolderOptions{Height: size, Width: size, Workers: o.Workers, Limits: o.Limits,
			Stream: o.Stream, CacheBytes: o.CacheBytes}
	}
	return []dataset{
		{name: "fashion-mnist", doc: "Fashion-MNIST: 60,000 training and 10,000 test images, 1x28x28, 10 classes (IDX files)",
			load: idx(LoadFashionMNIST), val: 10000, anchor: paperAnchor, defDir: FashionMNISTDir},
		{name: "mnist", doc: "MNIST digits, the IDX files of Fashion-MNIST's layout",
			load: idx(LoadMNIST), val: 10000, anchor: paperAnchor},
		{name: "cifar10", doc: "CIFAR-10: 50,000 training and 10,000 test images, 3x32x32 (binary version)",
			load: func(_ OpenOptions, dir string) (*Dataset, *Dataset, error) {
				tr, err := LoadCIFAR10(dir, true)
				if err != nil {
					return nil, nil, err
				}
				te, err := LoadCIFAR10(dir, false)
				return tr, te, err
			}, val: 10000, anchor: paperAnchor},
		{name: "cifar100", doc: "CIFAR-100 (fine labels): 50,000 training and 10,000 test images, 3x32x32 (binary version)",
			load: func(_ OpenOptions, dir string) (*Dataset, *Dataset, error) {
				tr, err := LoadCIFAR100(dir, true, false)
				if err != nil {
					return nil, nil, err
				}
				te, err := LoadCIFAR100(dir, false, false)
				return tr, te, err
			}, val: 10000, anchor: paperAnchor},
		{name: "stl10", doc: "STL-10: 5,000 labelled training, 8,000 test and 100,000 unlabelled images, 3x96x96 (binary version)",
			load: func(_ OpenOptions, dir string) (*Dataset, *Dataset, error) {
				tr, err := LoadSTL10(dir, STL10Train)
				if err != nil {
					return nil, nil, err
				}
				te, err := LoadSTL10(dir, STL10Test)
				return tr, te, err
			}, val: 0.1, anchor: paperAnchor,
			unlabeled: func(dir string) (*Dataset, error) { return LoadSTL10(dir, STL10Unlabeled) }},
		{name: "tiny-imagenet", doc: "Tiny ImageNet: train/ (100,000 images) and val/ (10,000) of 200 classes, 64x64",
			load: func(o OpenOptions, dir string) (*Dataset, *Dataset, error) {
				fo := folder(o)
				tr, err := LoadTinyImageNet(dir, "train", fo)
				if err != nil {
					return nil, nil, err
				}
				// val/ is labelled by train/'s class list, so that a
				// class missing from val/ does not renumber the others.
				fo.Classes = tr.ClassNames
				te, err := LoadTinyImageNet(dir, "val", fo)
				return tr, te, err
			}, val: 0.1, anchor: AnchorBox{Lo: 0.15, Hi: 0.85, Alpha: 0.1}},
		{name: "folder", doc: "an image folder: DIR/train/CLASS/* and DIR/val/CLASS/* (torchvision's ImageFolder layout)",
			load: func(o OpenOptions, dir string) (*Dataset, *Dataset, error) {
				fo := folder(o)
				tr, err := LoadImageFolder(filepath.Join(dir, "train"), fo)
				if err != nil {
					return nil, nil, err
				}
				fo.Classes = tr.ClassNames
				te, err := LoadImageFolder(filepath.Join(dir, "val"), fo)
				return tr, te, err
			}, val: 0.1, anchor: AnchorBox{Lo: 0.2, Hi: 0.8, Alpha: 0.6}},
	}
}

func lookup(name string) (dataset, bool) {
	for _, d := range registry() {
		if d.name == strings.ToLower(name) {
			return d, true
		}
	}
	return dataset{}, false
}

// Datasets returns the names Open accepts, each with a line that describes
// it.
func Datasets() [][2]string {
	var out [][2]string
	for _, d := range registry() {
		out = append(out, [2]string{d.name, d.doc})
	}
	return out
}

// DefaultVal returns the number of images of a training split of n images
// that Open holds out for validation when OpenOptions.Val is negative:
// 10,000 for Fashion-MNIST, MNIST and CIFAR, a tenth elsewhere (STL-10's
// labelled training images, Tiny ImageNet, image folders).
func DefaultVal(name string, n int) (int, error) {
	d, ok := lookup(name)
	if !ok {
		return 0, unknownDataset(name)
	}
	v := int(d.val)
	if d.val < 1 {
		v = int(d.val * float64(n))
	}
	return min(v, n), nil
}

func unknownDataset(name string) error {
	var names []string
	for _, d := range registry() {
		names = append(names, d.name)
	}
	return fmt.Errorf("data: unknown data set %q (want %s)", name, strings.Join(names, ", "))
}

// CheckName returns an error naming the known data sets when name is not
// one of them (before any file is read).
func CheckName(name string) error {
	if _, ok := lookup(name); !ok {
		return unknownDataset(name)
	}
	return nil
}

// Open reads a data set by name (see Datasets) with its normalisation and
// anchor box, and holds out its validation split. Errors name the data
// set and the directory.
func Open(name string, o OpenOptions) (*Splits, error) {
	d, ok := lookup(name)
	if !ok {
		return nil, unknownDataset(name)
	}
	dir := o.Dir
	if dir == "" {
		if d.defDir == nil {
			return nil, fmt.Errorf("data: %s needs the directory of its files", d.name)
		}
		dir = d.defDir()
	}
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("data: %s: directory %s does not exist", d.name, dir)
		}
		return nil, fmt.Errorf("data: %s: %w", d.name, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("data: %s: %s is not a directory", d.name, dir)
	}
	if o.Unlabeled && d.unlabeled == nil {
		return nil, fmt.Errorf("data: %s has no unlabelled split", d.name)
	}
	train, test, err := d.load(o, dir)
	if err != nil {
		return nil, fmt.Errorf("data: %s in %s: %w", d.name, dir, err)
	}
	// Caught here rather than at the first evaluation, after training.
	if train.C != test.C || train.H != test.H || train.W != test.W {
		return nil, fmt.Errorf("data: %s in %s: the training images are %dx%dx%d (CxHxW) but the test images %dx%dx%d; give an image size for folders of mixed sizes",
			d.name, dir, train.C, train.H, train.W, test.C, test.H, test.W)
	}
	if test.NumClasses > train.NumClasses {
		return nil, fmt.Errorf("data: %s in %s: the test split has %d classes, the training split %d", d.name, dir, test.NumClasses, train.NumClasses)
	}
	s := &Splits{Name: d.name, Test: test, Anchor: d.anchor}
	nval := o.Val
	if nval < 0 {
		nval, _ = DefaultVal(d.name, train.N)
	}
	if nval >= train.N {
		return nil, fmt.Errorf("data: %s: a validation split of %d images leaves none of the %d training images", d.name, nval, train.N)
	}
	if nval > 0 {
		tr, va := HoldOut(train, nval, 0)
		s.Train, s.Val = tr, va
	} else {
		s.Train = train
	}
	if o.Unlabeled {
		if s.Unlabeled, err = d.unlabeled(dir); err != nil {
			return nil, fmt.Errorf("data: %s in %s: %w", d.name, dir, err)
		}
	}
	if s.Norm, err = NormalizeFor(d.name); err != nil {
		measured := s.Train
		if measured.Streamed() && measured.N > normSample {
			idx := make([]int, normSample)
			for k := range idx {
				idx[k] = k * measured.N / normSample
			}
			measured = measured.Subset(idx)
		}
		if s.Norm, err = MeanStdErr(measured); err != nil {
			return nil, fmt.Errorf("data: %s in %s: %w", d.name, dir, err)
		}
	}
	s.Train, s.Test = FirstN(s.Train, o.TrainSubset), FirstN(s.Test, o.TestSubset)
	return s, nil
}

// FirstN returns the first n images of ds (ds itself when n <= 0 or n >=
// ds.N).
func FirstN(ds *Dataset, n int) *Dataset {
	if n <= 0 || n >= ds.N {
		return ds
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return ds.Subset(idx)
}

// HoldOut splits ds into the images it keeps and n held-out images, drawn
// class by class in proportion to the classes' sizes (the largest
// remainders rounded up, ties to the lower class) by a permutation of each
// class seeded with seed alone. Both parts keep ds's order.
func HoldOut(ds *Dataset, n int, seed uint64) (keep, held *Dataset) {
	n = min(max(n, 0), ds.N)
	byClass := map[int32][]int{}
	for i, l := range ds.Labels {
		byClass[l] = append(byClass[l], i)
	}
	classes := make([]int32, 0, len(byClass))
	for c := range byClass {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	// Quotas: floor of the share, then one more to the largest remainders.
	quota := make(map[int32]int, len(classes))
	type rem struct {
		c int32
		r float64
	}
	var rems []rem
	given := 0
	for _, c := range classes {
		exact := float64(n) * float64(len(byClass[c])) / float64(ds.N)
		quota[c] = int(exact)
		given += quota[c]
		rems = append(rems, rem{c, exact - float64(int(exact))})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].r > rems[j].r })
	for i := 0; given < n; i++ {
		quota[rems[i%len(rems)].c]++
		given++
	}
	heldSet := make([]bool, ds.N)
	for _, c := range classes {
		idx := byClass[c]
		rng := rand.New(rand.NewPCG(seed, uint64(int64(c))+1))
		perm := rng.Perm(len(idx))
		for _, p := range perm[:min(quota[c], len(idx))] {
			heldSet[idx[p]] = true
		}
	}
	var ki, hi []int
	for i, h := range heldSet {
		if h {
			hi = append(hi, i)
		} else {
			ki = append(ki, i)
		}
	}
	return ds.Subset(ki), ds.Subset(hi)
}
