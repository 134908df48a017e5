package profile_test

import (
	"bytes"
	"strings"
	"testing"

	"hallucinator/kernels"
	"hallucinator/kernels/conformance"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/profile"
	"hallucinator/tensor"
)

// The wrapper forwards every method faithfully: the CPU backend seen
// through it passes the conformance suite.
func TestConformance(t *testing.T) {
	be := cpu.New(cpu.Options{})
	defer be.Close()
	conformance.Run(t, profile.Wrap(be, profile.Options{}), conformance.Options{})
}

func TestRecords(t *testing.T) {
	be := profile.Wrap(cpu.New(cpu.Options{Threads: 1}), profile.Options{})
	defer be.Close()
	rng := tensor.NewRand(1)
	x := tensor.RandN(rng, 0, 1, 2, 3, 8, 8)
	w := tensor.RandN(rng, 0, 1, 4, 3, 3, 3)
	y := be.Zeros(2, 4, 8, 8)
	cp := kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	be.Reset() // Zeros above is not counted
	for range 3 {
		be.Conv2d(cp, x, w, y)
	}
	a, b, c := tensor.RandN(rng, 0, 1, 5, 7), tensor.RandN(rng, 0, 1, 6, 7), tensor.Zeros(5, 6)
	be.Gemm(false, true, 1, a, b, 0, c)
	be.Relu(c, c)

	r := be.Report()
	if len(r.Entries) != 3 {
		t.Fatalf("%d entries, want 3: %+v", len(r.Entries), r.Entries)
	}
	got := map[string]profile.Entry{}
	for _, e := range r.Entries {
		got[e.Op] = e
	}
	conv := got["Conv2d"]
	if want := 3 * 2.0 * 2 * 4 * 3 * 9 * 64; conv.Calls != 3 || conv.Flops != want || conv.Pass != "conv forward" || conv.Shape != "2x3x8x8 k4 3x3 s1" {
		t.Errorf("conv entry %+v, want 3 calls, %v flops", conv, want)
	}
	if g := got["Gemm"]; g.Flops != 2*5*6*7 || g.Shape != "NT 5x6x7" {
		t.Errorf("gemm entry %+v", g)
	}
	if e := got["Relu"]; e.Bytes != 2*4*30 || e.Flops != 0 || e.Pass != "elementwise" {
		t.Errorf("relu entry %+v", e)
	}
	var total int64
	for _, e := range r.Entries {
		total += int64(e.Time)
	}
	if int64(r.Total) != total {
		t.Errorf("total %v, sum of entries %v", r.Total, total)
	}
	passes := r.ByPass()
	if len(passes) != 3 || passes[0].Pass != "conv forward" || passes[1].Pass != "gemm" || passes[2].Pass != "elementwise" {
		t.Errorf("passes %+v", passes)
	}
	var buf bytes.Buffer
	if err := r.Write(&buf, profile.Machine{PeakGFLOPS: 100, BandwidthGBs: 10}, 1, 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"conv forward", "2x3x8x8 k4 3x3 s1", "% peak", "% bw", "total"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, buf.String())
		}
	}
	be.Reset()
	if r := be.Report(); len(r.Entries) != 0 || r.Total != 0 {
		t.Errorf("after Reset: %+v", r)
	}
}
