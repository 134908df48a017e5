package autograd

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// held returns the number of buffers and of elements in the list.
func (f *freeList) held() (bufs, elems int) {
	for _, l := range f.bufs {
		bufs += len(l)
	}
	return bufs, f.elems
}

// countingBackend counts the allocations and copies a tape asks for.
type countingBackend struct {
	kernels.Full  // the fused capabilities too, or the count is that of the composites
	zeros, copies int
}

func (c *countingBackend) Zeros(shape ...int) *tensor.Tensor {
	c.zeros++
	return c.Full.Zeros(shape...)
}

func (c *countingBackend) Copy(src, dst *tensor.Tensor) {
	c.copies++
	c.Full.Copy(src, dst)
}

// testNet is a small network that uses every op of the package, with the
// sharing patterns of real models: a residual Add whose shortcut is also the
// input of its branch, a Var added to itself, reshapes, two views
// concatenated and split again, the same Var as both arguments of MatMul and
// InfoNCE, a batch norm in eval mode with and without its ReLU, rows
// gathered with repeats.
type testNet struct {
	be     kernels.Backend
	params []*Var
	// The batch norms' running statistics (updated by training forwards).
	stats []*tensor.Tensor
	// Inputs: two views of a batch of images, and labels.
	x1, x2 *Var
	labels []int32
}

const (
	tnBatch = 5
	tnChans = 3
	tnHW    = 7
	tnWidth = 4
	tnFeat  = 6
)

// newTestNet makes the network on be with parameters drawn from seed.
func newTestNet(be kernels.Backend, seed uint64) *testNet {
	rng := tensor.NewRand(seed)
	param := func(std float32, shape ...int) *Var {
		return NewVar(be.FromHost(tensor.RandN(rng, 0, std, shape...)), true)
	}
	n := &testNet{be: be}
	n.params = []*Var{
		param(0.4, tnWidth, tnChans, 3, 3), // 0 conv1
		param(0.3, tnWidth),                // 1 bn1 gamma
		param(0.3, tnWidth),                // 2 bn1 beta
		param(0.3, tnWidth, tnWidth, 3, 3), // 3 conv2
		param(0.3, tnWidth),                // 4 bn2 gamma
		param(0.3, tnWidth),                // 5 bn2 beta
		param(0.3, tnWidth),                // 6 bias
		param(0.4, tnFeat, tnWidth),        // 7 linear w
		param(0.3, tnFeat),                 // 8 linear b
		param(0.3, tnFeat),                 // 9 bn3 (eval) gamma
		param(0.3, tnFeat),                 // 10 bn3 beta
		param(0.2, 2*tnFeat, 2*tnFeat),     // 11 hallucinator w1
		param(0.2, 2*tnFeat),               // 12 b1
		param(0.2, 2*tnFeat, 2*tnFeat),     // 13 w2
		param(0.2, 2*tnFeat),               // 14 b2
		param(0.2, tnFeat, 2*tnFeat),       // 15 w3
		param(0.2, tnFeat),                 // 16 b3
	}
	for _, c := range []int{tnWidth, tnWidth, tnFeat} {
		n.stats = append(n.stats, be.FromHost(tensor.RandN(rng, 0, 0.1, c)),
			be.FromHost(tensor.RandU(rng, 0.5, 1.5, c)))
	}
	img := func() *Var {
		return NewVar(be.FromHost(tensor.RandN(rng, 0, 1, tnBatch, tnChans, tnHW, tnHW)), false)
	}
	n.x1, n.x2 = img(), img()
	for i := range tnBatch {
		n.labels = append(n.labels, int32((i*3+1)%tnFeat))
	}
	return n
}

// clone returns a copy of n with its own parameters and statistics.
func (n *testNet) clone() *testNet {
	cp := func(t *tensor.Tensor) *tensor.Tensor {
		u := n.be.Zeros(t.Shape()...)
		n.be.Copy(t, u)
		return u
	}
	m := &testNet{be: n.be, x1: n.x1, x2: n.x2, labels: n.labels}
	for _, p := range n.params {
		m.params = append(m.params, NewVar(cp(p.Value), true))
	}
	for _, s := range n.stats {
		m.stats = append(m.stats, cp(s))
	}
	return m
}

