package dist

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"hallucinator/tensor"
)

// runRanks runs f on every rank of comms at once and returns the ranks'
// errors.
func runRanks(comms []Comm, f func(r int, c Comm) error) []error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = f(r, c)
		}()
	}
	wg.Wait()
	return errs
}

// values is rank r's input of n awkward (non-integer, mixed-magnitude)
// values, so that the order of summation shows in the bits.
func values(r, n int) []float32 {
	v := make([]float32, n)
	rng := tensor.NewRand(uint64(1000*r + n + 1))
	for i := range v {
		v[i] = float32(rng.NormFloat64()) * float32(math.Pow(10, float64(rng.IntN(7)-3)))
	}
	return v
}

// refSum is the reduction in rank order of the ranks' values [lo, hi).
func refSum(w, n, lo, hi int, op Op) []float32 {
	res := make([]float32, hi-lo)
	copy(res, values(0, n)[lo:hi])
	for r := 1; r < w; r++ {
		v := values(r, n)[lo:hi]
		for i := range res {
			res[i] += v[i]
		}
	}
	if op == Avg {
		for i := range res {
			res[i] /= float32(w)
		}
	}
	return res
}

func sameBits(a, b []float32) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d values, want %d", len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return fmt.Errorf("value %d is %v (%#x), want %v (%#x)", i, a[i], math.Float32bits(a[i]), b[i], math.Float32bits(b[i]))
		}
	}
	return nil
}

// collectiveCase is one collective run on every rank with n values per rank
// and checked against the reference computed here.
type collectiveCase struct {
	name string
	run  func(ctx context.Context, c Comm, n int) ([]float32, error)
	want func(w, r, n int) []float32
}

var collectiveCases = []collectiveCase{
	{"AllReduceSum", func(ctx context.Context, c Comm, n int) ([]float32, error) {
		t := tensor.FromSlice(values(c.Rank(), n), n)
		return t.Data(), c.AllReduce(ctx, t, Sum)
	}, func(w, r, n int) []float32 { return refSum(w, n, 0, n, Sum) }},
	{"AllReduceAvg", func(ctx context.Context, c Comm, n int) ([]float32, error) {
		t := tensor.FromSlice(values(c.Rank(), n), n)
		return t.Data(), c.AllReduce(ctx, t, Avg)
	}, func(w, r, n int) []float32 { return refSum(w, n, 0, n, Avg) }},
	{"BroadcastLast", func(ctx context.Context, c Comm, n int) ([]float32, error) {
		t := tensor.FromSlice(values(c.Rank(), n), n)
		return t.Data(), c.Broadcast(ctx, t, c.Size()-1)
	}, func(w, r, n int) []float32 { return values(w-1, n) }},
	{"Broadcast0", func(ctx context.Context, c Comm, n int) ([]float32, error) {
		t := tensor.FromSlice(values(c.Rank(), n), n)
		return t.Data(), c.Broadcast(ctx, t, 0)
	}, func(w, r, n int) []float32 { return values(0, n) }},
	{"AllGather", func(ctx context.Context, c Comm, n int) ([]float32, error) {
		recv := tensor.Full(float32(math.NaN()), c.Size()*n)
		return recv.Data(), c.AllGather(ctx, tensor.FromSlice(values(c.Rank(), n), n), recv)
	}, func(w, r, n int) []float32 {
		var all []float32
		for q := 0; q < w; q++ {
			all = append(all, values(q, n)...)
		}
		return all
	}},
	{"ReduceScatterSum", func(ctx context.Context, c Comm, n int) ([]float32, error) {
		recv := tensor.Full(float32(math.NaN()), n)
		return recv.Data(), c.ReduceScatter(ctx, tensor.FromSlice(values(c.Rank(), c.Size()*n), c.Size()*n), recv, Sum)
	}, func(w, r, n int) []float32 { return refSum(w, w*n, r*n, (r+1)*n, Sum) }},
	{"ReduceScatterAvg", func(ctx context.Context, c Comm, n int) ([]float32, error) {
		recv := tensor.Full(float32(math.NaN()), n)
		return recv.Data(), c.ReduceScatter(ctx, tensor.FromSlice(values(c.Rank(), c.Size()*n), c.Size()*n), recv, Avg)
	}, func(w, r, n int) []float32 { return refSum(w, w*n, r*n, (r+1)*n, Avg) }},
	{"Barrier", func(ctx context.Context, c Comm, n int) ([]float32, error) {
		return nil, c.Barrier(ctx)
	}, func(w, r, n int) []float32 { return nil }},
}

