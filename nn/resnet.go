package nn

import (
	"fmt"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/kernels"
)

// Stem selects the first layers of a ResNet.
type Stem int

const (
	// StemImageNet is torchvision's stem: a 7x7 stride-2 convolution
	// (padding 3), batch norm, ReLU and a 3x3 stride-2 max pool (padding 1).
	StemImageNet Stem = iota
	// StemCIFAR is the stem for small images: a 3x3 stride-1 convolution
	// (padding 1), batch norm and ReLU, no max pool.
	StemCIFAR
	// StemCIFARPool is StemCIFAR followed by a 2x2 stride-2 max pool: the
	// residual layers run at half the resolution, a quarter of the work,
	// for quick runs on small images. It has the same parameters (and
	// checkpoint names) as StemCIFAR.
	StemCIFARPool
)

// String returns "imagenet", "cifar" or "cifar-pool".
func (s Stem) String() string {
	switch s {
	case StemImageNet:
		return "imagenet"
	case StemCIFAR:
		return "cifar"
	case StemCIFARPool:
		return "cifar-pool"
	}
	return fmt.Sprintf("Stem(%d)", int(s))
}

// ParseStem returns the stem that String names.
func ParseStem(name string) (Stem, error) {
	for _, s := range []Stem{StemImageNet, StemCIFAR, StemCIFARPool} {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("nn: unknown stem %q (want imagenet, cifar or cifar-pool)", name)
}

// ResNetConfig configures NewResNet18 and NewResNet34. The zero value is
// torchvision's ResNet without its classifier on 3-channel images.
type ResNetConfig struct {
	// Width is the number of channels of the stem and of layer1 (layers
	// 2-4 have 2, 4 and 8 times as many); 0 means 64.
	Width int
	Stem  Stem
	// InChannels is the number of image channels; 0 means 3.
	InChannels int
	// NumClasses is the size of the final Linear layer "fc"; 0 means no fc:
	// Forward then returns the pooled features [N, 8*Width].
	NumClasses int
	// ZeroInitResidual sets the scale of the last batch norm of every
	// residual block to zero, so each block starts as the identity.
	ZeroInitResidual bool
}

// BasicBlock is the two-convolution residual block of ResNet-18 and -34:
// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), where the shortcut is
// the identity or, when the shape changes, a strided 1x1 convolution and a
// batch norm ("downsample.0", "downsample.1").
type BasicBlock struct {
	Conv1      *Conv2d
	BN1        *BatchNorm // fused with the first ReLU
	Conv2      *Conv2d
	BN2        *BatchNorm
	Downsample *Sequential // nil for the identity shortcut
	b          kernels.Backend
}

// NewBasicBlock returns a block from in to out channels whose first
// convolution has the given stride, initialised as torchvision's.
func NewBasicBlock(b kernels.Backend, rng *rand.Rand, in, out, stride int, zeroInitResidual bool) (*BasicBlock, error) {
	if err := checkPositive("BasicBlock", "stride", stride); err != nil {
		return nil, err
	}
	blk := &BasicBlock{b: b}
	var err error
	if blk.Conv1, err = newConv2dResNet(b, rng, Conv2dConfig{In: in, Out: out, Kernel: 3, Stride: stride, Pad: 1}); err != nil {
		return nil, err
	}
	if blk.BN1, err = NewBatchNorm2d(b, out, BatchNormOptions{ReLU: true}); err != nil {
		return nil, err
	}
	if blk.Conv2, err = newConv2dResNet(b, rng, Conv2dConfig{In: out, Out: out, Kernel: 3, Pad: 1}); err != nil {
		return nil, err
	}
	if blk.BN2, err = NewBatchNorm2d(b, out, BatchNormOptions{}); err != nil {
		return nil, err
	}
	if zeroInitResidual {
		b.Fill(0, blk.BN2.Weight.Value)
	}
	if stride != 1 || in != out {
		conv, err := newConv2dResNet(b, rng, Conv2dConfig{In: in, Out: out, Kernel: 1, Stride: stride})
		if err != nil {
			return nil, err
		}
		bn, err := NewBatchNorm2d(b, out, BatchNormOptions{})
		if err != nil {
			return nil, err
		}
		blk.Downsample = NewSequential(conv, bn)
	}
	return blk, nil
}

// Forward applies the block to x [N, in, H, W].
func (blk *BasicBlock) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	out := blk.BN1.Forward(tp, blk.Conv1.Forward(tp, x))
	out = blk.BN2.Forward(tp, blk.Conv2.Forward(tp, out))
	id := x
	if blk.Downsample != nil {
		id = blk.Downsample.Forward(tp, x)
	}
	return tp.Relu(tp.Add(out, id))
}