// encode is the image encoder: conv, BN+ReLU, a residual block whose
// shortcut feeds its branch, max-pool, a Var added to itself, global pool,
// reshapes, a bias, a linear layer and an eval-mode batch norm.
func (n *testNet) encode(tp *Tape, x *Var, reluEval bool) *Var {
	p, st := n.params, n.stats
	conv := kernels.ConvParams{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	bn := kernels.BNParams{Eps: 1e-5, Momentum: 0.1, ReLU: true}
	h := tp.BatchNorm(tp.Conv2d(x, p[0], conv), p[1], p[2], st[0], st[1], bn, true)
	bn.ReLU = false
	r := tp.BatchNorm(tp.Conv2d(h, p[3], conv), p[4], p[5], st[2], st[3], bn, true)
	r = tp.Relu(tp.Add(r, h))
	m := tp.MaxPool2d(r, kernels.PoolParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
	m = tp.Add(m, m)
	g := tp.GlobalAvgPool(m)
	g = tp.Reshape(tp.Reshape(g, tnBatch, tnWidth, 1, 1), tnBatch, tnWidth)
	g = tp.BiasAdd(g, p[6])
	f := tp.Linear(g, p[7], p[8])
	bn.ReLU = reluEval
	return tp.BatchNorm(f, p[9], p[10], st[4], st[5], bn, false)
}

// loss runs the whole network and returns the scalar loss.
func (n *testNet) loss(tp *Tape) *Var {
	p := n.params
	f1, f2 := n.encode(tp, n.x1, true), n.encode(tp, n.x2, false)
	z := tp.ConcatRows(f1, f2)
	// Recorded before the Rows of z, so that a Rows is the first to give z
	// a gradient.
	gram := tp.Mean(tp.RowSum(tp.MatMul(z, z, false, true)))
	gather := tp.Mean(tp.GatherRows(z, []int32{3, 1, 3, 0, 9}))
	pos, self := make([]int32, 2*tnBatch), make([]int32, 2*tnBatch)
	for i := range pos {
		pos[i], self[i] = int32((i+tnBatch)%(2*tnBatch)), int32(i)
	}
	nce := tp.InfoNCE(z, z, nil, kernels.InfoNCEParams{Temperature: 0.5, Pos: pos, Self: self, InBatchNegatives: true})
	za, zb := tp.Rows(z, 0, tnBatch), tp.Rows(z, tnBatch, 2*tnBatch)
	hal := tp.Hallucinate(za, zb, p[11], p[12], p[13], p[14], p[15], p[16], 0.3)
	l2 := tp.Mean(tp.Mul(hal, tp.L2Normalize(zb, 1e-12)))
	ce := tp.SoftmaxCrossEntropy(tp.Sub(za, tp.Scale(0.5, hal)), n.labels)
	return tp.Add(tp.Add(tp.Add(nce, l2), tp.Add(ce, tp.Scale(0.01, gram))), gather)
}

// train runs steps of plain gradient descent on n with the tape newTape
// gives for each step, and returns, per step, the loss and every
// parameter's gradient on the host.
func (n *testNet) train(steps int, newTape func() *Tape) [][][]float32 {
	var out [][][]float32
	for range steps {
		tp := newTape()
		tp.Recycle() // the previous step's values are dead (with recycling on)
		ZeroGrad(n.params)
		l := n.loss(tp)
		rec := [][]float32{n.be.ToHost(l.Value).Data()}
		tp.Backward(l)
		for _, p := range n.params {
			if !p.HasGrad() {
				panic("autograd test: a parameter got no gradient")
			}
			rec = append(rec, n.be.ToHost(p.Grad).Data())
			n.be.Axpy(-0.05, p.Grad, p.Value)
		}
		out = append(out, rec)
	}
	return out
}

// noReuseTape returns a tape that neither keeps nor gives away gradient
// buffers: every gradient is a new zero tensor, as before buffers were
// reused.
func noReuseTape(be kernels.Backend) *Tape { return &Tape{b: be} }

// poisoned returns a tape that reuses buffers and fills every buffer it
// hands out with NaN, so that a reader of unwritten elements shows.
func poisoned(be kernels.Backend) *Tape {
	tp := NewTape(be)
	tp.free.poison = true
	return tp
}

// sameBits reports the first difference between two records of train.
func sameBits(got, want [][][]float32) error {
	for s := range want {
		for i := range want[s] {
			g, w := got[s][i], want[s][i]
			if len(g) != len(w) {
				return fmt.Errorf("step %d, tensor %d: %d values, want %d", s, i, len(g), len(w))
			}
			for j := range w {
				if math.Float32bits(g[j]) != math.Float32bits(w[j]) {
					return fmt.Errorf("step %d, tensor %d (0 is the loss), element %d: %v, want %v", s, i, j, g[j], w[j])
				}
			}
		}
	}
	return nil
}

// TestReuseIsBitIdentical trains the test network for a few steps with
// buffer reuse and donation in several ways (one tape for all steps, a
// fresh tape per step, buffers poisoned with NaN when handed out, a tiny
// free list) and checks every loss and gradient against a tape that reuses
// nothing, bit for bit.
func TestReuseIsBitIdentical(t *testing.T) {
	const steps = 4
	for _, bc := range []struct {
		name string
		be   kernels.Backend
	}{
		{"ref", ref.New()},
		{"cpu", cpu.New(cpu.Options{Threads: 2})},
	} {
		base := newTestNet(bc.be, 7)
		want := base.clone().train(steps, func() *Tape { return noReuseTape(bc.be) })
		for _, l := range want[steps-1] {
			for _, v := range l {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s: the reference run is not finite", bc.name)
				}
			}
		}
		shared, sharedPoisoned, tiny := NewTape(bc.be), poisoned(bc.be), NewTape(bc.be)
		tiny.free = newFreeList(1, 64)
		recycling, recyclingPoisoned := NewTape(bc.be), poisoned(bc.be)
		recycling.SetRecycling(true)
		recyclingPoisoned.SetRecycling(true)
		for _, tc := range []struct {
			name    string
			newTape func() *Tape
		}{
			{"one tape", func() *Tape { return shared }},
			{"fresh tape per step", func() *Tape { return NewTape(bc.be) }},
			{"poisoned", func() *Tape { return sharedPoisoned }},
			{"fresh poisoned", func() *Tape { return poisoned(bc.be) }},
			{"tiny free list", func() *Tape { return tiny }},
			{"recycling", func() *Tape { return recycling }},
			{"recycling poisoned", func() *Tape { return recyclingPoisoned }},
		} {
			got := base.clone().train(steps, tc.newTape)
			if err := sameBits(got, want); err != nil {
				t.Errorf("%s, %s: %v", bc.name, tc.name, err)
			}
		}
		if b, e := tiny.free.held(); b > 64 || e > 64 {
			t.Errorf("%s: the tiny free list holds %d buffers of %d elements in all, want at most 64 elements", bc.name, b, e)
		}
		for k, l := range tiny.free.bufs {
			if len(l) > 1 {
				t.Errorf("%s: the tiny free list holds %d buffers of %d elements, want at most 1", bc.name, len(l), k)
			}
		}
	}
}

// TestBackwardAllocatesNothingOnceWarm checks that after the first step a
// tape's Backward takes every buffer from its free list (no Zeros call at
// all) and copies less than a tape that gives no buffer away, and that
// Reset keeps the free list and FreeBuffers empties it.
func TestBackwardAllocatesNothingOnceWarm(t *testing.T) {
	cb := &countingBackend{Full: ref.New()}
	net := newTestNet(cb, 11)
	countBackward := func(tp *Tape, n *testNet) (zeros, copies int) {
		ZeroGrad(n.params)
		l := n.loss(tp)
		cb.zeros, cb.copies = 0, 0
		tp.Backward(l)
		return cb.zeros, cb.copies
	}
	plain, plainNet := noReuseTape(cb), net.clone()
	tp, n := NewTape(cb), net.clone()
	for step := range 3 {
		pz, pc := countBackward(plain, plainNet)
		z, c := countBackward(tp, n)
		if pz == 0 {
			t.Fatalf("step %d: the tape without reuse allocated nothing in Backward", step)
		}
		if step > 0 && z != 0 {
			t.Errorf("step %d: Backward allocated %d tensors, want 0 (without reuse: %d)", step, z, pz)
		}
		// Reshapes, a BiasAdd, residual and final Adds give their output
		// gradient to an input instead of copying it.
		if c >= pc {
			t.Errorf("step %d: Backward copied %d times, want fewer than without donation (%d)", step, c, pc)
		}
	}
	b, e := tp.free.held()
	if b == 0 || e == 0 {
		t.Fatal("the free list is empty after Backward")
	}
	if b > maxFreePerSize*len(tp.free.bufs) || e > maxFreeElems {
		t.Fatalf("the free list holds %d buffers, %d elements: over its bounds", b, e)
	}
	tp.Reset()
	if b2, e2 := tp.free.held(); b2 != b || e2 != e {
		t.Fatalf("Reset changed the free list from %d/%d to %d/%d buffers/elements", b, e, b2, e2)
	}
	tp.FreeBuffers()
	if b, e := tp.free.held(); b != 0 || e != 0 {
		t.Fatalf("FreeBuffers left %d buffers, %d elements", b, e)
	}
	if z, _ := countBackward(tp, n); z == 0 {
		t.Fatal("Backward allocated nothing after FreeBuffers")
	}
}

// TestRecyclingAllocatesNothingOnceWarm checks that with recycling on, from
// the second step, every op output comes from the free list: a step makes
// as many fewer new tensors than a tape without recycling as the tape holds
// outputs, which is all of them (no new tensor at all). It checks too that
// Recycle hands them all back, and that turning recycling off hands them
// back and restores the bounds.
func TestRecyclingAllocatesNothingOnceWarm(t *testing.T) {
	cb := &countingBackend{Full: ref.New()}
	net := newTestNet(cb, 13)
	step := func(tp *Tape, n *testNet) (zeros int) {
		tp.Recycle()
		ZeroGrad(n.params)
		cb.zeros = 0
		tp.Backward(n.loss(tp))
		return cb.zeros
	}
	plain, plainNet := NewTape(cb), net.clone()
	tp, n := NewTape(cb), net.clone()
	tp.SetRecycling(true)
	for s := range 3 {
		pz, z := step(plain, plainNet), step(tp, n)
		held := len(tp.held)
		if held == 0 || len(plain.held) != 0 {
			t.Fatalf("step %d: the recycling tape holds %d outputs, the plain one %d", s, held, len(plain.held))
		}
		if s > 0 && (z != pz-held || z != 0) {
			t.Errorf("step %d: %d new tensors, want %d = 0 (%d without recycling, %d outputs recycled)", s, z, pz-held, pz, held)
		}
	}
	b, _ := tp.free.held()
	held := len(tp.held)
	tp.Recycle()
	if len(tp.held) != 0 {
		t.Fatalf("Recycle kept %d outputs", len(tp.held))
	}
	if b2, _ := tp.free.held(); b2 != b+held {
		t.Fatalf("Recycle: free list of %d buffers, want %d", b2, b+held)
	}
	step(tp, n)
	tp.SetRecycling(false)
	if len(tp.held) != 0 || tp.recycle || tp.free.maxPer != maxFreePerSize || tp.free.maxElems != maxFreeElems {
		t.Fatalf("after SetRecycling(false): %d held, recycle %v, bounds %d/%d", len(tp.held), tp.recycle, tp.free.maxPer, tp.free.maxElems)
	}
	if z, pz := step(tp, n), step(plain, plainNet); z != pz {
		t.Fatalf("recycling off: %d new tensors a step, want %d as a plain tape", z, pz)
	}
	// A tape that keeps no buffers does not recycle either, and turning
	// recycling off does not make it keep any; a tape with its own bounds
	// gets them back.
	none := noReuseTape(cb)
	none.SetRecycling(true)
	if step(none, net.clone()); none.recycle || len(none.held) != 0 {
		t.Fatal("a tape without a free list recycles")
	}
	none.SetRecycling(false)
	if none.free.enabled() {
		t.Fatal("SetRecycling(false) gave a tape without a free list one")
	}
	tiny := NewTape(cb)
	tiny.free = newFreeList(1, 64)
	tiny.SetRecycling(true)
	tiny.SetRecycling(true)
	tiny.SetRecycling(false)
	if tiny.free.maxPer != 1 || tiny.free.maxElems != 64 {
		t.Fatalf("bounds after recycling on and off: %d/%d, want 1/64", tiny.free.maxPer, tiny.free.maxElems)
	}
}

// TestFreeListBounds checks the per-size and total bounds of a free list,
// its LIFO order and its refusal of views and of a buffer released twice.
func TestFreeListBounds(t *testing.T) {
	be := ref.New()
	tp := NewTape(be)
	tp.free = newFreeList(3, 100)
	bufs := make([]*tensor.Tensor, 5)
	for i := range bufs {
		bufs[i] = be.Zeros(4, 5)
		tp.release(bufs[i])
	}
	if b, e := tp.free.held(); b != 3 || e != 60 {
		t.Fatalf("after 5 releases of 20 elements: %d buffers, %d elements, want 3, 60", b, e)
	}
	tp.release(be.Zeros(41)) // 60+41 > 100
	tp.release(be.Zeros(40))
	if b, e := tp.free.held(); b != 4 || e != 100 {
		t.Fatalf("%d buffers, %d elements, want 4, 100", b, e)
	}
	tp.release(be.Zeros(6, 7).Rows(1, 3)) // a view: never kept
	tp.release(be.Zeros(0))
	if b, _ := tp.free.held(); b != 4 {
		t.Fatalf("a view or an empty tensor was kept: %d buffers", b)
	}
	// Last in, first out, reshaped to the shape asked for, not zeroed.
	be.Fill(3, bufs[2])
	g := tp.scratch(20)
	if g.Storage() != bufs[2].Storage() || !tensor.EqualShape(g.Shape(), []int{20}) || g.Data()[7] != 3 {
		t.Fatalf("scratch returned %v over another storage, or zeroed it", g.Shape())
	}
	if b, e := tp.free.held(); b != 3 || e != 80 {
		t.Fatalf("after one scratch: %d buffers, %d elements, want 3, 80", b, e)
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "autograd: ") {
				t.Errorf("releasing a buffer twice: panic %v, want an autograd panic", r)
			}
		}()
		tp.release(bufs[1])
	}()
	noReuse := noReuseTape(be)
	noReuse.release(be.Zeros(3))
	if b, _ := noReuse.free.held(); b != 0 {
		t.Fatal("a tape without a free list kept a buffer")
	}
}

