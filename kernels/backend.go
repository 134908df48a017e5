// Package kernels defines Backend, the one place where arithmetic happens.
// Every numerical primitive the layers above need is a method of Backend, the
// core that every backend implements, or of one of the optional capabilities
// (InfoNCEBackend, HallucinatorBackend, SGDBackend, LARSBackend,
// AdamWBackend, EMABackend): fused forms of work that the core can express.
// Callers reach a capability through the function of the same name
// (kernels.InfoNCE(b, ...)), which uses the backend's fused method when it
// has one and a composite of core methods otherwise, so a new backend runs
// everything once it implements the core and gets faster as it adds
// capabilities. kernels/cpu and kernels/cuda implement everything;
// kernels/cpu/ref is the plain-Go reference every implementation is tested
// against with kernels/conformance.
//
// Conventions, for every method:
//   - Tensors are contiguous, row-major, on the backend's device (they may be
//     row views with an offset into a larger storage). Images are NCHW.
//   - Arguments are destination-last in the order written in each comment;
//     outputs are overwritten unless the comment says "accumulates".
//   - Shape mismatches are programming errors and panic with a message that
//     starts with the backend's name. Device errors (CUDA) are sticky and are
//     returned by Sync.
//   - Outputs never alias inputs unless the comment says so.
package kernels

import (
	"fmt"

	"hallucinator/tensor"
)

// ConvParams describes a 2-D convolution (groups = 1, no dilation).
// x is [N, C, H, W], w is [K, C, R, S], y is [N, K, P, Q] with
// P = (H + 2*PadH - R)/StrideH + 1 and Q = (W + 2*PadW - S)/StrideW + 1.
type ConvParams struct {
	StrideH, StrideW int
	PadH, PadW       int
}

// OutSize returns P, Q for an input of h x w and a filter of r x s.
func (p ConvParams) OutSize(h, w, r, s int) (int, int) {
	return (h+2*p.PadH-r)/p.StrideH + 1, (w+2*p.PadW-s)/p.StrideW + 1
}

// PoolParams describes a 2-D max pool: window KH x KW, stride, and padding
// that never wins (padded cells count as -Inf). Output size as for ConvParams.
type PoolParams struct {
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
}

// OutSize returns P, Q for an input of h x w.
func (p PoolParams) OutSize(h, w int) (int, int) {
	return (h+2*p.PadH-p.KH)/p.StrideH + 1, (w+2*p.PadW-p.KW)/p.StrideW + 1
}

// BNParams configures batch normalisation. The input is [N, C] or
// [N, C, H, W]; statistics are per channel over N (and H, W).
type BNParams struct {
	Eps float32
	// Momentum updates running statistics as PyTorch does:
	// run = (1-Momentum)*run + Momentum*batch, with the unbiased batch
	// variance for the running variance.
	Momentum float32
	// ReLU fuses a ReLU after the affine transform (forward) and masks the
	// incoming gradient with y > 0 (backward).
	ReLU bool
}

// SGDParams configures SGDStep as torch.optim.SGD (dampening 0):
// g = grad + WeightDecay*p; buf = Momentum*buf + g (buf = g on the first
// step when FirstStep is set); g = Nesterov ? g + Momentum*buf : buf;
// p -= LR * g.
type SGDParams struct {
	LR, Momentum, WeightDecay float32
	Nesterov                  bool
	FirstStep                 bool
}

// LARSParams configures LARSStep (You et al. 2017, as in solo-learn): for
// each tensor not excluded, g = grad + WeightDecay*p, and the local lr is
// LR * Eta*||p|| / (||grad|| + WeightDecay*||p||) (1 when either norm is 0);
// excluded tensors (biases, batch-norm) use g = grad and the plain LR; then
// buf = Momentum*buf + local*g and p -= buf.
type LARSParams struct {
	LR, Momentum, WeightDecay, Eta float32
}

// AdamWParams configures AdamWStep as torch.optim.AdamW: p -= LR*WeightDecay*p;
// m = B1*m + (1-B1)*g; v = B2*v + (1-B2)*g*g; p -= LR * (m/(1-B1^Step)) /
// (sqrt(v/(1-B2^Step)) + Eps). Step counts from 1.
type AdamWParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Step                               int
}

// InfoNCEParams configures the fused contrastive loss. Anchor rows q [A, D]
// and key rows k [B, D] are L2-normalised inside; queue rows [Q, D] (may be
// nil) are used as they are (already normalised). For anchor i the logits are
// the cosine similarities divided by Temperature against: its positive key
// Pos[i]; every other key j when InBatchNegatives is set, except j == Self[i]
// and, when Twins is set, except keys with KeyID[j] == AnchorID[i]; and every
// queue row. The loss is the mean over anchors of -log softmax at the
// positive.
type InfoNCEParams struct {
	Temperature      float32
	Pos              []int32 // [A] key row of each anchor's positive
	Self             []int32 // [A] key row that is the anchor itself, or -1; nil means none
	AnchorID, KeyID  []int32 // image identities for Twins; nil when Twins is false
	InBatchNegatives bool
	Twins            bool
}

