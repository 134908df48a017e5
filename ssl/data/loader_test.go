package data

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func randDataset(r *rand.Rand, n, c, h, w, classes int) *Dataset {
	d := &Dataset{N: n, C: c, H: h, W: w, Pixels: randBytes(r, n*c*h*w), Labels: make([]int32, n), NumClasses: classes}
	for i := range d.Labels {
		d.Labels[i] = int32(r.IntN(classes))
	}
	return d
}

// collect reads every batch until io.EOF, copying them.
func collect(t *testing.T, l *Loader) []*Batch {
	t.Helper()
	var out []*Batch
	for {
		b, err := l.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		c := *b
		c.Views = nil
		for _, v := range b.Views {
			c.Views = append(c.Views, slices.Clone(v))
		}
		c.Labels, c.Indices = slices.Clone(b.Labels), slices.Clone(b.Indices)
		out = append(out, &c)
		l.Recycle(b)
	}
}

func batchesEqual(a, b *Batch) bool {
	if a.N != b.N || a.Epoch != b.Epoch || a.Step != b.Step || !slices.Equal(a.Indices, b.Indices) ||
		!slices.Equal(a.Labels, b.Labels) || len(a.Views) != len(b.Views) {
		return false
	}
	for v := range a.Views {
		if !slices.Equal(a.Views[v], b.Views[v]) {
			return false
		}
	}
	return true
}

func TestLoaderEpochs(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	d := randDataset(r, 53, 3, 5, 4, 7)
	for _, tc := range []struct {
		batch    int
		dropLast bool
		shuffle  bool
		steps    int
		lastN    int
	}{
		{8, false, true, 7, 5},
		{8, true, true, 6, 8},
		{53, false, false, 1, 53},
		{1, false, true, 53, 1},
		{60, false, true, 1, 53},
	} {
		l, err := NewLoader(context.Background(), d, LoaderOptions{BatchSize: tc.batch, Views: []Transform{nil},
			Seed: 5, Shuffle: tc.shuffle, DropLast: tc.dropLast, Workers: 3, Epochs: 3})
		must(t, err)
		if l.StepsPerEpoch() != tc.steps {
			t.Fatalf("%+v: %d steps", tc, l.StepsPerEpoch())
		}
		bs := collect(t, l)
		l.Close()
		if len(bs) != 3*tc.steps {
			t.Fatalf("%+v: %d batches", tc, len(bs))
		}
		var orders [][]int
		for e := 0; e < 3; e++ {
			var seen []int
			for s, b := range bs[e*tc.steps : (e+1)*tc.steps] {
				if b.Epoch != e || b.Step != s {
					t.Fatalf("%+v: batch at epoch %d step %d says %d/%d", tc, e, s, b.Epoch, b.Step)
				}
				wantN := tc.batch
				if s == tc.steps-1 {
					wantN = tc.lastN
				}
				if b.N != wantN || len(b.Indices) != wantN || len(b.Views[0]) != wantN*60 {
					t.Fatalf("%+v: step %d has %d images", tc, s, b.N)
				}
				for k, i := range b.Indices {
					if b.Labels[k] != d.Labels[i] {
						t.Fatalf("label of image %d", i)
					}
					want := ImageFromBytes(d.Pixels[i*60:(i+1)*60], 3, 5, 4)
					if !slices.Equal(b.Views[0][k*60:(k+1)*60], want.Pix) {
						t.Fatalf("pixels of image %d", i)
					}
				}
				seen = append(seen, b.Indices...)
			}
			orders = append(orders, slices.Clone(seen))
			slices.Sort(seen)
			seen = slices.Compact(seen)
			want := 53
			if tc.dropLast {
				want = 48
			}
			if len(seen) != want || seen[0] < 0 || seen[len(seen)-1] >= 53 {
				t.Fatalf("%+v: epoch %d visits %d distinct images, want %d", tc, e, len(seen), want)
			}
		}
		shuffled := !slices.Equal(orders[0], orders[1]) && !slices.Equal(orders[1], orders[2])
		if tc.batch > 1 && shuffled != tc.shuffle {
			t.Errorf("%+v: epochs in different orders: %v", tc, shuffled)
		}
	}
}

func TestLoaderDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(63, 64))
	d := randDataset(r, 37, 3, 12, 10, 4)
	norm, _ := NormalizeFor("cifar10")
	views := []Transform{AnchorView(8, norm, false, 0.25, 0.75, 0.1), SSLView(8, norm, true)}
	run := func(workers, prefetch int, seed uint64) []*Batch {
		l, err := NewLoader(context.Background(), d, LoaderOptions{BatchSize: 6, Views: views, Seed: seed,
			Shuffle: true, Workers: workers, Prefetch: prefetch, Epochs: 2})
		must(t, err)
		defer l.Close()
		return collect(t, l)
	}
	ref := run(1, 1, 42)
	for _, wp := range [][2]int{{2, 0}, {5, 1}, {3, 9}} {
		got := run(wp[0], wp[1], 42)
		if len(got) != len(ref) {
			t.Fatalf("workers %d: %d batches, want %d", wp[0], len(got), len(ref))
		}
		for i := range ref {
			if !batchesEqual(got[i], ref[i]) {
				t.Fatalf("workers %d prefetch %d: batch %d differs", wp[0], wp[1], i)
			}
		}
	}
	// The two views of an image differ, and another seed gives other views.
	b := ref[0]
	if slices.Equal(b.Views[0][:192], b.Views[1][:192]) {
		t.Error("the two views of an image are equal")
	}
	other := run(2, 0, 43)
	if slices.Equal(other[0].Indices, ref[0].Indices) || slices.Equal(other[0].Views[0], ref[0].Views[0]) {
		t.Error("seed 43 gave the batches of seed 42")
	}
	// An image's views depend on (seed, epoch, index, view) only.
	for k, i := range b.Indices {
		for v, p := range views {
			img := p.Apply(ImageFromBytes(d.Pixels[i*360:(i+1)*360], 3, 12, 10), SampleRand(42, 0, i, v))
			if !slices.Equal(img.Pix, b.Views[v][k*192:(k+1)*192]) {
				t.Fatalf("image %d view %d differs from its SampleRand", i, v)
			}
		}
	}
}

func TestLoaderResume(t *testing.T) {
	r := rand.New(rand.NewPCG(65, 66))
	d := randDataset(r, 29, 1, 6, 6, 3)
	views := []Transform{NewPipeline(NewRandomResizedCrop(4, [2]float64{0.2, 1}), RandomHorizontalFlip{P: 0.5})}
	opt := LoaderOptions{BatchSize: 4, Views: views, Seed: 9, Shuffle: true, Workers: 2, Epochs: 3}
	l, err := NewLoader(context.Background(), d, opt)
	must(t, err)
	full := collect(t, l)
	l.Close()
	steps := 8
	for _, at := range [][2]int{{0, 0}, {1, 3}, {2, 7}, {0, 5}} {
		o := opt
		o.StartEpoch, o.StartStep = at[0], at[1]
		o.Workers = 3
		l, err := NewLoader(context.Background(), d, o)
		must(t, err)
		got := collect(t, l)
		l.Close()
		skip := at[0]*steps + at[1]
		if len(got) != len(full)-skip {
			t.Fatalf("resume at %v: %d batches, want %d", at, len(got), len(full)-skip)
		}
		for i := range got {
			if !batchesEqual(got[i], full[skip+i]) {
				t.Fatalf("resume at %v: batch %d differs", at, i)
			}
		}
	}
	o := opt
	o.StartStep = steps
	if _, err := NewLoader(context.Background(), d, o); err == nil {
		t.Error("start step past the epoch accepted")
	}
}

// slowTransform sleeps in every Apply, to catch the loader mid-batch.
type slowTransform struct{ calls *atomic.Int64 }

