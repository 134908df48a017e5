package nn

import (
	"fmt"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

func TestResNetParamCount(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates full-size ResNets")
	}
	b := ref.New()
	for _, tc := range []struct {
		name          string
		depth         int
		cfg           ResNetConfig
		params, state int
	}{
		// torchvision.models.resnet18() / resnet34() and the CIFAR variant.
		{"resnet18", 18, ResNetConfig{NumClasses: 1000}, 11689512, 122},
		{"resnet34", 34, ResNetConfig{NumClasses: 1000}, 21797672, 218},
		{"resnet18-cifar10", 18, ResNetConfig{Stem: StemCIFAR, NumClasses: 10}, 11173962, 122},
		{"resnet18-features", 18, ResNetConfig{}, 11689512 - 513000, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctor := NewResNet18
			if tc.depth == 34 {
				ctor = NewResNet34
			}
			m, err := ctor(b, tensor.NewRand(1), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := NumParams(m); got != tc.params {
				t.Errorf("%d parameters, want %d", got, tc.params)
			}
			if got := len(m.Params()) + len(m.Buffers()); got != tc.state {
				t.Errorf("%d state_dict entries, want %d", got, tc.state)
			}
		})
	}
}

func TestResNetNames(t *testing.T) {
	m, err := NewResNet18(ref.New(), tensor.NewRand(1), ResNetConfig{Width: 2, NumClasses: 3})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range m.Params() {
		have[p.Name] = true
	}
	for _, bf := range m.Buffers() {
		have[bf.Name] = true
	}
	for _, want := range []string{
		"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
		"layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.1.conv2.weight", "layer1.1.bn2.bias",
		"layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight", "layer2.0.downsample.1.running_var",
		"layer3.1.bn1.num_batches_tracked", "layer4.0.downsample.1.bias", "layer4.1.bn2.running_mean",
		"fc.weight", "fc.bias",
	} {
		if !have[want] {
			t.Errorf("no %q", want)
		}
	}
	for _, absent := range []string{"layer1.0.downsample.0.weight", "layer2.1.downsample.0.weight", "maxpool.weight", "conv1.bias"} {
		if have[absent] {
			t.Errorf("unexpected %q", absent)
		}
	}
	// The first parameters in torchvision's order.
	if err := sameStrings(paramNames(m.Params())[:6], []string{"conv1.weight", "bn1.weight", "bn1.bias",
		"layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias"}); err != nil {
		t.Error(err)
	}
}

