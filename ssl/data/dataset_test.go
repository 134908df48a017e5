package data

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDatasetSubsetConcat(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	a := randDataset(r, 7, 3, 4, 5, 3)
	b := randDataset(r, 4, 3, 4, 5, 3)
	s := a.Subset([]int{6, 0, 6})
	must(t, s.Validate())
	for k, i := range []int{6, 0, 6} {
		got, _, _ := s.Image(k)
		want, _, _ := a.Image(i)
		if !bytes.Equal(got, want) || s.Labels[k] != a.Labels[i] {
			t.Fatalf("Subset image %d", k)
		}
	}
	c, err := Concat(a, b)
	must(t, err)
	must(t, c.Validate())
	if c.N != 11 || c.Sizes != nil || c.H != 4 {
		t.Fatalf("Concat: N=%d sizes %v", c.N, c.Sizes)
	}
	for i := 0; i < 11; i++ {
		got, _, _ := c.Image(i)
		src, j := a, i
		if i >= 7 {
			src, j = b, i-7
		}
		want, _, _ := src.Image(j)
		if !bytes.Equal(got, want) || c.Labels[i] != src.Labels[j] {
			t.Fatalf("Concat image %d", i)
		}
	}
	// Different sizes make a varied data set.
	v, err := Concat(a, randDataset(r, 2, 3, 6, 2, 3))
	must(t, err)
	must(t, v.Validate())
	if _, h, w := v.Image(8); v.Sizes == nil || h != 6 || w != 2 {
		t.Fatalf("varied Concat: image 8 is %dx%d", h, w)
	}
	if _, err := Concat(a, randDataset(r, 2, 1, 4, 5, 3)); err == nil {
		t.Error("Concat of 3- and 1-channel sets accepted")
	}
	if _, err := Concat(); err == nil {
		t.Error("Concat of nothing accepted")
	}
}

func TestDatasetValidate(t *testing.T) {
	r := rand.New(rand.NewPCG(83, 84))
	for _, tc := range []struct {
		name string
		edit func(d *Dataset)
		msg  string
	}{
		{"short pixels", func(d *Dataset) { d.Pixels = d.Pixels[:len(d.Pixels)-1] }, "pixel bytes"},
		{"labels", func(d *Dataset) { d.Labels = d.Labels[:2] }, "2 labels for 5"},
		{"label range", func(d *Dataset) { d.Labels[3] = 4 }, "label 4 of image 3"},
		{"label -2", func(d *Dataset) { d.Labels[0] = -2 }, "label -2"},
		{"names", func(d *Dataset) { d.ClassNames = []string{"a"} }, "1 class names for 4"},
		{"size", func(d *Dataset) { d.W = 0 }, "image size"},
		{"offsets", func(d *Dataset) {
			d.Sizes = [][2]int{{2, 2}, {2, 2}, {2, 2}, {2, 2}, {9, 9}}
			d.Offsets = []int{0, 12, 24, 36, 48}
		}, "outside"},
	} {
		d := randDataset(r, 5, 3, 2, 2, 4)
		must(t, d.Validate())
		tc.edit(d)
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.msg)
		}
	}
}
