package ssl

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu"
	"hallucinator/tensor"
)

// TestPaperArchitecture checks each choice of the released code that the
// paper preset selects: SimCLR's projector without batch norm and its loss
// scale, SimSiam's last batch norm without affine parameters and its
// zero-initialised residual blocks, and that they are refused for the
// frameworks they do not belong to.
func TestPaperArchitecture(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	names := func(fw Framework) string {
		var s []string
		for _, p := range fw.Params() {
			s = append(s, p.Name)
		}
		return strings.Join(s, " ")
	}

	// SimCLR: Linear-ReLU-Linear with biases, no batch norm.
	c := tinyConfig("simclr", false)
	c.ProjNoBN = true
	fw, err := New(be, tensor.NewRand(1), c)
	if err != nil {
		t.Fatal(err)
	}
	if n := names(fw); !strings.Contains(n, "projector.0.bias") || !strings.Contains(n, "projector.2.weight") || strings.Contains(n, "projector.1.weight") {
		t.Errorf("projector without batch norm has parameters %s", n)
	}
	// The loss scale multiplies the loss: same weights, same views.
	loss := func(scale float32) float64 {
		c := tinyConfig("simclr", true)
		c.LossScale = scale
		fw, err := New(be, tensor.NewRand(2), c)
		if err != nil {
			t.Fatal(err)
		}
		rng := tensor.NewRand(3)
		v1 := autograd.NewVar(tensor.RandN(rng, 0, 1, 4, 1, 12, 12), false)
		v2 := autograd.NewVar(tensor.RandN(rng, 0, 1, 4, 1, 12, 12), false)
		tp := autograd.NewTape(be)
		l := fw.Loss(tp, v1, v2, rand.New(rand.NewPCG(4, 5)))
		return float64(be.ToHost(l.Value).Data()[0])
	}
	one, scaled := loss(0), loss(0.5/0.07)
	if want := one * 0.5 / 0.07; math.Abs(scaled-want) > 1e-5*math.Abs(want) {
		t.Errorf("scaled loss %v, want %v (unscaled %v)", scaled, want, one)
	}

	// SimSiam: no scale and shift in the projector's last batch norm, and
	// every block's last batch norm starts at zero.
	c = tinyConfig("simsiam", false)
	c.ProjLastBNNoAffine, c.ZeroInitResidual = true, true
	fw, err = New(be, tensor.NewRand(1), c)
	if err != nil {
		t.Fatal(err)
	}
	if n := names(fw); strings.Contains(n, "projector.7.weight") || !strings.Contains(n, "projector.4.weight") {
		t.Errorf("SimSiam's projector has parameters %s", n)
	}
	zeros := 0
	for _, p := range fw.Params() {
		if strings.HasSuffix(p.Name, "bn2.weight") && strings.HasPrefix(p.Name, "encoder.layer") {
			for _, v := range be.ToHost(p.V.Value).Data() {
				if v != 0 {
					t.Fatalf("%s is not zero", p.Name)
				}
			}
			zeros++
		}
	}
	if zeros != 8 {
		t.Errorf("%d zero-initialised residual blocks, want 8", zeros)
	}

	for _, tc := range []struct {
		fw  string
		set func(*Config)
	}{
		{"mocov2", func(c *Config) { c.ProjNoBN = true }},
		{"simclr", func(c *Config) { c.ProjLastBNNoAffine = true }},
		{"simsiam", func(c *Config) { c.LossScale = 2 }},
		{"simclr", func(c *Config) { c.LossScale = -1 }},
	} {
		c := tinyConfig(tc.fw, false)
		tc.set(&c)
		if _, err := New(be, tensor.NewRand(1), c); err == nil {
			t.Errorf("%s with %+v accepted", tc.fw, c)
		}
	}
}