// Backend is the core set of numerical primitives, which every backend
// implements. See the package comment for the conventions every method
// follows, and caps.go for the optional capabilities.
type Backend interface {
	// Name is a short name ("ref", "cpu", "cuda").
	Name() string
	// Kind is the device kind of the tensors this backend works on.
	Kind() tensor.DeviceKind
	// Caps describes the device, for choices that depend on what it can do
	// (presets, precision) rather than on its kind.
	Caps() Caps
	// Close waits for queued work, releases the backend's resources
	// (worker goroutines, device memory, the device context) and returns the
	// first device error. The backend must not be used afterwards; a second
	// Close returns nil.
	Close() error

	// --- memory ---

	// Zeros returns a new zero tensor on the backend's device.
	Zeros(shape ...int) *tensor.Tensor
	// FromHost returns a copy on the backend's device of a host tensor.
	FromHost(t *tensor.Tensor) *tensor.Tensor
	// ToHost returns a host copy of a tensor of this backend.
	ToHost(t *tensor.Tensor) *tensor.Tensor
	// Copy copies src into dst (same number of elements).
	Copy(src, dst *tensor.Tensor)
	// Fill sets every element of dst to v.
	Fill(v float32, dst *tensor.Tensor)
	// Sync waits for queued work and returns the first device error, if any.
	Sync() error

	// --- dense linear algebra ---

	// Gemm: C = alpha * op(A) op(B) + beta * C, op(X) = X or X^T. A, B, C are
	// 2-D; op(A) is [M, K], op(B) is [K, N], C is [M, N]. When beta is 0, C
	// is not read (NaNs in C do not propagate).
	Gemm(transA, transB bool, alpha float32, a, b *tensor.Tensor, beta float32, c *tensor.Tensor)
	// GemmBatched is Gemm on 3-D tensors [batch, ., .], one product per batch
	// index.
	GemmBatched(transA, transB bool, alpha float32, a, b *tensor.Tensor, beta float32, c *tensor.Tensor)

	// --- convolution ---

	// Conv2d: y = conv(x, w). x [N,C,H,W], w [K,C,R,S], y [N,K,P,Q].
	Conv2d(p ConvParams, x, w, y *tensor.Tensor)
	// Conv2dBackwardData: dx = gradient w.r.t. x of conv(x, w) given dy.
	Conv2dBackwardData(p ConvParams, dy, w, dx *tensor.Tensor)
	// Conv2dBackwardFilter: dw = gradient w.r.t. w given x and dy.
	Conv2dBackwardFilter(p ConvParams, x, dy, dw *tensor.Tensor)

	// --- bias ---

	// BiasAdd: y[o, c, i] += b[c], y seen as [outer, C, inner] where C is
	// y's dimension 1 and inner the product of the dimensions after it.
	BiasAdd(b, y *tensor.Tensor)
	// BiasGrad: db[c] = sum over outer and inner of dy[o, c, i].
	BiasGrad(dy, db *tensor.Tensor)

	// --- batch normalisation ---

	// BatchNormTrain normalises with batch statistics: y = gamma*(x-mean)*
	// invstd + beta (then ReLU if p.ReLU); writes the batch mean and invstd
	// = 1/sqrt(var+eps) (biased var) to saveMean, saveInvstd [C], and
	// updates runMean, runVar [C] in place.
	BatchNormTrain(p BNParams, x, gamma, beta, y, saveMean, saveInvstd, runMean, runVar *tensor.Tensor)
	// BatchNormInfer normalises with the running statistics.
	BatchNormInfer(p BNParams, x, gamma, beta, runMean, runVar, y *tensor.Tensor)
	// BatchNormBackward computes dx, dgamma, dbeta [C] of a training-mode
	// forward, from x, its saved statistics, gamma, the forward output y
	// (read only when p.ReLU, to mask dy) and dy.
	BatchNormBackward(p BNParams, x, y, dy, gamma, saveMean, saveInvstd, dx, dgamma, dbeta *tensor.Tensor)

	// --- activations and pooling ---

	// Relu: y = max(x, 0). y may alias x.
	Relu(x, y *tensor.Tensor)
	// ReluBackward: dx = dy where y > 0, else 0. dx may alias dy.
	ReluBackward(y, dy, dx *tensor.Tensor)
	// MaxPool2d: y = max over each window of x.
	MaxPool2d(p PoolParams, x, y *tensor.Tensor)
	// MaxPool2dBackward: dx = dy routed to the first (row-major) position of
	// each window's maximum.
	MaxPool2dBackward(p PoolParams, x, y, dy, dx *tensor.Tensor)
	// GlobalAvgPool: y [N, C] = mean over H, W of x [N, C, H, W].
	GlobalAvgPool(x, y *tensor.Tensor)
	// GlobalAvgPoolBackward: dx [N,C,H,W] = dy [N,C] / (H*W) broadcast.
	GlobalAvgPoolBackward(dy, dx *tensor.Tensor)

	// --- element-wise (same numbers of elements; dst may alias inputs) ---

	// Add: dst = a + b.
	Add(a, b, dst *tensor.Tensor)
	// Sub: dst = a - b.
	Sub(a, b, dst *tensor.Tensor)
	// Mul: dst = a * b.
	Mul(a, b, dst *tensor.Tensor)
	// Scale: dst = s * a.
	Scale(s float32, a, dst *tensor.Tensor)
	// Axpy: y += alpha * x (accumulates).
	Axpy(alpha float32, x, y *tensor.Tensor)

	// --- reductions ---

	// Sum: dst [1] = sum of all elements of x.
	Sum(x, dst *tensor.Tensor)
	// SumRows: dst [N] = column sums of x seen as [M, N] (sum over rows).
	SumRows(x, dst *tensor.Tensor)
	// SumCols: dst [M] = row sums of x seen as [M, N] (sum over columns).
	SumCols(x, dst *tensor.Tensor)
	// SumSquares: dst[i] = sum of squares of xs[i], dst of length len(xs).
	SumSquares(xs []*tensor.Tensor, dst *tensor.Tensor)

	// --- rows ---

	// GatherRows: y[r] = x[idx[r]], x seen as [M, D] (M its first
	// dimension), y as [len(idx), D]; idx (host) in [0, M).
	GatherRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor)
	// ScatterAddRows: y[idx[r]] += x[r] (accumulates), x seen as
	// [len(idx), D], y as [M, D]; idx (host) in [0, M) may repeat, and the
	// rows that land on one row of y are added in the order of r.
	ScatterAddRows(x *tensor.Tensor, idx []int32, y *tensor.Tensor)

	// --- normalisation and losses ---

	// L2NormalizeRows: y[i] = x[i] / max(||x[i]||, eps) for x [M, N]; writes
	// the clamped norms to norms [M].
	L2NormalizeRows(eps float32, x, y, norms *tensor.Tensor)
	// L2NormalizeRowsBackward: dx from y, norms and dy:
	// dx = (dy - y * <y, dy>) / norm (dy / norm where the norm was clamped).
	L2NormalizeRowsBackward(eps float32, y, norms, dy, dx *tensor.Tensor)
	// SoftmaxCrossEntropy: loss [1] = mean over rows of -log softmax(logits
	// [N, C])[label]; dlogits (may be nil) = (softmax - onehot)/N.
	SoftmaxCrossEntropy(logits *tensor.Tensor, labels []int32, loss, dlogits *tensor.Tensor)
}