var worldSizes = []int{1, 2, 3, 4}
var awkwardSizes = []int{0, 1, 7, 1000}

// TestGroupCollectives: every collective at every world size and awkward
// size gives each rank the reference's bits, and the results of the
// reductions are bit-identical across ranks.
func TestGroupCollectives(t *testing.T) {
	for _, cc := range collectiveCases {
		for _, w := range worldSizes {
			for _, n := range awkwardSizes {
				t.Run(fmt.Sprintf("%s/W=%d/n=%d", cc.name, w, n), func(t *testing.T) {
					comms := NewGroup(w, 5*time.Second)
					got := make([][]float32, w)
					errs := runRanks(comms, func(r int, c Comm) error {
						var err error
						got[r], err = cc.run(context.Background(), c, n)
						return err
					})
					for r := range comms {
						if errs[r] != nil {
							t.Fatalf("rank %d: %v", r, errs[r])
						}
						if err := sameBits(got[r], cc.want(w, r, n)); err != nil {
							t.Errorf("rank %d: %v", r, err)
						}
						comms[r].Close()
					}
				})
			}
		}
	}
}

// TestGroupSequence: many collectives in a row with ranks running at
// different speeds pair up by order.
func TestGroupSequence(t *testing.T) {
	comms := NewGroup(3, 5*time.Second)
	errs := runRanks(comms, func(r int, c Comm) error {
		for i := 0; i < 200; i++ {
			if r == i%3 {
				runtime.Gosched()
			}
			x := tensor.Full(float32(r+i), 5)
			if err := c.AllReduce(context.Background(), x, Sum); err != nil {
				return err
			}
			if want := float32(3*i + 3); x.Data()[4] != want {
				return fmt.Errorf("step %d: %v, want %v", i, x.Data()[4], want)
			}
			if err := c.Barrier(context.Background()); err != nil {
				return err
			}
		}
		return c.Close()
	})
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// TestGroupMismatch: ranks that call different collectives, sizes, ops or
// roots all get an error naming both collectives, and the group stays
// failed.
func TestGroupMismatch(t *testing.T) {
	allReduce := func(n int, op Op) func(Comm) error {
		return func(c Comm) error { return c.AllReduce(context.Background(), tensor.Zeros(n), op) }
	}
	cases := []struct {
		name       string
		w          int
		odd        int // the rank that differs
		common     func(Comm) error
		other      func(Comm) error
		want, also string
	}{
		{"AllReduceVsBroadcast", 2, 1, allReduce(7, Sum), func(c Comm) error {
			return c.Broadcast(context.Background(), tensor.Zeros(7), 0)
		}, "all-reduce(sum) of 7 values", "broadcast(root 0) of 7 values"},
		{"Sizes", 3, 2, allReduce(7, Sum), allReduce(1000, Sum), "all-reduce(sum) of 7 values", "all-reduce(sum) of 1000 values"},
		{"Ops", 4, 0, allReduce(7, Sum), allReduce(7, Avg), "all-reduce(sum) of 7 values", "all-reduce(avg) of 7 values"},
		{"Roots", 3, 1, func(c Comm) error { return c.Broadcast(context.Background(), tensor.Zeros(1), 0) },
			func(c Comm) error { return c.Broadcast(context.Background(), tensor.Zeros(1), 2) },
			"broadcast(root 0) of 1 values", "broadcast(root 2) of 1 values"},
		{"BarrierVsAllGather", 2, 0, func(c Comm) error { return c.Barrier(context.Background()) },
			func(c Comm) error { return c.AllGather(context.Background(), tensor.Zeros(0), tensor.Zeros(0)) },
			"barrier", "all-gather of 0 values"},
		{"ReduceScatterVsAllGather", 2, 1, func(c Comm) error {
			return c.ReduceScatter(context.Background(), tensor.Zeros(14), tensor.Zeros(7), Sum)
		}, func(c Comm) error { return c.AllGather(context.Background(), tensor.Zeros(7), tensor.Zeros(14)) },
			"reduce-scatter(sum) of 7 values", "all-gather of 7 values"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			comms := NewGroup(tc.w, 10*time.Second)
			start := time.Now()
			errs := runRanks(comms, func(r int, c Comm) error {
				if r == tc.odd {
					return tc.other(c)
				}
				return tc.common(c)
			})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v: a mismatch must not wait for the timeout", d)
			}
			for r, err := range errs {
				if err == nil || !strings.Contains(err.Error(), "mismatch") ||
					!strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.also) {
					t.Errorf("rank %d: error %v, want a mismatch naming %q and %q", r, err, tc.want, tc.also)
				}
			}
			// The group stays failed.
			errs = runRanks(comms, func(r int, c Comm) error { return c.Barrier(context.Background()) })
			for r, err := range errs {
				if err == nil || !strings.Contains(err.Error(), "failed earlier") {
					t.Errorf("rank %d: barrier after the mismatch: %v, want the earlier failure", r, err)
				}
			}
		})
	}
}

