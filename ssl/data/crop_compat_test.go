package data

import (
	"math/rand/v2"
	"testing"
)

// TestAnchorCropCompatTruncatedStart checks AnchorResizedCrop.Compat against
// the released placement, lo + int((hi-lo)*beta) among the integer starts:
// on a 28-pixel image with windows of 90-100 % of its area (one to four
// starts fit along an axis), the released form never reaches the last start
// and so sits towards the top left, while the default reaches every start,
// both ends alike.
func TestAnchorCropCompatTruncatedStart(t *testing.T) {
	const side, draws = 28, 20000
	for _, tc := range []struct {
		name   string
		compat bool
		// Bounds on the mean offset of the start from the middle of its
		// range, in pixels, over both axes of every window.
		offLo, offHi float64
	}{
		{"released (Compat)", true, -0.8, -0.3},
		{"fixed", false, -0.05, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crop := NewAnchorResizedCrop(side, [2]float64{0.9, 1}, 0.25, 0.75, 0.1)
			crop.Compat = tc.compat
			r := rand.New(rand.NewPCG(7, 8))
			// seen[span][start] counts windows of span = side - size
			// starting at start, along either axis.
			seen := map[int]map[int]int{}
			var off float64
			var movable int
			for range draws {
				top, left, ch, cw := crop.Params(side, side, r)
				checkWindow(t, side, side, top, left, ch, cw, crop.Scale, crop.Ratio)
				for _, p := range [][2]int{{top, side - ch}, {left, side - cw}} {
					start, span := p[0], p[1]
					if seen[span] == nil {
						seen[span] = map[int]int{}
					}
					seen[span][start]++
					if span > 0 {
						off += float64(start) - float64(span)/2
						movable++
					}
				}
			}
			mean := off / float64(movable)
			t.Logf("mean start %.3f pixels from the middle of its range over %d placements", mean, movable)
			if mean < tc.offLo || mean > tc.offHi {
				t.Errorf("mean start %.3f pixels from the middle of its range, want in [%g, %g]", mean, tc.offLo, tc.offHi)
			}
			for span := 0; span < side; span++ {
				starts := seen[span]
				total := 0
				by := make([]int, span+1)
				for s, c := range starts {
					total += c
					by[s] = c
				}
				if total == 0 {
					continue
				}
				t.Logf("span %d: %d placements, by start %v", span, total, by)
				if span == 0 || total < 200 {
					continue
				}
				last := span // the far end: the window's right or bottom edge on the image's
				if tc.compat {
					if starts[last] != 0 {
						t.Errorf("span %d: the far end %d reached %d times; the released placement never reaches it", span, last, starts[last])
					}
					last-- // every start before it is reached
				}
				for s := 0; s <= last; s++ {
					if starts[s] == 0 {
						t.Errorf("span %d: start %d never reached in %d placements", span, s, total)
					}
				}
				if !tc.compat && (starts[0] < starts[span]*9/10 || starts[span] < starts[0]*9/10) {
					t.Errorf("span %d: %d at the near end, %d at the far end; want about as many", span, starts[0], starts[span])
				}
			}
		})
	}
}
