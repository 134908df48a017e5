package tensor

import (
	"fmt"
	"strings"
	"testing"
)

func TestReshapeAndRows(t *testing.T) {
	x := FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	tests := []struct {
		name  string
		shape []int
		want  []int
	}{
		{"flat", []int{6}, []int{6}},
		{"infer", []int{3, -1}, []int{3, 2}},
		{"4d", []int{1, 2, 3, 1}, []int{1, 2, 3, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := x.Reshape(tc.shape...)
			if !EqualShape(r.Shape(), tc.want) {
				t.Fatalf("shape %v, want %v", r.Shape(), tc.want)
			}
			if &r.Data()[0] != &x.Data()[0] {
				t.Fatal("Reshape copied")
			}
		})
	}
	r := x.Rows(1, 2)
	if got := r.Data(); len(got) != 3 || got[0] != 4 || got[2] != 6 {
		t.Fatalf("Rows(1,2) = %v", got)
	}
	r.Set(40, 0, 0)
	if x.At(1, 0) != 40 {
		t.Fatal("Rows is not a view")
	}
}

func TestReshapePanics(t *testing.T) {
	x := Zeros(2, 3)
	for _, shape := range [][]int{{4}, {-1, 4}, {-1, -1}, {-2, 3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Reshape%v did not panic", shape)
				}
			}()
			x.Reshape(shape...)
		}()
	}
}

func TestTransposeContiguous(t *testing.T) {
	rng := NewRand(1)
	for _, sh := range [][2]int{{1, 1}, {3, 7}, {13, 2}} {
		x := RandN(rng, 0, 1, sh[0], sh[1])
		xt := x.T()
		if xt.IsContiguous() && sh[0] > 1 && sh[1] > 1 {
			t.Fatal("transpose reported contiguous")
		}
		c := xt.Contiguous()
		for i := 0; i < sh[1]; i++ {
			for j := 0; j < sh[0]; j++ {
				if c.At(i, j) != x.At(j, i) {
					t.Fatalf("%v: (%d,%d) = %v, want %v", sh, i, j, c.At(i, j), x.At(j, i))
				}
			}
		}
	}
	p := FromSlice([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 2, 3, 2).Permute(2, 0, 1).Contiguous()
	if !EqualShape(p.Shape(), []int{2, 2, 3}) || p.At(1, 0, 2) != 5 || p.At(0, 1, 1) != 8 {
		t.Fatalf("Permute: %v", p)
	}
}

func TestRandDeterministic(t *testing.T) {
	a := RandN(NewRand(7), 0, 1, 100).Data()
	b := RandN(NewRand(7), 0, 1, 100).Data()
	c := RandU(NewRand(8), -2, 3, 1000).Data()
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("same seed, different values")
		}
	}
	for _, v := range c {
		if v < -2 || v >= 3 {
			t.Fatalf("RandU value %v out of [-2, 3)", v)
		}
	}
}

func TestCloneAndNaN(t *testing.T) {
	x := Full(2, 3, 3)
	y := x.Clone()
	y.Set(5, 0, 0)
	if x.At(0, 0) != 2 || x.HasNaN() {
		t.Fatal("Clone shares storage or HasNaN is wrong")
	}
	var zero float32
	y.Set(zero/zero, 2, 2)
	if !y.HasNaN() {
		t.Fatal("HasNaN missed a NaN")
	}
}

func TestString(t *testing.T) {
	s := FromSlice([]float32{1, 2, 3, 4}, 2, 2).String()
	if !strings.Contains(s, "[[1 2] [3 4]]") || !strings.Contains(s, "Tensor[2 2](cpu)") {
		t.Fatalf("String = %q", s)
	}
}

func ExampleFromSlice() {
	x := FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	fmt.Println(x)
	fmt.Println(x.T().Contiguous())
	fmt.Println(x.Rows(1, 2).Reshape(3))
	// Output:
	// Tensor[2 3](cpu) [[1 2 3] [4 5 6]]
	// Tensor[3 2](cpu) [[1 4] [2 5] [3 6]]
	// Tensor[3](cpu) [4 5 6]
}