func (blk *BasicBlock) children() ([]string, []Module) {
	names := []string{"conv1", "bn1", "conv2", "bn2"}
	mods := []Module{blk.Conv1, blk.BN1, blk.Conv2, blk.BN2}
	if blk.Downsample != nil {
		names = append(names, "downsample")
		mods = append(mods, blk.Downsample)
	}
	return names, mods
}

// Params returns the block's parameters with torchvision's names.
func (blk *BasicBlock) Params() []Param {
	names, mods := blk.children()
	var ps []Param
	for i, m := range mods {
		ps = append(ps, PrefixParams(names[i], m.Params())...)
	}
	return ps
}

// Buffers returns the block's batch-norm statistics with torchvision's
// names.
func (blk *BasicBlock) Buffers() []Buffer {
	names, mods := blk.children()
	var bs []Buffer
	for i, m := range mods {
		bs = append(bs, PrefixBuffers(names[i], m.Buffers())...)
	}
	return bs
}

// SetTraining sets the mode of the block's batch norms.
func (blk *BasicBlock) SetTraining(training bool) {
	_, mods := blk.children()
	for _, m := range mods {
		m.SetTraining(training)
	}
}

// Backend returns the backend the tensors live on.
func (blk *BasicBlock) Backend() kernels.Backend { return blk.b }

// ResNet is a ResNet-18 or ResNet-34 with torchvision's module names (conv1,
// bn1, layer1.0.conv1, ..., layer4.1.downsample.0, fc).
type ResNet struct {
	Config  ResNetConfig // with defaults filled in
	Depth   int          // 18 or 34
	Conv1   *Conv2d
	BN1     *BatchNorm // fused with the stem's ReLU
	MaxPool *MaxPool2d // nil for StemCIFAR
	Layers  [4][]*BasicBlock
	FC      *Linear // nil when NumClasses is 0
	b       kernels.Backend
}

// NewResNet18 returns a ResNet-18 (2, 2, 2, 2 basic blocks) initialised as
// torchvision's: kaiming-normal (fan_out) convolutions, batch norms with
// weight 1 and bias 0, PyTorch's default Linear init for fc.
func NewResNet18(b kernels.Backend, rng *rand.Rand, c ResNetConfig) (*ResNet, error) {
	return newResNet(b, rng, 18, [4]int{2, 2, 2, 2}, c)
}

// NewResNet34 returns a ResNet-34 (3, 4, 6, 3 basic blocks), initialised as
// NewResNet18.
func NewResNet34(b kernels.Backend, rng *rand.Rand, c ResNetConfig) (*ResNet, error) {
	return newResNet(b, rng, 34, [4]int{3, 4, 6, 3}, c)
}

