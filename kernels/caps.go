package kernels

import (
	"hallucinator/tensor"
)

// Caps describes a backend's device: what the layers above may choose from
// (presets, batch sizes, precision) without asking which kind of device it is.
type Caps struct {
	// Accelerator is set for a device with memory of its own and far more
	// arithmetic throughput than the host's cores (a GPU): the presets sized
	// for the paper's protocol fit it, those sized for minutes on a laptop
	// fit the others.
	Accelerator bool
	// Memory is the device memory in bytes, 0 when the backend works in the
	// host's memory.
	Memory uint64
	// Deterministic is set when every method gives the same bits for the
	// same inputs from run to run (so that a resumed run equals a straight
	// one bit for bit).
	Deterministic bool
	// TF32 is set when matrix products and convolutions round their inputs
	// to TF32 (10 mantissa bits): results then match float32 to about 1e-3.
	TF32 bool
}

// The optional capabilities: fused forms of work that the core can express,
// which a backend implements when it can do them faster. Call them through
// the functions below, never by asserting the interface yourself, so that a
// backend without the capability still runs.

// InfoNCEBackend is a backend with the fused contrastive loss.
type InfoNCEBackend interface {
	Backend
	// InfoNCE: the fused contrastive loss of InfoNCEParams. q [A, D], k
	// [B, D], queue [Q, D] or nil; loss [1]; dq [A, D] and dk [B, D] (each
	// may be nil) receive the gradients of the loss w.r.t. the raw (not yet
	// normalised) q and k. q and k may be the same tensor (then dq and dk
	// must differ; the caller adds them).
	InfoNCE(p InfoNCEParams, q, k, queue, loss, dq, dk *tensor.Tensor)
}

// HallucinatorBackend is a backend with the fused Hallucinator MLP.
type HallucinatorBackend interface {
	Backend
	// HallucinatorForward: with x, k [N, D]: xt = x + lambda*(x - k);
	// u = [x, xt] (feature concatenation, [N, 2D]); h1 = relu(u W1^T + b1);
	// h2 = relu(h1 W2^T + b2); out = h2 W3^T + b3. W1 [2D, 2D], W2 [2D, 2D],
	// W3 [D, 2D], biases [2D], [2D], [D]. act [N, 4D] receives h1 | h2 (for
	// the backward); out [N, D].
	HallucinatorForward(lambda float32, x, k, w1, b1, w2, b2, w3, b3, act, out *tensor.Tensor)
	// HallucinatorBackward: from dout [N, D] and the forward's inputs and
	// act, writes dx, dk [N, D] (dk may be nil) and the weight and bias
	// gradients.
	HallucinatorBackward(lambda float32, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor)
}

// SGDBackend is a backend with a fused SGD update over all parameters.
type SGDBackend interface {
	Backend
	// SGDStep updates params in place with SGDParams; bufs are the momentum
	// buffers (ignored when Momentum is 0). wd[i] false turns weight decay
	// off for tensor i (nil: on for all).
	SGDStep(p SGDParams, params, grads, bufs []*tensor.Tensor, wd []bool)
}

// LARSBackend is a backend with a fused LARS update over all parameters.
type LARSBackend interface {
	Backend
	// LARSStep updates params with LARSParams; exclude[i] marks tensors
	// that skip weight decay and adaptation (nil: none).
	LARSStep(p LARSParams, params, grads, bufs []*tensor.Tensor, exclude []bool)
}

// AdamWBackend is a backend with a fused AdamW update over all parameters.
type AdamWBackend interface {
	Backend
	// AdamWStep updates params with AdamWParams; m and v are the moment
	// buffers. wd[i] false turns weight decay off for tensor i (nil: on).
	AdamWStep(p AdamWParams, params, grads, m, v []*tensor.Tensor, wd []bool)
}

// EMABackend is a backend with a fused exponential moving average of tensor
// lists.
type EMABackend interface {
	Backend
	// EMA: target = decay*target + (1-decay)*source, per pair of tensors.
	EMA(decay float32, target, source []*tensor.Tensor)
}