// TestGroupInvalid: a rank with wrong arguments fails at once, and so do the
// ranks that wait for it.
func TestGroupInvalid(t *testing.T) {
	cases := []struct {
		name string
		bad  func(Comm) error
		want string
	}{
		{"AllGatherRecv", func(c Comm) error {
			return c.AllGather(context.Background(), tensor.Zeros(7), tensor.Zeros(13))
		}, "recv has 13 values, not 2 ranks times send's 7"},
		{"ReduceScatterSend", func(c Comm) error {
			return c.ReduceScatter(context.Background(), tensor.Zeros(13), tensor.Zeros(7), Sum)
		}, "send has 13 values, not 2 ranks times recv's 7"},
		{"Root", func(c Comm) error { return c.Broadcast(context.Background(), tensor.Zeros(7), 2) }, "root 2 is not a rank of 2"},
		{"Op", func(c Comm) error { return c.AllReduce(context.Background(), tensor.Zeros(7), Op(9)) }, "unknown reduction Op(9)"},
		{"Device", func(c Comm) error {
			return c.AllReduce(context.Background(), tensor.New(fakeDevice{7}, 0, 7), Sum)
		}, "is a cuda tensor; this communicator serves host tensors"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			comms := NewGroup(2, 10*time.Second)
			start := time.Now()
			errs := runRanks(comms, func(r int, c Comm) error {
				if r == 1 {
					return tc.bad(c)
				}
				return c.AllReduce(context.Background(), tensor.Zeros(7), Sum)
			})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if errs[1] == nil || !strings.Contains(errs[1].Error(), tc.want) {
				t.Errorf("rank 1: %v, want %q", errs[1], tc.want)
			}
			if errs[0] == nil {
				t.Errorf("rank 0: no error")
			}
		})
	}
}

// fakeDevice is storage that is not on the host.
type fakeDevice struct{ n int }

func (f fakeDevice) Kind() tensor.DeviceKind { return tensor.CUDA }
func (f fakeDevice) Len() int                { return f.n }

