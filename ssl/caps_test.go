package ssl

import (
	"math"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/tensor"
)

// TestCoreOnlyBackend trains every framework, with the Hallucinator, on a
// backend that has the core methods alone: the capabilities (InfoNCE, the
// Hallucinator, EMA) take their composites, and the loss and gradients of a
// step agree with the fused kernels' to float32 rounding.
func TestCoreOnlyBackend(t *testing.T) {
	be := cpu.New(cpu.Options{})
	defer be.Close()
	x1 := tensor.RandN(tensor.NewRand(31), 0, 1, 8, 1, 16, 16)
	x2 := tensor.RandN(tensor.NewRand(32), 0, 1, 8, 1, 16, 16)
	for _, name := range []string{"simclr", "mocov1", "mocov2", "simsiam", "byol"} {
		t.Run(name, func(t *testing.T) {
			run := func(b kernels.Backend) (float32, [][]float32) {
				fw, err := New(b, tensor.NewRand(5), tinyConfig(name, true))
				if err != nil {
					t.Fatal(err)
				}
				fw.SetTraining(true)
				var loss float32
				for range 2 { // the second step sees MoCo's queue and EMA
					tp := autograd.NewTape(b)
					var vs []*autograd.Var
					for _, p := range fw.Params() {
						vs = append(vs, p.V)
					}
					autograd.ZeroGrad(vs)
					l := fw.Loss(tp, autograd.NewVar(b.FromHost(x1), false), autograd.NewVar(b.FromHost(x2), false), tensor.NewRand(9))
					tp.Backward(l)
					loss = b.ToHost(l.Value).Data()[0]
					fw.AfterStep()
				}
				var grads [][]float32
				for _, p := range fw.Params() {
					if p.V.HasGrad() {
						grads = append(grads, b.ToHost(p.V.Grad).Data())
					}
				}
				return loss, grads
			}
			fl, fg := run(be)
			cl, cg := run(kernels.CoreOnly(be))
			if d := math.Abs(float64(fl-cl)) / math.Abs(float64(fl)); !(d < 1e-5) {
				t.Errorf("loss %v with the fused kernels, %v with the composites", fl, cl)
			}
			if len(fg) != len(cg) || len(fg) == 0 {
				t.Fatalf("%d and %d gradients", len(fg), len(cg))
			}
			// Relative to the gradient's norm, or to 1e-6 for gradients
			// that are zero but for rounding (a batch-norm bias before a
			// batch norm: 3e-9 here). BYOL's projector output bias reaches
			// the loss only through the predictor's batch norm, which
			// cancels it: its gradient is zero too, but its rounding
			// (4e-8) is larger than 1e-3 of that floor, so below 1e-6 in
			// both runs it counts as zero in both.
			for i := range fg {
				diff := make([]float32, len(fg[i]))
				for j := range diff {
					diff[j] = cg[i][j] - fg[i][j]
				}
				if name == "byol" && norm(fg[i]) < 1e-6 && norm(cg[i]) < 1e-6 {
					continue
				}
				if d := norm(diff) / math.Max(norm(fg[i]), 1e-6); !(d < 1e-3) {
					t.Errorf("gradient %d differs by %.2e (relative norm; norms %g, %g)", i, d, norm(fg[i]), norm(cg[i]))
				}
			}
		})
	}
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}
