package nn

import (
	"fmt"

	"hallucinator/autograd"
	"hallucinator/kernels"
)

// ReLU is max(x, 0), element-wise.
type ReLU struct{}

// Forward applies the ReLU.
func (ReLU) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var { return tp.Relu(x) }

// Params returns nothing.
func (ReLU) Params() []Param { return nil }

// Buffers returns nothing.
func (ReLU) Buffers() []Buffer { return nil }

// SetTraining does nothing.
func (ReLU) SetTraining(bool) {}

// MaxPool2d takes the maximum over windows of NCHW images; padded cells
// never win.
type MaxPool2d struct {
	P kernels.PoolParams
}

// NewMaxPool2d returns a square max pool of the given kernel size, stride
// and padding (PyTorch's MaxPool2d(kernel, stride, padding)).
func NewMaxPool2d(kernel, stride, pad int) (*MaxPool2d, error) {
	if kernel <= 0 || stride <= 0 || pad < 0 || 2*pad > kernel {
		return nil, fmt.Errorf("nn: MaxPool2d: kernel %d, stride %d, padding %d: want kernel, stride > 0 and 0 <= padding <= kernel/2", kernel, stride, pad)
	}
	return &MaxPool2d{P: kernels.PoolParams{KH: kernel, KW: kernel, StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}}, nil
}

// Forward pools x [N, C, H, W].
func (m *MaxPool2d) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	s := x.Shape()
	if len(s) != 4 || s[2]+2*m.P.PadH < m.P.KH || s[3]+2*m.P.PadW < m.P.KW {
		panic(fmt.Sprintf("nn: MaxPool2d %dx%d applied to an input of shape %v", m.P.KH, m.P.KW, s))
	}
	return tp.MaxPool2d(x, m.P)
}

// Params returns nothing.
func (m *MaxPool2d) Params() []Param { return nil }

// Buffers returns nothing.
func (m *MaxPool2d) Buffers() []Buffer { return nil }

// SetTraining does nothing.
func (m *MaxPool2d) SetTraining(bool) {}

// GlobalAvgPool averages each channel over H and W: [N, C, H, W] -> [N, C]
// (PyTorch's AdaptiveAvgPool2d(1) followed by flatten).
type GlobalAvgPool struct{}

// Forward pools x.
func (GlobalAvgPool) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 {
		panic(fmt.Sprintf("nn: GlobalAvgPool applied to an input of shape %v", s))
	}
	return tp.GlobalAvgPool(x)
}

// Params returns nothing.
func (GlobalAvgPool) Params() []Param { return nil }

// Buffers returns nothing.
func (GlobalAvgPool) Buffers() []Buffer { return nil }

// SetTraining does nothing.
func (GlobalAvgPool) SetTraining(bool) {}

// Flatten reshapes [N, ...] to [N, product of the rest].
type Flatten struct{}

// Forward flattens x (a view).
func (Flatten) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	s := x.Shape()
	if len(s) == 0 {
		panic("nn: Flatten of a scalar")
	}
	if len(s) == 2 {
		return x
	}
	n := 1
	for _, d := range s[1:] {
		n *= d
	}
	return tp.Reshape(x, s[0], n)
}

// Params returns nothing.
func (Flatten) Params() []Param { return nil }

// Buffers returns nothing.
func (Flatten) Buffers() []Buffer { return nil }

// SetTraining does nothing.
func (Flatten) SetTraining(bool) {}

// Sequential applies its modules in order. Children are named "0", "1", ...
// by NewSequential (as torch.nn.Sequential names them), or explicitly with
// Append; a child's state names are prefixed with its name and a dot.
type Sequential struct {
	names []string
	mods  []Module
}

// NewSequential returns the composition of mods, named by their index.
func NewSequential(mods ...Module) *Sequential {
	s := &Sequential{}
	for i, m := range mods {
		s.Append(fmt.Sprint(i), m)
	}
	return s
}

// Append adds a module named name at the end. It panics on a duplicate or
// empty name or a nil module.
func (s *Sequential) Append(name string, m Module) {
	if name == "" || m == nil {
		panic(fmt.Sprintf("nn: Sequential.Append(%q, %v): empty name or nil module", name, m))
	}
	for _, n := range s.names {
		if n == name {
			panic(fmt.Sprintf("nn: Sequential.Append: duplicate name %q", name))
		}
	}
	s.names = append(s.names, name)
	s.mods = append(s.mods, m)
}

// Len returns the number of children.
func (s *Sequential) Len() int { return len(s.mods) }

// At returns child i and its name.
func (s *Sequential) At(i int) (string, Module) { return s.names[i], s.mods[i] }

// Forward applies the children in order.
func (s *Sequential) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	for _, m := range s.mods {
		x = m.Forward(tp, x)
	}
	return x
}

// Params returns the children's parameters, prefixed with their names.
func (s *Sequential) Params() []Param {
	var ps []Param
	for i, m := range s.mods {
		ps = append(ps, PrefixParams(s.names[i], m.Params())...)
	}
	return ps
}

// Buffers returns the children's buffers, prefixed with their names.
func (s *Sequential) Buffers() []Buffer {
	var bs []Buffer
	for i, m := range s.mods {
		bs = append(bs, PrefixBuffers(s.names[i], m.Buffers())...)
	}
	return bs
}

// SetTraining sets the mode of every child.
func (s *Sequential) SetTraining(training bool) {
	for _, m := range s.mods {
		m.SetTraining(training)
	}
}

// Backend returns the backend of the first child that has one, or nil.
func (s *Sequential) Backend() kernels.Backend {
	for _, m := range s.mods {
		if h, ok := m.(BackendHolder); ok {
			if b := h.Backend(); b != nil {
				return b
			}
		}
	}
	return nil
}
