package ssl

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hallucinator/dist"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/nn"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// distTrainConfig is tinyTrainConfig with views that draw no random
// numbers, so that a run's views do not depend on how its images are split
// over ranks: the first view is the image, the second its mirror image. Its
// learning rate is small: with larger steps these tiny networks amplify
// rounding differences within a few steps (at width 4 and learning rate
// 0.005, a one-device SimCLR run on the reference backend and the same run
// on the CPU backend, which sums in another order, differ by 5% in the
// loss of the seventh step; at width 2 and learning rate 0.002, BYOL on 4
// ranks and on one device differ by 2e-5 in the loss of the eighth step,
// as much as the two backends do), so a comparison would measure that, not
// the distribution.
func distTrainConfig() TrainConfig {
	c := tinyTrainConfig()
	norm := data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}
	c.Views = [2]data.Transform{norm, data.NewPipeline(data.RandomHorizontalFlip{P: 1}, norm)}
	c.BatchSize, c.Epochs, c.MaxSteps, c.Workers = 12, 2, 3, 1
	c.LR, c.FinalLR = 0.002, 0.0002
	return c
}

// distWidth is the width of the networks of trainRanks, distShuffle
// MoCo's ShuffleBN (-1: the default).
var distWidth, distShuffle = 2, -1

// run is what a training run leaves: the loss of every step and the state.
type run struct {
	losses      []float64
	init, state []nn.NamedTensor
}

// trainRanks trains fw over w ranks of an in-process group (w == 0: one
// device, no communicator) and returns each rank's run. Ranks other than 0
// initialise their framework from another seed: the broadcast must undo it.
func trainRanks(t *testing.T, fw string, hal bool, w int, ds *data.Dataset, tc TrainConfig) []run {
	t.Helper()
	n := max(w, 1)
	var comms []dist.Comm
	if w > 0 {
		comms = dist.NewGroup(w, 30*time.Second)
	}
	runs := make([]run, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = func() error {
				be := ref.New()
				cfg := tinyConfig(fw, hal)
				cfg.Width = distWidth
				if distShuffle >= 0 {
					cfg.ShuffleBN = distShuffle
				}
				f, err := New(be, tensor.NewRand(uint64(11+r)), cfg)
				if err != nil {
					return err
				}
				c := tc
				if w > 0 {
					c.Comm = comms[r]
				}
				tr, err := NewTrainer(be, f, ds, c)
				if err != nil {
					return err
				}
				if runs[r].init, err = cloneState(f); err != nil {
					return err
				}
				for !tr.Done() {
					if err := tr.RunEpoch(context.Background(), func(s StepInfo) {
						runs[r].losses = append(runs[r].losses, s.Loss)
						if s.Images != tc.BatchSize {
							t.Errorf("rank %d: a step of %d images, want %d", r, s.Images, tc.BatchSize)
						}
					}); err != nil {
						return err
					}
				}
				runs[r].state, err = nn.StateTensors(f)
				return err
			}()
			if errs[r] != nil && comms != nil {
				comms[r].Close() // the others then fail instead of waiting
			}
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	return runs
}

// cloneState returns a copy of m's state.
func cloneState(m nn.Module) ([]nn.NamedTensor, error) {
	st, err := nn.StateTensors(m)
	for i := range st {
		st[i].T = st[i].T.Clone()
	}
	return st, err
}

// updateDiff is max|a-b| / max(max|b-init|, 1e-4): the difference of two
// runs' tensors relative to the largest change training made to the
// tensor, and absolute (times 10^4) for a tensor that training changed by
// less than 1e-4 (such as the running mean of a batch norm after a batch
// norm, zero but for rounding).
func updateDiff(a, b, init []float32) float64 {
	var d, s float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = math.Max(s, math.Abs(float64(b[i])-float64(init[i])))
	}
	return d / math.Max(s, 1e-4)
}

// stateDiff is max|a-b| / max(max|b|, 0.01): the difference relative to
// the tensor's largest value, and absolute (times 100) for tensors whose
// values are all below 0.01 (such as the running mean of a batch norm
// after a batch norm, zero but for rounding).
func stateDiff(a, b []float32) float64 {
	var d, s float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = math.Max(s, math.Abs(float64(b[i])))
	}
	return d / math.Max(s, 0.01)
}