// Full is a backend with every capability, as the reference, the CPU and the
// CUDA backends are.
type Full interface {
	InfoNCEBackend
	HallucinatorBackend
	SGDBackend
	LARSBackend
	AdamWBackend
	EMABackend
}

// InfoNCE computes the contrastive loss of InfoNCEParams with b's fused
// kernel, or with core methods when b has none. See
// InfoNCEBackend.InfoNCE for the arguments.
func InfoNCE(b Backend, p InfoNCEParams, q, k, queue, loss, dq, dk *tensor.Tensor) {
	if f, ok := b.(InfoNCEBackend); ok {
		f.InfoNCE(p, q, k, queue, loss, dq, dk)
		return
	}
	composite{b}.InfoNCE(p, q, k, queue, loss, dq, dk)
}

// HallucinatorForward runs the Hallucinator's forward with b's fused kernel,
// or with core methods when b has none. See
// HallucinatorBackend.HallucinatorForward for the arguments.
func HallucinatorForward(b Backend, lambda float32, x, k, w1, b1, w2, b2, w3, b3, act, out *tensor.Tensor) {
	if f, ok := b.(HallucinatorBackend); ok {
		f.HallucinatorForward(lambda, x, k, w1, b1, w2, b2, w3, b3, act, out)
		return
	}
	composite{b}.HallucinatorForward(lambda, x, k, w1, b1, w2, b2, w3, b3, act, out)
}

// HallucinatorBackward runs the Hallucinator's backward with b's fused
// kernel, or with core methods when b has none. See
// HallucinatorBackend.HallucinatorBackward for the arguments.
func HallucinatorBackward(b Backend, lambda float32, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor) {
	if f, ok := b.(HallucinatorBackend); ok {
		f.HallucinatorBackward(lambda, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
		return
	}
	composite{b}.HallucinatorBackward(lambda, x, k, w1, w2, w3, act, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3)
}

// SGDStep applies one SGD update with b's fused kernel, or with core
// methods when b has none. See SGDBackend.SGDStep for the arguments.
func SGDStep(b Backend, p SGDParams, params, grads, bufs []*tensor.Tensor, wd []bool) {
	if f, ok := b.(SGDBackend); ok {
		f.SGDStep(p, params, grads, bufs, wd)
		return
	}
	composite{b}.SGDStep(p, params, grads, bufs, wd)
}

// LARSStep applies one LARS update with b's fused kernel, or with core
// methods when b has none. See LARSBackend.LARSStep for the arguments.
func LARSStep(b Backend, p LARSParams, params, grads, bufs []*tensor.Tensor, exclude []bool) {
	if f, ok := b.(LARSBackend); ok {
		f.LARSStep(p, params, grads, bufs, exclude)
		return
	}
	composite{b}.LARSStep(p, params, grads, bufs, exclude)
}

// AdamWStep applies one AdamW update with b's fused kernel, or with core
// methods when b has none. See AdamWBackend.AdamWStep for the arguments.
func AdamWStep(b Backend, p AdamWParams, params, grads, m, v []*tensor.Tensor, wd []bool) {
	if f, ok := b.(AdamWBackend); ok {
		f.AdamWStep(p, params, grads, m, v, wd)
		return
	}
	composite{b}.AdamWStep(p, params, grads, m, v, wd)
}

// EMA updates target = decay*target + (1-decay)*source with b's fused
// kernel, or with core methods when b has none.
func EMA(b Backend, decay float32, target, source []*tensor.Tensor) {
	if f, ok := b.(EMABackend); ok {
		f.EMA(decay, target, source)
		return
	}
	composite{b}.EMA(decay, target, source)
}

// CoreOnly returns b seen through the core interface alone: none of its
// capabilities is visible, so every function above takes its composite path.
// The conformance suite runs it to check the composites against the
// reference.
func CoreOnly(b Backend) Backend { return coreOnly{b} }

type coreOnly struct{ Backend }