// donationGraph records a computation on tp whose probes note the buffer of
// each probed Var's gradient (probes pass their gradient on as an op that
// may donate it). It returns the loss and the notes.
func donationGraph(tp *Tape, x, y *Var) (*Var, map[string]tensor.Storage) {
	owner := map[string]tensor.Storage{}
	probe := func(name string, v *Var) *Var {
		return tp.Record(v.Value, []*Var{v}, func(g *tensor.Tensor) {
			owner[name] = g.Storage()
			tp.accumulate(v, tp.scaled(1, g))
		})
	}
	a := probe("a", tp.Scale(2, x))
	b := probe("b", tp.Scale(3, x))
	s := probe("s", tp.Add(a, b))        // to a, not to b
	rr := probe("rr", tp.Reshape(s, 24)) // to s
	d := probe("d", tp.Add(rr, rr))      // the same input twice: to none
	k := probe("k", tp.Scale(-1, x))
	e := probe("e", tp.Add(y, k)) // a leaf first: to k
	m := probe("m", tp.Sub(e, x)) // to e
	p1 := probe("p1", tp.Reshape(d, 4, 6))
	c := probe("c", tp.ConcatRows(p1, m)) // row views: to none
	q := probe("q", tp.Scale(1, c))       // to c
	cc := probe("cc", tp.ConcatRows(q))   // all rows: to q
	rl := probe("rl", tp.Relu(cc))        // masked in place: to cc
	ry := probe("ry", tp.Relu(y))         // a leaf: to none
	l := tp.Add(tp.Sum(tp.Mul(rl, NewVar(randnT(22, 8, 6), false))), tp.Sum(ry))
	return l, owner
}

