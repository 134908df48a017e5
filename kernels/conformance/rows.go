package conformance

import (
	"fmt"
	"testing"
)

// rowCases are the shapes of GatherRows and ScatterAddRows: the indexed
// tensor [M, ...] and the number of indices R, with repeats when R > M.
var rowCases = []struct {
	shape []int // of the indexed tensor
	r     int
}{
	{[]int{1, 1}, 1},
	{[]int{7, 13}, 7},
	{[]int{7, 13}, 20},
	{[]int{5, 3, 5}, 3},
	{[]int{1000}, 2500},
	{[]int{256, 128}, 512},
	{[]int{9, 4}, 0},
}

// rowIndices returns r indices in [0, m): a permutation when r == m, else
// random with repeats.
func (c *kcase) rowIndices(m, r int) []int32 {
	idx := make([]int32, r)
	if r == m {
		for i, p := range c.rng.Perm(m) {
			idx[i] = int32(p)
		}
		return idx
	}
	for i := range idx {
		idx[i] = int32(c.rng.IntN(m))
	}
	return idx
}

// otherShape is the shape of the R-row side of a row op on shape.
func otherShape(shape []int, r int) []int {
	return append([]int{r}, shape[1:]...)
}

// gatherRows checks GatherRows.
func (s *suite) gatherRows(t *testing.T) {
	for _, tc := range rowCases {
		s.run(t, fmt.Sprintf("x=%v/r=%d", tc.shape, tc.r), func(c *kcase) {
			idx := c.rowIndices(tc.shape[0], tc.r)
			x, y := c.in("x", tc.shape...), c.out("y", otherShape(tc.shape, tc.r)...)
			s.ref.GatherRows(x.ref, idx, y.ref)
			s.b.GatherRows(x.dev, idx, y.dev)
		})
	}
}

// scatterAddRows checks ScatterAddRows, which accumulates into y.
func (s *suite) scatterAddRows(t *testing.T) {
	for _, tc := range rowCases {
		s.run(t, fmt.Sprintf("y=%v/r=%d", tc.shape, tc.r), func(c *kcase) {
			idx := c.rowIndices(tc.shape[0], tc.r)
			x := c.in("x", otherShape(tc.shape, tc.r)...)
			y := c.outT("y", RandTensor(c.rng, tc.shape...))
			y.tol(longSum(1 + tc.r/tc.shape[0]))
			s.ref.ScatterAddRows(x.ref, idx, y.ref)
			s.b.ScatterAddRows(x.dev, idx, y.dev)
		})
	}
}