func (s slowTransform) Apply(img Image, rng *rand.Rand) Image {
	s.calls.Add(1)
	time.Sleep(2 * time.Millisecond)
	return img
}
func (s slowTransform) OutShape(c, h, w int) (int, int, int, error) { return c, h, w, nil }

func TestLoaderCancel(t *testing.T) {
	r := rand.New(rand.NewPCG(67, 68))
	d := randDataset(r, 1000, 1, 4, 4, 2)
	base := runtime.NumGoroutine()
	var calls atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	l, err := NewLoader(ctx, d, LoaderOptions{BatchSize: 500, Views: []Transform{slowTransform{&calls}}, Workers: 4})
	must(t, err)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err = l.Next() // a batch takes a second; the cancel comes first
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("Next returned %v after the cancel", el)
	}
	l.Close()
	if n := calls.Load(); n >= 500 {
		t.Errorf("workers went on after the cancel: %d samples", n)
	}
	if _, err := l.Next(); err != ErrClosed {
		t.Errorf("Next after Close: %v", err)
	}
	waitGoroutines(t, base)

	// Close alone stops a loader with no end.
	l, err = NewLoader(context.Background(), d, LoaderOptions{BatchSize: 7, Views: []Transform{nil}, Workers: 3, Shuffle: true})
	must(t, err)
	for range 5 {
		if _, err := l.Next(); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	l.Close()
	if _, err := l.Next(); err != ErrClosed {
		t.Errorf("Next after Close: %v", err)
	}
	waitGoroutines(t, base)
}

func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	for range 100 {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("%d goroutines left, %d before", runtime.NumGoroutine(), base)
}

func TestLoaderErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(69, 70))
	d := randDataset(r, 10, 3, 8, 8, 2)
	norm, _ := NormalizeFor("cifar10")
	ctx := context.Background()
	varied := &Dataset{N: 2, C: 3, Pixels: randBytes(r, 3*(4*4+5*3)), Labels: []int32{0, 1}, NumClasses: 2,
		Sizes: [][2]int{{4, 4}, {5, 3}}, Offsets: []int{0, 48}}
	for name, tc := range map[string]struct {
		d   *Dataset
		opt LoaderOptions
	}{
		"batch 0":        {d, LoaderOptions{Views: []Transform{nil}}},
		"no views":       {d, LoaderOptions{BatchSize: 2}},
		"view shapes":    {d, LoaderOptions{BatchSize: 2, Views: []Transform{SSLView(8, norm, false), SSLView(6, norm, false)}}},
		"bad view":       {d, LoaderOptions{BatchSize: 2, Views: []Transform{SSLView(8, Normalize{}, false)}}},
		"no full batch":  {d, LoaderOptions{BatchSize: 11, DropLast: true, Views: []Transform{nil}}},
		"varied sizes":   {varied, LoaderOptions{BatchSize: 2, Views: []Transform{nil}}},
		"bad labels":     {&Dataset{N: 1, C: 1, H: 1, W: 1, Pixels: []uint8{1}, Labels: []int32{3}, NumClasses: 2}, LoaderOptions{BatchSize: 1, Views: []Transform{nil}}},
		"negative epoch": {d, LoaderOptions{BatchSize: 2, Views: []Transform{nil}, StartEpoch: -1}},
	} {
		if l, err := NewLoader(ctx, tc.d, tc.opt); err == nil {
			l.Close()
			t.Errorf("%s: no error", name)
		}
	}
	// Images of varied sizes are fine once a crop makes them one size.
	l, err := NewLoader(ctx, varied, LoaderOptions{BatchSize: 2, Views: []Transform{NewRandomResizedCrop(3, [2]float64{0.5, 1})}, Epochs: 1})
	must(t, err)
	bs := collect(t, l)
	l.Close()
	if len(bs) != 1 || bs[0].N != 2 || bs[0].H != 3 || len(bs[0].Views[0]) != 2*27 {
		t.Errorf("varied sizes: %d batches", len(bs))
	}
}
