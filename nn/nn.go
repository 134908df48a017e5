// Package nn holds the modules of the engine: layers that own their
// parameters as autograd Vars (Linear, Conv2d, BatchNorm, MLP heads, the
// ResNet encoders) and safetensors checkpoints that PyTorch can read. Names of
// parameters and buffers follow PyTorch's state_dict keys, so a checkpoint
// written here loads into the equivalent torch module with strict=True.
package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Module is a differentiable layer or network.
type Module interface {
	// Forward records the module's computation on x to the tape.
	Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var
	// Params returns the trainable parameters with their state_dict names,
	// in a fixed order.
	Params() []Param
	// Buffers returns the non-trainable state (batch-norm running
	// statistics) with their state_dict names, in a fixed order.
	Buffers() []Buffer
	// SetTraining switches between training and evaluation behaviour
	// (batch statistics or running statistics in batch norm).
	SetTraining(training bool)
}

// Param is a named trainable parameter.
type Param struct {
	Name string
	V    *autograd.Var
}

// Buffer is a named non-trainable tensor of a module. A buffer whose name
// ends in "num_batches_tracked" holds an integer count and is stored as a
// 64-bit integer scalar in checkpoints, as PyTorch stores it.
type Buffer struct {
	Name string
	T    *tensor.Tensor
}

// BackendHolder is implemented by modules that know the backend their
// tensors live on. Checkpoints of modules whose tensors are on a device need
// it to copy them to and from the host; every module of this package that
// holds tensors implements it.
type BackendHolder interface {
	Backend() kernels.Backend
}

// Vars returns the Vars of params, in order (for autograd.ZeroGrad and
// optimisers).
func Vars(params []Param) []*autograd.Var {
	vs := make([]*autograd.Var, len(params))
	for i, p := range params {
		vs[i] = p.V
	}
	return vs
}

// NumParams returns the number of scalar parameters of m.
func NumParams(m Module) int {
	n := 0
	for _, p := range m.Params() {
		n += p.V.Value.Numel()
	}
	return n
}

// PrefixParams returns ps with prefix + "." prepended to each name, as a
// composite module names the parameters of its children.
func PrefixParams(prefix string, ps []Param) []Param {
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = Param{Name: prefix + "." + p.Name, V: p.V}
	}
	return out
}

// PrefixBuffers returns bs with prefix + "." prepended to each name.
func PrefixBuffers(prefix string, bs []Buffer) []Buffer {
	out := make([]Buffer, len(bs))
	for i, b := range bs {
		out[i] = Buffer{Name: prefix + "." + b.Name, T: b.T}
	}
	return out
}

// newParam uploads a host tensor to b and wraps it as a parameter Var.
func newParam(b kernels.Backend, name string, host *tensor.Tensor) *autograd.Var {
	v := autograd.NewVar(b.FromHost(host), true)
	v.Name = name
	return v
}

// kaimingUniform returns PyTorch's default initialisation of Conv and Linear
// weights, kaiming_uniform_(a=sqrt(5)): U(-b, b) with b = 1/sqrt(fanIn).
func kaimingUniform(rng *rand.Rand, fanIn int, shape ...int) *tensor.Tensor {
	bound := float32(1 / math.Sqrt(float64(fanIn)))
	return tensor.RandU(rng, -bound, bound, shape...)
}

// kaimingNormalFanOut returns kaiming_normal_(mode="fan_out",
// nonlinearity="relu"): N(0, 2/fanOut), torchvision's ResNet conv init.
func kaimingNormalFanOut(rng *rand.Rand, fanOut int, shape ...int) *tensor.Tensor {
	return tensor.RandN(rng, 0, float32(math.Sqrt(2/float64(fanOut))), shape...)
}

// checkPositive returns an error naming what when v <= 0.
func checkPositive(layer, what string, v int) error {
	if v <= 0 {
		return fmt.Errorf("nn: %s: %s must be positive, got %d", layer, what, v)
	}
	return nil
}