// TestDonation checks which inputs take their op's output gradient: an
// intermediate Var once, never a leaf, never a Var that is both arguments,
// never a view of some rows, and never two inputs; and that the gradients
// are those of a tape that gives nothing away, bit for bit.
func TestDonation(t *testing.T) {
	be := ref.New()
	grads := func(tp *Tape) ([]float32, []float32, map[string]tensor.Storage) {
		x := NewVar(randnT(21, 4, 6), true)
		y := NewVar(randnT(23, 4, 6), true)
		l, owner := donationGraph(tp, x, y)
		tp.Backward(l)
		for name, st := range owner {
			if st == x.Grad.Storage() || st == y.Grad.Storage() {
				t.Errorf("%s's gradient is a leaf's buffer", name)
			}
		}
		return x.Grad.Data(), y.Grad.Data(), owner
	}
	wx, wy, _ := grads(noReuseTape(be))
	tp := poisoned(be)
	for step := range 2 {
		gx, gy, owner := grads(tp)
		if err := sameBits([][][]float32{{gx, gy}}, [][][]float32{{wx, wy}}); err != nil {
			t.Errorf("step %d: %v", step, err)
		}
		for _, tc := range []struct {
			from, to string
			same     bool
		}{
			{"s", "a", true}, {"s", "b", false}, {"rr", "s", true}, {"d", "rr", false},
			{"e", "k", true}, {"m", "e", true}, {"c", "p1", false}, {"c", "m", false},
			{"cc", "q", true}, {"q", "c", true}, {"rl", "cc", true},
		} {
			if same := owner[tc.from] == owner[tc.to]; same != tc.same {
				t.Errorf("step %d: %s gave its gradient buffer to %s: %v, want %v", step, tc.from, tc.to, same, tc.same)
			}
		}
	}
}

// randnT returns a host tensor of standard normal samples from seed.
func randnT(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.RandN(tensor.NewRand(seed), 0, 1, shape...)
}