// TestDistributedMatchesOneDevice checks data-parallel training against one
// device: W ranks of B/W images give the losses, weights and batch-norm
// statistics of one rank of B, after six steps over two epochs, for SimCLR,
// SimSiam and BYOL with and without the Hallucinator (the one-device run takes
// the images that the W ranks share out, and views that draw no random
// numbers, so that the two see the same images at every step).
func TestDistributedMatchesOneDevice(t *testing.T) {
	ds := twoViewData(50) // 50 = 4*12 + 2: each epoch drops a tail
	tc := distTrainConfig()
	const tol, updateTol = 1e-4, 1e-3
	type variant struct {
		fw      string
		hal     bool
		shuffle int // MoCo's ShuffleBN, -1: the default
		ranks   []int
	}
	var variants []variant
	for _, fw := range []string{"simclr", "simsiam", "byol"} {
		for _, hal := range []bool{false, true} {
			variants = append(variants, variant{fw, hal, -1, []int{2, 3, 4}})
		}
	}
	variants = append(variants,
		variant{"mocov2", false, 4, []int{2, 4}}, // shuffling BN in 4 groups
		variant{"mocov2", true, 4, []int{2, 4}},
		variant{"mocov1", true, 0, []int{2, 3}}, // synchronised BN
	)
	for _, v := range variants {
		fw, hal := v.fw, v.hal
		{
			name := fmt.Sprintf("%s/shufflebn=%d", fw, v.shuffle)
			if v.shuffle < 0 {
				name = fw
			}
			if hal {
				name += "+hal"
			}
			t.Run(name, func(t *testing.T) {
				oldShuffle := distShuffle
				distShuffle = v.shuffle
				defer func() { distShuffle = oldShuffle }()
				want := trainRanks(t, fw, hal, 0, ds, tc)[0]
				if len(want.losses) != 6 {
					t.Fatalf("one device ran %d steps, want 6", len(want.losses))
				}
				for _, w := range v.ranks {
					runs := trainRanks(t, fw, hal, w, ds, tc)
					var worstLoss, worstState, worstUpdate float64
					worstName, worstUpdateName := "", ""
					for r, got := range runs {
						if len(got.losses) != len(want.losses) {
							t.Fatalf("%d ranks: rank %d ran %d steps, want %d", w, r, len(got.losses), len(want.losses))
						}
						for i, l := range got.losses {
							worstLoss = math.Max(worstLoss, math.Abs(l-want.losses[i])/math.Max(math.Abs(want.losses[i]), 1))
						}
						for i, x := range got.state {
							if x.Name != want.state[i].Name {
								t.Fatalf("state %d is %s, want %s", i, x.Name, want.state[i].Name)
							}
							if d := stateDiff(x.T.Data(), want.state[i].T.Data()); d > worstState {
								worstState, worstName = d, fmt.Sprintf("rank %d %s", r, x.Name)
							}
							if d := updateDiff(x.T.Data(), want.state[i].T.Data(), want.init[i].T.Data()); d > worstUpdate {
								worstUpdate, worstUpdateName = d, fmt.Sprintf("rank %d %s", r, x.Name)
							}
						}
					}
					t.Logf("%d ranks: largest relative difference of a loss %.2g, of a state tensor %.2g (%s), of a tensor's change %.2g (%s)",
						w, worstLoss, worstState, worstName, worstUpdate, worstUpdateName)
					if worstLoss > tol || worstState > tol || worstUpdate > updateTol {
						t.Errorf("%d ranks differ from one device: loss %.3g, state %.3g (%s), change %.3g (%s), tolerances %g and %g",
							w, worstLoss, worstState, worstName, worstUpdate, worstUpdateName, tol, updateTol)
					}
				}
			})
		}
	}
}

