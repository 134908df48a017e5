package nn

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu"
	"hallucinator/tensor"
)

// torchPython returns a python3 that imports torch, or skips the test.
func torchPython(t *testing.T) string {
	t.Helper()
	var py string
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		py = "/usr/bin/python3"
	} else if p, err := exec.LookPath("python3"); err == nil {
		py = p
	} else {
		t.Skip("no python3: skipping the PyTorch equivalence check (install python3 and python3-torch)")
	}
	if out, err := exec.Command(py, "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch: skipping the PyTorch equivalence check (install python3-torch): %v\n%s", py, err, out)
	}
	return py
}

// TestTorchEquivalence writes ResNets with trained parameters and batch-norm
// statistics, an input and our eval-mode output, and has PyTorch load the
// checkpoint with strict=True and compare its output to 1e-4.
func TestTorchEquivalence(t *testing.T) {
	py := torchPython(t)
	script, err := filepath.Abs("testdata/torch_check.py")
	if err != nil {
		t.Fatal(err)
	}
	// The fast CPU backend, which trains our models (it is checked against
	// the reference backend by its conformance tests).
	b := cpu.New(cpu.Options{})
	defer b.Close()
	root := t.TempDir()
	var dirs []string
	for _, tc := range []struct {
		name  string
		depth int
		cfg   ResNetConfig
		in    []int
	}{
		{"resnet18-cifar", 18, ResNetConfig{Width: 8, Stem: StemCIFAR, NumClasses: 10}, []int{3, 3, 20, 20}},
		{"resnet18-imagenet", 18, ResNetConfig{Width: 8, Stem: StemImageNet, NumClasses: 7}, []int{2, 3, 36, 36}},
		{"resnet18-cifar-gray", 18, ResNetConfig{Width: 4, Stem: StemCIFAR, InChannels: 1, NumClasses: 10}, []int{2, 1, 28, 28}},
		{"resnet34-imagenet-features", 34, ResNetConfig{Width: 4, Stem: StemImageNet, ZeroInitResidual: true}, []int{2, 3, 33, 33}},
	} {
		ctor := NewResNet18
		if tc.depth == 34 {
			ctor = NewResNet34
		}
		m, err := ctor(b, tensor.NewRand(uint64(tc.depth)), tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		trainSteps(b, m, 3, tc.in, 17)
		m.SetTraining(false)
		x := tensor.RandN(tensor.NewRand(23), 0.3, 1, tc.in...)
		y := m.Forward(autograd.NewTape(b), constVar(x)).Value
		dir := filepath.Join(root, tc.name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		meta := map[string]string{
			"depth": fmt.Sprint(tc.depth), "width": fmt.Sprint(m.Config.Width), "stem": m.Config.Stem.String(),
			"in_channels": fmt.Sprint(m.Config.InChannels), "num_classes": fmt.Sprint(m.Config.NumClasses),
			"num_params": fmt.Sprint(NumParams(m)),
		}
		if err := SaveSafetensors(filepath.Join(dir, "model.safetensors"), m, meta); err != nil {
			t.Fatal(err)
		}
		io := []NamedTensor{{Name: "input", T: x}, {Name: "output", T: y}}
		if err := WriteSafetensors(filepath.Join(dir, "io.safetensors"), io, nil); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
		if len(dirs) == 1 {
			// A control that must fail: the same model with one output
			// value off by 1e-3 of the largest.
			bad := filepath.Join(root, "control-perturbed")
			if err := os.Mkdir(bad, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := SaveSafetensors(filepath.Join(bad, "model.safetensors"), m, meta); err != nil {
				t.Fatal(err)
			}
			yb := y.Clone()
			yb.Data()[1] += 1e-3 * float32(maxAbs(yb.Data()))
			if err := WriteSafetensors(filepath.Join(bad, "io.safetensors"), []NamedTensor{{Name: "input", T: x}, {Name: "output", T: yb}}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := exec.Command(py, append(append([]string{script}, dirs...), filepath.Join(root, "control-perturbed"))...).CombinedOutput()
	t.Log("\n" + strings.TrimSpace(string(out)))
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("torch check: %v (want exit status 1 from the failing control)", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(dirs)+1 {
		t.Fatalf("torch check printed %d lines for %d checks", len(lines), len(dirs)+1)
	}
	for i, d := range dirs {
		if !strings.HasPrefix(lines[i], filepath.Base(d)+": ok:") {
			t.Errorf("%s: PyTorch disagrees: %s", filepath.Base(d), lines[i])
		}
	}
	if !strings.HasPrefix(lines[len(dirs)], "control-perturbed: FAIL") {
		t.Errorf("the perturbed control passed: %s", lines[len(dirs)])
	}
}

func maxAbs(d []float32) float64 {
	m := 0.0
	for _, v := range d {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}
