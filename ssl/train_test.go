package ssl

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// poisoned is a framework whose input views hold NaN at the steps in bad
// (counted from 0 over the whole run).
type poisoned struct {
	Framework
	bad   map[int]bool
	calls int
}

func (p *poisoned) Loss(tp *autograd.Tape, v1, v2 *autograd.Var, rng *rand.Rand) *autograd.Var {
	if p.bad[p.calls] {
		v1.Value.Data()[0] = float32(math.NaN())
	}
	p.calls++
	return p.Framework.Loss(tp, v1, v2, rng)
}

// TestNonFiniteSteps checks both answers to a non-finite step: "stop" ends
// training with ErrNonFinite and leaves the state as the last good step left
// it; "skip" leaves the state untouched by the bad step, counts it, and
// trains on; a run of bad steps stops all the same.
func TestNonFiniteSteps(t *testing.T) {
	ds := twoViewData(48)
	for _, fw := range []string{"simclr", "mocov2", "simsiam"} {
		for _, mode := range []string{"stop", "skip"} {
			t.Run(fw+"/"+mode, func(t *testing.T) {
				be := ref.New()
				inner, err := New(be, tensor.NewRand(11), tinyConfig(fw, true))
				if err != nil {
					t.Fatal(err)
				}
				p := &poisoned{Framework: inner, bad: map[int]bool{2: true, 4: true}}
				tc := tinyTrainConfig()
				tc.MaxSteps, tc.Epochs, tc.OnNonFinite = 6, 1, mode
				tr, err := NewTrainer(be, p, ds, tc)
				if err != nil {
					t.Fatal(err)
				}
				var before []nn.NamedTensor
				snapshot := func() []nn.NamedTensor {
					st, err := nn.StateTensors(p)
					if err != nil {
						t.Fatal(err)
					}
					return append(st, tr.opt.State()...)
				}
				var skipped []int
				err = tr.RunEpoch(context.Background(), func(s StepInfo) {
					if s.Skipped {
						skipped = append(skipped, s.GlobalStep-1)
						if !equalState(before, snapshot()) {
							t.Errorf("skipped step %d changed the state", s.GlobalStep-1)
						}
					} else if !(s.GradNorm > 0) || math.IsInf(s.GradNorm, 0) {
						t.Errorf("step %d: gradient norm %v", s.GlobalStep-1, s.GradNorm)
					}
					before = snapshot()
				})
				if before == nil {
					before = snapshot()
				}
				if mode == "stop" {
					if !errors.Is(err, ErrNonFinite) {
						t.Fatalf("error %v, want ErrNonFinite", err)
					}
					// The weights and the optimiser's state are as the last
					// good step left them (the buffers hold what the bad
					// forward pass left, and Save would refuse them).
					params := func(st []nn.NamedTensor) []nn.NamedTensor {
						var out []nn.NamedTensor
						for _, nt := range st {
							if !isBuffer(p, nt.Name) {
								out = append(out, nt)
							}
						}
						return out
					}
					if tr.Step != 2 || !equalState(params(before), params(snapshot())) {
						t.Fatalf("stopped at step %d, weights changed %v", tr.Step, !equalState(params(before), params(snapshot())))
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if tr.Skipped != 2 || len(skipped) != 2 || skipped[0] != 2 || skipped[1] != 4 {
					t.Fatalf("skipped %d steps %v, want steps 2 and 4", tr.Skipped, skipped)
				}
				if err := nn.CheckFinite(snapshot()); err != nil {
					t.Fatal(err)
				}
				if err := tr.Save(filepath.Join(t.TempDir(), "c.safetensors"), nil); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	t.Run("skips in a row", func(t *testing.T) {
		be := ref.New()
		inner, err := New(be, tensor.NewRand(11), tinyConfig("simclr", false))
		if err != nil {
			t.Fatal(err)
		}
		bad := map[int]bool{}
		for i := 1; i < 100; i++ {
			bad[i] = true
		}
		tc := tinyTrainConfig()
		tc.MaxSteps, tc.Epochs, tc.BatchSize, tc.OnNonFinite = 0, 10, 2, "skip"
		tr, err := NewTrainer(be, &poisoned{Framework: inner, bad: bad}, twoViewData(8), tc)
		if err != nil {
			t.Fatal(err)
		}
		for !tr.Done() && err == nil {
			err = tr.RunEpoch(context.Background(), nil)
		}
		if !errors.Is(err, ErrNonFinite) || tr.Skipped != MaxSkipsInARow {
			t.Fatalf("error %v after %d skips, want ErrNonFinite after %d", err, tr.Skipped, MaxSkipsInARow)
		}
	})
}

func isBuffer(m nn.Module, name string) bool {
	for _, b := range m.Buffers() {
		if b.Name == name {
			return true
		}
	}
	return false
}

func equalState(a, b []nn.NamedTensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i].T.Data(), b[i].T.Data()
		if a[i].Name != b[i].Name || len(x) != len(y) {
			return false
		}
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
				return false
			}
		}
	}
	return true
}

// TestCheckpointFiniteness checks that a state holding NaN is neither
// written nor loaded, and that the error names the tensor.
func TestCheckpointFiniteness(t *testing.T) {
	be := ref.New()
	ds := twoViewData(24)
	build := func() *Trainer {
		f, err := New(be, tensor.NewRand(11), tinyConfig("mocov2", true))
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(be, f, ds, tinyTrainConfig())
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	tr := build()
	if err := tr.RunEpoch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := tr.Save(good, nil); err != nil {
		t.Fatal(err)
	}
	p := tr.FW.Params()[3]
	p.V.Value.Data()[1] = float32(math.Inf(-1))
	var nf *nn.NonFiniteError
	if err := tr.Save(good, nil); !errors.As(err, &nf) || nf.Name != p.Name || nf.Index != 1 || nf.Count != 1 {
		t.Fatalf("saving an infinite weight: %v", err)
	}
	// The good checkpoint is still there and loads.
	if _, err := build().Load(good); err != nil {
		t.Fatal(err)
	}
	// A file with a NaN (written directly) is refused by Load.
	ts, meta, err := nn.ReadSafetensors(good)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		if ts[i].Name == "optimizer.momentum_buffer."+p.Name {
			ts[i].T.Data()[0] = float32(math.NaN())
		}
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := nn.WriteSafetensors(bad, ts, meta); err != nil {
		t.Fatal(err)
	}
	fresh := build()
	if _, err := fresh.Load(bad); !errors.As(err, &nf) || nf.Name != "momentum_buffer."+p.Name {
		t.Fatalf("loading a NaN momentum: %v", err)
	}
}