func newResNet(b kernels.Backend, rng *rand.Rand, depth int, blocks [4]int, c ResNetConfig) (*ResNet, error) {
	name := fmt.Sprintf("ResNet-%d", depth)
	if c.Width == 0 {
		c.Width = 64
	}
	if c.InChannels == 0 {
		c.InChannels = 3
	}
	switch {
	case c.Width < 0:
		return nil, fmt.Errorf("nn: %s: width must be positive, got %d", name, c.Width)
	case c.InChannels < 0:
		return nil, fmt.Errorf("nn: %s: input channels must be positive, got %d", name, c.InChannels)
	case c.NumClasses < 0:
		return nil, fmt.Errorf("nn: %s: number of classes must be >= 0, got %d", name, c.NumClasses)
	case c.Stem != StemImageNet && c.Stem != StemCIFAR && c.Stem != StemCIFARPool:
		return nil, fmt.Errorf("nn: %s: unknown stem %v", name, c.Stem)
	}
	r := &ResNet{Config: c, Depth: depth, b: b}
	var err error
	stem := Conv2dConfig{In: c.InChannels, Out: c.Width, Kernel: 7, Stride: 2, Pad: 3}
	if c.Stem != StemImageNet {
		stem = Conv2dConfig{In: c.InChannels, Out: c.Width, Kernel: 3, Stride: 1, Pad: 1}
	}
	if r.Conv1, err = newConv2dResNet(b, rng, stem); err != nil {
		return nil, err
	}
	if r.BN1, err = NewBatchNorm2d(b, c.Width, BatchNormOptions{ReLU: true}); err != nil {
		return nil, err
	}
	switch c.Stem {
	case StemImageNet:
		r.MaxPool, err = NewMaxPool2d(3, 2, 1)
	case StemCIFARPool:
		r.MaxPool, err = NewMaxPool2d(2, 2, 0)
	}
	if err != nil {
		return nil, err
	}
	in := c.Width
	for l := range 4 {
		out := c.Width << l
		stride := 2
		if l == 0 {
			stride = 1
		}
		for i := range blocks[l] {
			s := stride
			if i > 0 {
				s = 1
			}
			blk, err := NewBasicBlock(b, rng, in, out, s, c.ZeroInitResidual)
			if err != nil {
				return nil, err
			}
			r.Layers[l] = append(r.Layers[l], blk)
			in = out
		}
	}
	if c.NumClasses > 0 {
		if r.FC, err = NewLinear(b, rng, in, c.NumClasses, true); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// FeatureDim is the size of the pooled features, 8*Width.
func (r *ResNet) FeatureDim() int { return 8 * r.Config.Width }

// Features maps images x [N, InChannels, H, W] to the pooled features of
// layer4, [N, FeatureDim()], whether or not the network has an fc layer.
func (r *ResNet) Features(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 || s[1] != r.Config.InChannels {
		panic(fmt.Sprintf("nn: ResNet-%d with %d input channels applied to an input of shape %v", r.Depth, r.Config.InChannels, s))
	}
	h := r.BN1.Forward(tp, r.Conv1.Forward(tp, x))
	if r.MaxPool != nil {
		h = r.MaxPool.Forward(tp, h)
	}
	for _, layer := range r.Layers {
		for _, blk := range layer {
			h = blk.Forward(tp, h)
		}
	}
	return tp.GlobalAvgPool(h)
}

// Forward returns the logits [N, NumClasses], or the features when the
// network has no fc layer.
func (r *ResNet) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	f := r.Features(tp, x)
	if r.FC == nil {
		return f
	}
	return r.FC.Forward(tp, f)
}

func (r *ResNet) children() ([]string, []Module) {
	names := []string{"conv1", "bn1"}
	mods := []Module{r.Conv1, r.BN1}
	for l, layer := range r.Layers {
		for i, blk := range layer {
			names = append(names, fmt.Sprintf("layer%d.%d", l+1, i))
			mods = append(mods, blk)
		}
	}
	if r.FC != nil {
		names = append(names, "fc")
		mods = append(mods, r.FC)
	}
	return names, mods
}

// Params returns every parameter with torchvision's state_dict names.
func (r *ResNet) Params() []Param {
	names, mods := r.children()
	var ps []Param
	for i, m := range mods {
		ps = append(ps, PrefixParams(names[i], m.Params())...)
	}
	return ps
}

// Buffers returns every batch-norm statistic with torchvision's names.
func (r *ResNet) Buffers() []Buffer {
	names, mods := r.children()
	var bs []Buffer
	for i, m := range mods {
		bs = append(bs, PrefixBuffers(names[i], m.Buffers())...)
	}
	return bs
}

// SetTraining sets the mode of every batch norm.
func (r *ResNet) SetTraining(training bool) {
	_, mods := r.children()
	for _, m := range mods {
		m.SetTraining(training)
	}
}

// BatchNorms returns every batch norm of the network, in module order.
func (r *ResNet) BatchNorms() []*BatchNorm {
	bns := []*BatchNorm{r.BN1}
	for _, layer := range r.Layers {
		for _, blk := range layer {
			bns = append(bns, blk.BN1, blk.BN2)
			if blk.Downsample != nil {
				for _, m := range blk.Downsample.mods {
					if bn, ok := m.(*BatchNorm); ok {
						bns = append(bns, bn)
					}
				}
			}
		}
	}
	return bns
}

// SetBNGroups makes every batch norm normalise training batches in g
// groups of samples (see BatchNorm.Groups); g <= 1 restores whole-batch
// statistics.
func (r *ResNet) SetBNGroups(g int) {
	for _, bn := range r.BatchNorms() {
		bn.Groups = g
	}
}

// Backend returns the backend the tensors live on.
func (r *ResNet) Backend() kernels.Backend { return r.b }