// TestGroupMissingRank: a rank that never arrives (it stopped calling, or
// closed its communicator) makes every other rank return an error after the
// timeout, at once on Close, or when its context ends.
func TestGroupMissingRank(t *testing.T) {
	const timeout = 50 * time.Millisecond
	for _, w := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("Timeout/W=%d", w), func(t *testing.T) {
			comms := NewGroup(w, timeout)
			start := time.Now()
			errs := runRanks(comms, func(r int, c Comm) error {
				if r == w-1 {
					return nil // never arrives
				}
				return c.AllReduce(context.Background(), tensor.Zeros(7), Sum)
			})
			d := time.Since(start)
			if d < timeout || d > timeout+2*time.Second {
				t.Errorf("returned after %v, want about %v", d, timeout)
			}
			for r := 0; r < w-1; r++ {
				if errs[r] == nil || !strings.Contains(errs[r].Error(), "all-reduce(sum) of 7 values") ||
					!strings.Contains(errs[r].Error(), "timed out after 50ms waiting for ranks "+fmt.Sprint(w-1)) {
					t.Errorf("rank %d: %v", r, errs[r])
				}
			}
			// The late rank learns of the failure instead of waiting.
			err := comms[w-1].AllReduce(context.Background(), tensor.Zeros(7), Sum)
			if err == nil || !strings.Contains(err.Error(), "failed earlier") {
				t.Errorf("late rank: %v", err)
			}
		})
		t.Run(fmt.Sprintf("Close/W=%d", w), func(t *testing.T) {
			comms := NewGroup(w, time.Minute)
			start := time.Now()
			errs := runRanks(comms, func(r int, c Comm) error {
				if r == 1 {
					time.Sleep(10 * time.Millisecond)
					return c.Close()
				}
				return c.Broadcast(context.Background(), tensor.Zeros(3), 0)
			})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			for r, err := range errs {
				if r == 1 {
					if err != nil {
						t.Errorf("Close: %v", err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), "rank 1 closed its communicator") {
					t.Errorf("rank %d: %v", r, err)
				}
			}
			if err := comms[1].Barrier(context.Background()); err == nil || !strings.Contains(err.Error(), "closed") {
				t.Errorf("closed rank: %v", err)
			}
		})
	}
	t.Run("ClosedBefore", func(t *testing.T) {
		comms := NewGroup(2, time.Minute)
		comms[0].Close()
		err := comms[1].Barrier(context.Background())
		if err == nil || !strings.Contains(err.Error(), "rank 0 closed") {
			t.Errorf("%v", err)
		}
	})
	t.Run("Context", func(t *testing.T) {
		comms := NewGroup(3, time.Minute)
		start := time.Now()
		errs := runRanks(comms, func(r int, c Comm) error {
			switch r {
			case 0:
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
				defer cancel()
				return c.Barrier(ctx)
			case 1:
				return c.Barrier(context.Background())
			}
			return nil
		})
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
		if !errors.Is(errs[0], context.DeadlineExceeded) {
			t.Errorf("rank 0: %v, want DeadlineExceeded", errs[0])
		}
		if errs[1] == nil || !strings.Contains(errs[1].Error(), "barrier on rank 0 gave up (context deadline exceeded) waiting for ranks") ||
			!strings.HasSuffix(errs[1].Error(), " 2") {
			t.Errorf("rank 1: %v", errs[1])
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := comms[2].Barrier(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("ended context: %v", err)
		}
	})
}

// TestGroupNoLeaks: after successes, mismatches, timeouts and closes, no
// goroutine is left and no round is kept.
func TestGroupNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	var groups [][]Comm
	for i := 0; i < 20; i++ {
		comms := NewGroup(3, 20*time.Millisecond)
		groups = append(groups, comms)
		runRanks(comms, func(r int, c Comm) error {
			c.AllReduce(context.Background(), tensor.Zeros(4), Sum)
			switch i % 4 {
			case 0:
				if r == 0 {
					return c.Barrier(context.Background())
				}
				return c.AllReduce(context.Background(), tensor.Zeros(4), Sum)
			case 1:
				if r == 2 {
					return nil
				}
			case 2:
				if r == 1 {
					return c.Close()
				}
			}
			return c.Barrier(context.Background())
		})
		for _, c := range comms {
			c.Close()
		}
	}
	for _, comms := range groups {
		g := comms[0].(*member).g
		g.mu.Lock()
		if len(g.rounds) != 0 {
			t.Errorf("%d rounds kept", len(g.rounds))
		}
		g.mu.Unlock()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines, %d before", n, before)
	}
}

// TestSingle: the job of one rank.
func TestSingle(t *testing.T) {
	var c Comm = Single{}
	x := tensor.FromSlice([]float32{1, 2}, 2)
	if err := c.AllReduce(context.Background(), x, Avg); err != nil || x.Data()[1] != 2 {
		t.Errorf("%v %v", err, x.Data())
	}
	if err := c.Broadcast(context.Background(), x, 1); err == nil {
		t.Errorf("broadcast from rank 1: no error")
	}
}
