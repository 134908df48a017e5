package nn

import (
	"fmt"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/kernels"
)

// Conv2dConfig describes a Conv2d layer. Kernel is square unless KernelW is
// set; Stride 0 means 1.
type Conv2dConfig struct {
	In, Out int
	Kernel  int
	KernelW int // 0: same as Kernel
	Stride  int // 0: 1
	Pad     int
	Bias    bool
}

// Conv2d is a 2-D convolution over NCHW images (groups 1, no dilation) with
// weight [Out, In, KH, KW] and an optional bias [Out]. State names:
// "weight", "bias".
type Conv2d struct {
	In, Out int
	KH, KW  int
	P       kernels.ConvParams
	Weight  *autograd.Var
	Bias    *autograd.Var // nil without bias
	b       kernels.Backend
}

// NewConv2d returns a Conv2d initialised as torch.nn.Conv2d: weight and
// bias uniform in +-1/sqrt(In*KH*KW).
func NewConv2d(b kernels.Backend, rng *rand.Rand, c Conv2dConfig) (*Conv2d, error) {
	m, err := newConv2dShape(b, c)
	if err != nil {
		return nil, err
	}
	fanIn := m.In * m.KH * m.KW
	m.Weight = newParam(b, "weight", kaimingUniform(rng, fanIn, m.Out, m.In, m.KH, m.KW))
	if c.Bias {
		m.Bias = newParam(b, "bias", kaimingUniform(rng, fanIn, m.Out))
	}
	return m, nil
}

// newConv2dResNet returns a bias-free Conv2d with torchvision ResNet's init,
// kaiming_normal_(mode="fan_out", nonlinearity="relu").
func newConv2dResNet(b kernels.Backend, rng *rand.Rand, c Conv2dConfig) (*Conv2d, error) {
	m, err := newConv2dShape(b, c)
	if err != nil {
		return nil, err
	}
	m.Weight = newParam(b, "weight", kaimingNormalFanOut(rng, m.Out*m.KH*m.KW, m.Out, m.In, m.KH, m.KW))
	return m, nil
}

func newConv2dShape(b kernels.Backend, c Conv2dConfig) (*Conv2d, error) {
	for _, chk := range []struct {
		what string
		v    int
	}{{"in channels", c.In}, {"out channels", c.Out}, {"kernel size", c.Kernel}} {
		if err := checkPositive("Conv2d", chk.what, chk.v); err != nil {
			return nil, err
		}
	}
	kw, stride := c.KernelW, c.Stride
	if kw == 0 {
		kw = c.Kernel
	}
	if stride == 0 {
		stride = 1
	}
	if kw < 0 || stride < 0 || c.Pad < 0 {
		return nil, fmt.Errorf("nn: Conv2d: negative kernel width %d, stride %d or padding %d", kw, stride, c.Pad)
	}
	return &Conv2d{
		In: c.In, Out: c.Out, KH: c.Kernel, KW: kw,
		P: kernels.ConvParams{StrideH: stride, StrideW: stride, PadH: c.Pad, PadW: c.Pad},
		b: b,
	}, nil
}

// Forward maps x [N, In, H, W] to [N, Out, P, Q].
func (m *Conv2d) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	s := x.Shape()
	if len(s) != 4 || s[1] != m.In {
		panic(fmt.Sprintf("nn: Conv2d(%d, %d) applied to an input of shape %v", m.In, m.Out, s))
	}
	if s[2]+2*m.P.PadH < m.KH || s[3]+2*m.P.PadW < m.KW {
		panic(fmt.Sprintf("nn: Conv2d: %dx%d kernel larger than the padded input of shape %v", m.KH, m.KW, s))
	}
	y := tp.Conv2d(x, m.Weight, m.P)
	if m.Bias != nil {
		y = tp.BiasAdd(y, m.Bias)
	}
	return y
}

// Params returns weight and, when present, bias.
func (m *Conv2d) Params() []Param {
	ps := []Param{{Name: "weight", V: m.Weight}}
	if m.Bias != nil {
		ps = append(ps, Param{Name: "bias", V: m.Bias})
	}
	return ps
}

// Buffers returns nothing: Conv2d has no buffers.
func (m *Conv2d) Buffers() []Buffer { return nil }

// SetTraining does nothing: Conv2d behaves the same in both modes.
func (m *Conv2d) SetTraining(bool) {}

// Backend returns the backend the parameters live on.
func (m *Conv2d) Backend() kernels.Backend { return m.b }