func TestResNetShapes(t *testing.T) {
	b := ref.New()
	for _, tc := range []struct {
		name  string
		depth int
		cfg   ResNetConfig
		in    []int
		out   []int
	}{
		{"cifar-logits", 18, ResNetConfig{Width: 2, Stem: StemCIFAR, NumClasses: 10}, []int{2, 3, 8, 8}, []int{2, 10}},
		{"cifar-features-gray", 18, ResNetConfig{Width: 3, Stem: StemCIFAR, InChannels: 1}, []int{3, 1, 7, 7}, []int{3, 24}},
		{"imagenet-34", 34, ResNetConfig{Width: 2, NumClasses: 5}, []int{1, 3, 33, 29}, []int{1, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctor := NewResNet18
			if tc.depth == 34 {
				ctor = NewResNet34
			}
			m, err := ctor(b, tensor.NewRand(2), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := constVar(tensor.RandN(tensor.NewRand(3), 0, 1, tc.in...))
			tp := autograd.NewTape(b)
			y := m.Forward(tp, x)
			if !tensor.EqualShape(y.Shape(), tc.out) {
				t.Fatalf("output %v, want %v", y.Shape(), tc.out)
			}
			if f := m.Features(tp, x); f.Value.Dim(1) != m.FeatureDim() {
				t.Fatalf("features %v, FeatureDim %d", f.Shape(), m.FeatureDim())
			}
			if y.Value.HasNaN() {
				t.Fatal("NaN in output")
			}
		})
	}
}

func TestResNetInit(t *testing.T) {
	m, err := NewResNet18(ref.New(), tensor.NewRand(4), ResNetConfig{Width: 16, ZeroInitResidual: true, NumClasses: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		d := p.V.Value.Data()
		switch {
		case p.V.Value.Dims() == 4:
			// kaiming_normal_(fan_out, relu): std sqrt(2/(K*R*S)).
			s := p.V.Value.Shape()
			want := 2 / float64(s[0]*s[2]*s[3])
			var ss float64
			for _, v := range d {
				ss += float64(v) * float64(v)
			}
			if got := ss / float64(len(d)); got < want*0.7 || got > want*1.3 {
				t.Errorf("%s: variance %.4g, want about %.4g", p.Name, got, want)
			}
		case p.Name == "fc.weight" || p.Name == "fc.bias":
		default:
			want := float32(1)
			if len(p.Name) > 6 && p.Name[len(p.Name)-4:] == "bias" || containsBN2(p.Name) {
				want = 0
			}
			for _, v := range d {
				if v != want {
					t.Fatalf("%s: value %g, want %g", p.Name, v, want)
				}
			}
		}
	}
}

func containsBN2(name string) bool {
	return len(name) > 10 && name[len(name)-10:] == "bn2.weight"
}

func TestZeroInitResidualBlockIsIdentity(t *testing.T) {
	// With bn2's scale at 0 (and its shift 0) an identity block maps x to
	// relu(x) in training mode, whatever its convolutions.
	b := ref.New()
	rng := tensor.NewRand(6)
	blk, err := NewBasicBlock(b, rng, 4, 4, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	x := randT(rng, 1, 2, 4, 5, 5)
	y := blk.Forward(autograd.NewTape(b), constVar(x))
	want := f64(x)
	for i := range want {
		want[i] = max(want[i], 0)
	}
	checkClose(t, "zero-init block", y.Value, want, 1e-6)
	if blk.Downsample != nil {
		t.Fatal("identity block has a downsample")
	}
	blk2, err := NewBasicBlock(b, rng, 4, 6, 2, false)
	if err != nil || blk2.Downsample == nil {
		t.Fatalf("strided block: %v, downsample %v", err, blk2.Downsample)
	}
}

// TestTinyNetGradCheck checks the gradients of Conv-BN-ReLU-MaxPool-Linear,
// built from the modules, against finite differences on the reference
// backend, for the input and every parameter.
func TestTinyNetGradCheck(t *testing.T) {
	b := ref.New()
	rng := tensor.NewRand(21)
	conv, err := NewConv2d(b, rng, Conv2dConfig{In: 2, Out: 3, Kernel: 3, Pad: 1})
	if err != nil {
		t.Fatal(err)
	}
	bn, err := NewBatchNorm2d(b, 3, BatchNormOptions{ReLU: true})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := NewMaxPool2d(2, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	lin, err := NewLinear(b, rng, 3*2*2, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	net := NewSequential(conv, bn, pool, Flatten{}, lin)
	if err := sameStrings(paramNames(net.Params()), []string{"0.weight", "1.weight", "1.bias", "4.weight", "4.bias"}); err != nil {
		t.Fatal(err)
	}
	inputs := []*tensor.Tensor{
		randT(rng, 1, 3, 2, 5, 4), // x: 5x4 images pool to 2x2
		conv.Weight.Value.Clone(),
		tensor.RandU(rng, 0.5, 1.5, 3),
		tensor.RandU(rng, -0.3, 0.3, 3),
		lin.Weight.Value.Clone(),
		lin.Bias.Value.Clone(),
	}
	f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
		conv.Weight, bn.Weight, bn.Bias, lin.Weight, lin.Bias = in[1], in[2], in[3], in[4], in[5]
		return net.Forward(tp, in[0])
	}
	if err := autograd.GradCheck(b, f, inputs, autograd.GradCheckOptions{Seed: 5}); err != nil {
		t.Fatal(err)
	}
	// A biased convolution feeding a global average pool and a Linear.
	conv2, err := NewConv2d(b, rng, Conv2dConfig{In: 3, Out: 2, Kernel: 3, Stride: 2, Pad: 1, Bias: true})
	if err != nil {
		t.Fatal(err)
	}
	lin2, err := NewLinear(b, rng, 2, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	net2 := NewSequential(conv2, GlobalAvgPool{}, lin2)
	inputs2 := []*tensor.Tensor{randT(rng, 1, 2, 3, 7, 6), conv2.Weight.Value.Clone(), conv2.Bias.Value.Clone(),
		lin2.Weight.Value.Clone(), lin2.Bias.Value.Clone()}
	f2 := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
		conv2.Weight, conv2.Bias, lin2.Weight, lin2.Bias = in[1], in[2], in[3], in[4]
		return net2.Forward(tp, in[0])
	}
	if err := autograd.GradCheck(b, f2, inputs2, autograd.GradCheckOptions{Seed: 6}); err != nil {
		t.Fatal(err)
	}
}

// TestBasicBlockGradCheck checks a strided residual block with its
// downsample shortcut. Batch-norm shifts of 4 to 5 (with scales below 1)
// keep every ReLU input far from 0, so that the finite differences cross no
// kink; the ReLU masks are checked by TestTinyNetGradCheck.
func TestBasicBlockGradCheck(t *testing.T) {
	b := ref.New()
	rng := tensor.NewRand(8)
	blk, err := NewBasicBlock(b, rng, 2, 3, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	bns := []*BatchNorm{blk.BN1, blk.BN2, blk.Downsample.mods[1].(*BatchNorm)}
	ds := blk.Downsample.mods[0].(*Conv2d)
	inputs := []*tensor.Tensor{randT(rng, 1, 2, 2, 5, 5), blk.Conv1.Weight.Value.Clone(), blk.Conv2.Weight.Value.Clone(), ds.Weight.Value.Clone()}
	for range bns {
		inputs = append(inputs, tensor.RandU(rng, 0.5, 1, 3), tensor.RandU(rng, 4, 5, 3))
	}
	f := func(tp *autograd.Tape, in []*autograd.Var) *autograd.Var {
		blk.Conv1.Weight, blk.Conv2.Weight, ds.Weight = in[1], in[2], in[3]
		for i, bn := range bns {
			bn.Weight, bn.Bias = in[4+2*i], in[5+2*i]
		}
		return blk.Forward(tp, in[0])
	}
	if err := autograd.GradCheck(b, f, inputs, autograd.GradCheckOptions{Seed: 9}); err != nil {
		t.Fatal(err)
	}
}

// trainSteps runs a few SGD steps of m on random data (cross-entropy of its
// outputs, logits or features, against random labels), leaving non-trivial parameters and running statistics.
func trainSteps(b kernels.Backend, m *ResNet, steps int, in []int, seed uint64) {
	rng := tensor.NewRand(seed)
	tp := autograd.NewTape(b)
	for range steps {
		x := autograd.NewVar(b.FromHost(tensor.RandN(rng, 0.5, 1, in...)), false)
		out := m.Forward(tp, x)
		labels := make([]int32, in[0])
		for i := range labels {
			labels[i] = int32(rng.IntN(out.Value.Dim(1)))
		}
		loss := tp.SoftmaxCrossEntropy(out, labels)
		tp.Backward(loss)
		for _, p := range m.Params() {
			if p.V.HasGrad() {
				b.Axpy(-0.05, p.V.Grad, p.V.Value)
			}
		}
		autograd.ZeroGrad(Vars(m.Params()))
	}
}

func ExampleNewResNet18() {
	b := ref.New()
	m, err := NewResNet18(b, tensor.NewRand(1), ResNetConfig{Width: 8, Stem: StemCIFAR, InChannels: 1, NumClasses: 10})
	if err != nil {
		panic(err)
	}
	tp := autograd.NewTape(b)
	x := autograd.NewVar(tensor.RandN(tensor.NewRand(2), 0, 1, 4, 1, 28, 28), false)
	logits := m.Forward(tp, x)
	loss := tp.SoftmaxCrossEntropy(logits, []int32{0, 3, 9, 1})
	tp.Backward(loss)
	fmt.Println("logits", logits.Shape())
	fmt.Println("parameters", NumParams(m))
	fmt.Println("first", m.Params()[0].Name, "has gradient:", m.Params()[0].V.HasGrad())
	// Output:
	// logits [4 10]
	// parameters 176258
	// first conv1.weight has gradient: true
}

func TestParseStem(t *testing.T) {
	for _, s := range []Stem{StemImageNet, StemCIFAR, StemCIFARPool} {
		got, err := ParseStem(s.String())
		if err != nil || got != s {
			t.Errorf("ParseStem(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
	if _, err := ParseStem("cifar10"); err == nil {
		t.Error("ParseStem(cifar10): no error")
	}
}

// TestStemCIFARPool checks that the pooled CIFAR stem has the parameters of
// the CIFAR stem and halves the resolution of the residual layers: on a
// 28x28 input its features equal those of the CIFAR-stem network (same
// weights) on the 2x2-max-pooled stem output, which the test computes by
// running the CIFAR network's layers by hand.
func TestStemCIFARPool(t *testing.T) {
	b := ref.New()
	cfg := ResNetConfig{Width: 4, Stem: StemCIFARPool, InChannels: 1}
	pooled, err := NewResNet18(b, tensor.NewRand(3), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stem = StemCIFAR
	plain, err := NewResNet18(b, tensor.NewRand(3), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := NumParams(pooled), NumParams(plain); got != want {
		t.Fatalf("parameters: pooled stem %d, CIFAR stem %d", got, want)
	}
	x := autograd.NewVar(tensor.RandN(tensor.NewRand(4), 0, 1, 3, 1, 28, 28), false)
	tp := autograd.NewTape(b)
	got := pooled.Features(tp, x)
	h := plain.BN1.Forward(tp, plain.Conv1.Forward(tp, x))
	mp, err := NewMaxPool2d(2, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	h = mp.Forward(tp, h)
	if s := h.Shape(); s[2] != 14 || s[3] != 14 {
		t.Fatalf("pooled stem output %v, want 14x14", s)
	}
	for _, layer := range plain.Layers {
		for _, blk := range layer {
			h = blk.Forward(tp, h)
		}
	}
	want := tp.GlobalAvgPool(h)
	g, w := got.Value.Data(), want.Value.Data()
	for i := range w {
		if g[i] != w[i] {
			t.Fatalf("feature %d: %v, want %v", i, g[i], w[i])
		}
	}
}