// Panicf panics with a message prefixed by the backend's name.
func Panicf(b string, format string, args ...any) {
	panic(b + ": " + fmt.Sprintf(format, args...))
}

// CheckSameNumel panics unless every tensor has n elements.
func CheckSameNumel(b, op string, n int, ts ...*tensor.Tensor) {
	for i, t := range ts {
		if t.Numel() != n {
			Panicf(b, "%s: argument %d has %d elements, want %d (shape %v)", op, i, t.Numel(), n, t.Shape())
		}
	}
}

// CheckShape panics unless t has the given shape.
func CheckShape(b, op, name string, t *tensor.Tensor, shape ...int) {
	if t == nil || !tensor.EqualShape(t.Shape(), shape) {
		var got any = "nil"
		if t != nil {
			got = t.Shape()
		}
		Panicf(b, "%s: %s has shape %v, want %v", op, name, got, shape)
	}
}

// Check panics, with a message prefixed by the backend's name, unless p is
// valid for a anchors and nb keys: a positive temperature, one positive per
// anchor in [0, nb), self indices (when given) in [-1, nb), and identities
// for every anchor and key when Twins is set. Backends call it before
// reading any index.
func (p InfoNCEParams) Check(backend string, a, nb int) {
	const op = "InfoNCE"
	if !(p.Temperature > 0) {
		Panicf(backend, "%s: temperature %v, want > 0", op, p.Temperature)
	}
	if len(p.Pos) != a {
		Panicf(backend, "%s: %d positives for %d anchors", op, len(p.Pos), a)
	}
	for i, j := range p.Pos {
		if j < 0 || int(j) >= nb {
			Panicf(backend, "%s: positive %d of anchor %d out of [0, %d)", op, j, i, nb)
		}
	}
	if p.Self != nil {
		if len(p.Self) != a {
			Panicf(backend, "%s: %d self indices for %d anchors", op, len(p.Self), a)
		}
		for i, j := range p.Self {
			if j < -1 || int(j) >= nb {
				Panicf(backend, "%s: self index %d of anchor %d out of [-1, %d)", op, j, i, nb)
			}
		}
	}
	if p.Twins && (len(p.AnchorID) != a || len(p.KeyID) != nb) {
		Panicf(backend, "%s: Twins needs %d anchor and %d key identities, got %d and %d",
			op, a, nb, len(p.AnchorID), len(p.KeyID))
	}
}

