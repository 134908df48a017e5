package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// labelled returns a data set of n 1x2x2 images whose pixels encode their
// index, with the given labels.
func labelled(labels []int32, classes int) *Dataset {
	n := len(labels)
	d := &Dataset{N: n, C: 1, H: 2, W: 2, NumClasses: classes, Labels: labels, Pixels: make([]uint8, 4*n)}
	for i := range n {
		d.Pixels[4*i], d.Pixels[4*i+1] = uint8(i), uint8(i>>8)
	}
	return d
}

func id(d *Dataset, i int) int { return int(d.Pixels[4*i]) | int(d.Pixels[4*i+1])<<8 }

func TestHoldOut(t *testing.T) {
	// Three classes of 600, 300 and 100 images, interleaved.
	var labels []int32
	for i := range 1000 {
		switch {
		case i%10 < 6:
			labels = append(labels, 0)
		case i%10 < 9:
			labels = append(labels, 1)
		default:
			labels = append(labels, 2)
		}
	}
	ds := labelled(labels, 3)
	for _, n := range []int{0, 1, 7, 100, 333, 999, 1000} {
		keep, held := HoldOut(ds, n, 0)
		if held.N != n || keep.N != ds.N-n {
			t.Fatalf("n=%d: kept %d, held %d", n, keep.N, held.N)
		}
		seen := make([]bool, ds.N)
		counts := make([]int, 3)
		for _, part := range []*Dataset{keep, held} {
			last := -1
			for i := range part.N {
				j := id(part, i)
				if seen[j] {
					t.Fatalf("n=%d: image %d in both parts", n, j)
				}
				if j <= last {
					t.Fatalf("n=%d: order not kept (%d after %d)", n, j, last)
				}
				last = j
				seen[j] = true
				if part.Labels[i] != ds.Labels[j] {
					t.Fatalf("n=%d: image %d relabelled", n, j)
				}
			}
		}
		for i := range held.N {
			counts[held.Labels[i]]++
		}
		// Proportional to 60/30/10 %, each within one image.
		for c, share := range []float64{0.6, 0.3, 0.1} {
			if d := float64(counts[c]) - share*float64(n); d > 1 || d < -1 {
				t.Errorf("n=%d: class %d has %d held-out images, want about %.1f", n, c, counts[c], share*float64(n))
			}
		}
	}
	// The same split every time, another with another seed.
	_, a := HoldOut(ds, 100, 0)
	_, b := HoldOut(ds, 100, 0)
	_, c := HoldOut(ds, 100, 1)
	same, other := true, true
	for i := range a.N {
		same = same && id(a, i) == id(b, i)
		other = other && id(a, i) == id(c, i)
	}
	if !same || other {
		t.Errorf("HoldOut: same seed equal %v (want true), other seed equal %v (want false)", same, other)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    OpenOptions
		want string
	}{
		{"imagenet-22k", OpenOptions{Dir: dir}, `unknown data set "imagenet-22k" (want fashion-mnist, mnist, cifar10`},
		{"cifar10", OpenOptions{}, "cifar10 needs the directory of its files"},
		{"cifar10", OpenOptions{Dir: filepath.Join(dir, "nope")}, "cifar10: directory " + filepath.Join(dir, "nope") + " does not exist"},
		{"cifar10", OpenOptions{Dir: file}, "is not a directory"},
		{"cifar10", OpenOptions{Dir: dir, Unlabeled: true}, "cifar10 has no unlabelled split"},
		{"cifar10", OpenOptions{Dir: dir}, "cifar10 in " + dir + ": "},
	} {
		_, err := Open(tc.name, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q, %+v): %v, want an error containing %q", tc.name, tc.o, err, tc.want)
		}
	}
	if err := CheckName("CIFAR10"); err != nil {
		t.Errorf("CheckName is case-insensitive: %v", err)
	}
	if err := CheckName("cifar"); err == nil {
		t.Error("CheckName(cifar) accepted")
	}
}

func TestDefaultVal(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want int
	}{{"fashion-mnist", 60000, 10000}, {"cifar10", 50000, 10000}, {"cifar100", 50000, 10000}, {"stl10", 5000, 500},
		{"tiny-imagenet", 100000, 10000}, {"folder", 1234, 123}, {"mnist", 5000, 5000}} {
		if got, err := DefaultVal(tc.name, tc.n); err != nil || got != tc.want {
			t.Errorf("DefaultVal(%s, %d) = %d, %v; want %d", tc.name, tc.n, got, err, tc.want)
		}
	}
}

func TestOpenFashionMNIST(t *testing.T) {
	dir := FashionMNISTDir()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Fashion-MNIST not installed (%v); make data installs it", err)
	}
	s, err := Open("fashion-mnist", OpenOptions{Val: -1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Train.N != 50000 || s.Val.N != 10000 || s.Test.N != 10000 || s.Unlabeled != nil {
		t.Fatalf("splits of %d/%d/%d images, want 50000/10000/10000", s.Train.N, s.Val.N, s.Test.N)
	}
	counts := make([]int, 10)
	for _, l := range s.Val.Labels {
		counts[l]++
	}
	for c, n := range counts {
		if n != 1000 {
			t.Errorf("class %d has %d validation images, want 1000", c, n)
		}
	}
	if s.Norm.Mean[0] != 0.2860 || s.Anchor != paperAnchor || s.Name != "fashion-mnist" {
		t.Errorf("norm %v, anchor %+v, name %q", s.Norm, s.Anchor, s.Name)
	}
	// Without a validation split the training split is the file's, whole.
	s0, err := Open("Fashion-MNIST", OpenOptions{TrainSubset: 100, TestSubset: 50})
	if err != nil {
		t.Fatal(err)
	}
	if s0.Val != nil || s0.Train.N != 100 || s0.Test.N != 50 {
		t.Fatalf("without validation: %d train, %d test, val %v", s0.Train.N, s0.Test.N, s0.Val)
	}
	if pre, err := s0.Pretrain(); err != nil || pre != s0.Train {
		t.Errorf("Pretrain without unlabelled images: %v", err)
	}
}