// TestEpochOrderIsTheLoaders checks that the distributed sampler starts
// from the order in which the one-device loader visits the images.
func TestEpochOrderIsTheLoaders(t *testing.T) {
	ds := twoViewData(37)
	ld, err := data.NewLoader(context.Background(), ds, data.LoaderOptions{BatchSize: 4, Views: []data.Transform{nil}, Seed: 99, Shuffle: true, Workers: 1, Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ld.Close()
	for _, e := range []int{0, 1, 7} {
		want := ld.Order(e)
		got := epochOrder(99, e, ds.N)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("epoch %d: order %v, the loader's %v", e, got, want)
		}
	}
	// Every rank's share: every W-th image, the tail dropped, no image twice.
	order := epochOrder(99, 0, 37)
	seen := map[int]bool{}
	for r := range 3 {
		idx := rankIndices(order, r, 3)
		if len(idx) != 12 {
			t.Fatalf("rank %d has %d images, want 12", r, len(idx))
		}
		for k, i := range idx {
			if i != order[r+3*k] || seen[i] {
				t.Fatalf("rank %d image %d is %d", r, k, i)
			}
			seen[i] = true
		}
	}
}

// TestDistributedConfigErrors checks what NewTrainer refuses with a
// communicator of several ranks, before any collective.
func TestDistributedConfigErrors(t *testing.T) {
	ds := twoViewData(48)
	for _, tc := range []struct {
		fw           string
		batch, ranks int
		want         string
	}{
		{"mocov2", 12, 3, "cannot be shared out over 3 ranks"},
		{"simclr", 10, 4, "does not split evenly"},
		{"simsiam", 4, 4, "leaves 1 per rank"},
	} {
		be := ref.New()
		f, err := New(be, tensor.NewRand(1), tinyConfig(tc.fw, false))
		if err != nil {
			t.Fatal(err)
		}
		c := distTrainConfig()
		c.BatchSize = tc.batch
		c.Comm = dist.NewGroup(tc.ranks, time.Second)[0]
		if _, err := NewTrainer(be, f, ds, c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with batch %d: error %v, want one saying %q", tc.fw, tc.batch, err, tc.want)
		}
	}
}

// TestDistributedLocalBN checks data-parallel training with each rank's
// batch norms on its own batch: the ranks keep bit-identical parameters
// (they average the same gradients and take the same steps), and train a
// different model from the one-device run.
func TestDistributedLocalBN(t *testing.T) {
	ds := twoViewData(50)
	tc := distTrainConfig()
	tc.LocalBN = true
	tc.Epochs = 1
	want := trainRanks(t, "simclr", false, 0, ds, tc)[0]
	runs := trainRanks(t, "simclr", false, 3, ds, tc)
	var fromOne float64
	for i, x := range runs[0].state {
		if isBuffer(mustSimCLR(t), x.Name) {
			continue
		}
		fromOne = math.Max(fromOne, stateDiff(x.T.Data(), want.state[i].T.Data()))
		for r := 1; r < len(runs); r++ {
			if fmt.Sprint(runs[r].state[i].T.Data()) != fmt.Sprint(x.T.Data()) {
				t.Fatalf("rank %d's %s differs from rank 0's", r, x.Name)
			}
		}
	}
	if fromOne < 1e-4 {
		t.Errorf("local batch norms trained the one-device model (difference %.2g)", fromOne)
	}
}

func mustSimCLR(t *testing.T) Framework {
	f, err := New(ref.New(), tensor.NewRand(1), tinyConfig("simclr", false))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDistributedRankFailure checks that a rank that stops (closes its
// communicator) makes the others' training return an error instead of
// waiting for it.
func TestDistributedRankFailure(t *testing.T) {
	ds := twoViewData(50)
	tc := distTrainConfig()
	comms := dist.NewGroup(2, 20*time.Second)
	trs := make([]*Trainer, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			be := ref.New()
			f, err := New(be, tensor.NewRand(11), tinyConfig("simsiam", false))
			if err != nil {
				errs[r] = err
				return
			}
			c := tc
			c.Comm = comms[r]
			trs[r], errs[r] = NewTrainer(be, f, ds, c)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- trs[0].RunEpoch(context.Background(), func(s StepInfo) {})
	}()
	comms[1].Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("rank 0 trained on alone after rank 1 closed its communicator")
		}
		t.Logf("rank 0: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("rank 0 still waits for rank 1")
	}
}

// TestDistributedResume checks the checkpoint protocol of data-parallel
// training: rank 0 saves after the first epoch, fresh trainers on every
// rank (their frameworks initialised from other seeds) load that file, and
// the second epoch ends in the same bits as an uninterrupted run.
func TestDistributedResume(t *testing.T) {
	ds := twoViewData(50)
	tc := distTrainConfig()
	const w = 2
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	// phase runs one group of w ranks: each builds a trainer, optionally
	// loads path, trains the given epochs, and rank 0 saves when asked.
	phase := func(seed uint64, load bool, epochs int, save bool) [][]nn.NamedTensor {
		comms := dist.NewGroup(w, 30*time.Second)
		states := make([][]nn.NamedTensor, w)
		errs := make([]error, w)
		var wg sync.WaitGroup
		for r := range w {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[r] = func() error {
					be := ref.New()
					f, err := New(be, tensor.NewRand(seed+uint64(r)), tinyConfig("simsiam", true))
					if err != nil {
						return err
					}
					c := tc
					c.Comm = comms[r]
					tr, err := NewTrainer(be, f, ds, c)
					if err != nil {
						return err
					}
					if load {
						if _, err := tr.Load(path); err != nil {
							return err
						}
					}
					for range epochs {
						if err := tr.RunEpoch(context.Background(), nil); err != nil {
							return err
						}
					}
					if save && r == 0 {
						if err := tr.Save(path, nil); err != nil {
							return err
						}
					}
					states[r], err = nn.StateTensors(f)
					return err
				}()
				if errs[r] != nil {
					comms[r].Close()
				}
			}()
		}
		wg.Wait()
		for r, err := range errs {
			if err != nil {
				t.Fatalf("rank %d: %v", r, err)
			}
		}
		return states
	}
	want := phase(11, false, 2, false)
	phase(11, false, 1, true)
	got := phase(40, true, 1, false)
	for r := range w {
		if !equalState(got[r], want[r]) {
			t.Fatalf("rank %d: the resumed run differs from the uninterrupted one", r)
		}
	}
}