// CheckHallucinator panics, with a message prefixed by the backend's name,
// unless the Hallucinator's tensors fit together: x and k [N, D], w1 and w2
// [2D, 2D], w3 [D, 2D], act [N, 4D]. It returns N and D.
func CheckHallucinator(backend, op string, x, k, w1, w2, w3, act *tensor.Tensor) (n, d int) {
	if x == nil || x.Dims() != 2 {
		var got any = "nil"
		if x != nil {
			got = x.Shape()
		}
		Panicf(backend, "%s: x has shape %v, want 2 dimensions", op, got)
	}
	n, d = x.Dim(0), x.Dim(1)
	if k == nil {
		Panicf(backend, "%s: k is nil", op)
	}
	CheckShape(backend, op, "k", k, n, d)
	CheckShape(backend, op, "w1", w1, 2*d, 2*d)
	CheckShape(backend, op, "w2", w2, 2*d, 2*d)
	CheckShape(backend, op, "w3", w3, d, 2*d)
	CheckShape(backend, op, "act", act, n, 4*d)
	return n, d
}

// CheckHallucinatorGrads panics unless the gradients of HallucinatorBackward
// have the shapes of a Hallucinator of N rows of D features (dk may be nil).
func CheckHallucinatorGrads(backend, op string, n, d int, dout, dx, dk, dw1, db1, dw2, db2, dw3, db3 *tensor.Tensor) {
	CheckShape(backend, op, "dout", dout, n, d)
	CheckShape(backend, op, "dx", dx, n, d)
	if dk != nil {
		CheckShape(backend, op, "dk", dk, n, d)
	}
	CheckShape(backend, op, "dw1", dw1, 2*d, 2*d)
	CheckShape(backend, op, "dw2", dw2, 2*d, 2*d)
	CheckShape(backend, op, "dw3", dw3, d, 2*d)
	CheckShape(backend, op, "db1", db1, 2*d)
	CheckShape(backend, op, "db2", db2, 2*d)
	CheckShape(backend, op, "db3", db3, d)
}

// CheckRows panics, with a message prefixed by the backend's name, unless x
// and y are at least 1-D with rows of one size and every index is in
// [0, y.Dim(0)) for a scatter (x.Dim(0) for a gather) with len(idx) rows on
// the other side. It returns the row size D and the row count M of the
// indexed tensor.
func CheckRows(backend, op string, x *tensor.Tensor, idx []int32, y *tensor.Tensor, scatter bool) (d, m int) {
	if x == nil || y == nil || x.Dims() == 0 || y.Dims() == 0 {
		Panicf(backend, "%s: want tensors of at least one dimension", op)
	}
	indexed, other := x, y
	if scatter {
		indexed, other = y, x
	}
	m = indexed.Dim(0)
	if other.Dim(0) != len(idx) {
		Panicf(backend, "%s: %d indices for %d rows (shape %v)", op, len(idx), other.Dim(0), other.Shape())
	}
	if m == 0 {
		if len(idx) > 0 {
			Panicf(backend, "%s: indices into an empty tensor", op)
		}
		return 0, 0
	}
	d = indexed.Numel() / m
	if len(idx) > 0 && other.Numel()/len(idx) != d {
		Panicf(backend, "%s: rows of %d and %d elements (shapes %v, %v)", op, x.Numel()/max(x.Dim(0), 1), y.Numel()/max(y.Dim(0), 1), x.Shape(), y.Shape())
	}
	for r, i := range idx {
		if i < 0 || int(i) >= m {
			Panicf(backend, "%s: index %d of row %d out of [0, %d)", op, i, r, m)
		}
	}
	return d, m
}

// RowsByDestination sorts the rows of a scatter by destination, stably: for
// the indices idx into m rows, the sources of row i are
// order[start[i]:start[i+1]], in increasing order. Backends that give each
// destination row to one worker use it, so that the rows landing on one row
// are added in the order of r whatever the number of workers.
func RowsByDestination(idx []int32, m int) (order, start []int32) {
	start = make([]int32, m+1)
	for _, i := range idx {
		start[i+1]++
	}
	for i := range m {
		start[i+1] += start[i]
	}
	order = make([]int32, len(idx))
	next := append([]int32(nil), start[:m]...)
	for r, i := range idx {
		order[next[i]] = int32(r)
		next[i]++
	}
	return order, start
}
