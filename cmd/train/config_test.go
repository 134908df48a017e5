package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallucinator/kernels/cpu"
	"hallucinator/nn"
	"hallucinator/ssl"
	"hallucinator/ssl/data"
)

func tinyRunArgs(dir string, epochs string) []string {
	return []string{"-device", "cpu", "-out", dir, "-train-subset", "64", "-test-subset", "32", "-batch", "16",
		"-epochs", epochs, "-max-steps", "2", "-width", "2", "-probe-epochs", "1", "-knn-k", "5", "-quiet", "-workers", "2"}
}

func needData(t *testing.T) {
	t.Helper()
	if _, err := data.LoadFashionMNIST(data.FashionMNISTDir(), false); err != nil {
		t.Skipf("Fashion-MNIST not available (make test installs it): %v", err)
	}
}

// TestConfigRoundTrip checks that -config reads back every setting of a
// run's config.json, that flags given beside it win, and that the new run
// does not take the old run's directory.
func TestConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	o, err := parseFlags([]string{"-framework", "mocov2", "-lr", "0.2", "-width", "4", "-seed", "7", "-out", filepath.Join(dir, "a"), "-color-jitter", "0"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	o.applyPreset(false)
	cfg := filepath.Join(dir, "config.json")
	if err := writeJSON(cfg, o); err != nil {
		t.Fatal(err)
	}
	back, err := parseFlags([]string{"-config", cfg}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	back.applyPreset(false)
	back.Out = o.Out
	a, _ := json.Marshal(o)
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Errorf("round trip:\n%s\n%s", a, b)
	}
	over, err := parseFlags([]string{"-config", cfg, "-lr", "0.05", "-hallucinate=false"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if over.LR != 0.05 || over.Hallucinate || over.Framework != "mocov2" || over.Width != 4 || over.Seed != 7 || over.Jitter != 0 || over.Out != "" {
		t.Errorf("-config with flags: %+v", over)
	}
	if _, err := parseFlags([]string{"-config", filepath.Join(dir, "none.json")}, os.Stderr); err == nil || !strings.Contains(err.Error(), "-config") {
		t.Errorf("missing config: %v", err)
	}
}

// TestResumeSettings checks that a resumed run refuses changed settings,
// naming each, and that -resume -epochs N extends a finished run: it trains
// the added epochs (the steps left following the schedule of the new
// count), writes the new count to config.json, and an extension interrupted
// and resumed ends with the same weights as one never stopped.
func TestResumeSettings(t *testing.T) {
	needData(t)
	ctx := context.Background()
	base := t.TempDir()
	run1 := filepath.Join(base, "one")
	var out bytes.Buffer
	if err := run(ctx, tinyRunArgs(run1, "1"), &out, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-lr", "0.9"}, "-lr 0.9 (the run's: 0.3) differ"},
		{[]string{"-framework", "simsiam", "-width", "3"}, "-framework simsiam (the run's: simclr), -width 3 (the run's: 2) differ"},
		{[]string{"-epochs", "0"}, "cannot be shortened"},
	} {
		err := run(ctx, append([]string{"-resume", run1, "-quiet"}, tc.args...), &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	// Flags that agree with the run are fine.
	if err := run(ctx, []string{"-resume", run1, "-quiet", "-width", "2", "-device", "cpu"}, &out, &out); err != nil {
		t.Fatalf("resume with agreeing flags: %v", err)
	}

	// Extend to 3 epochs straight, and in two legs (2, then 3).
	straight, legs := filepath.Join(base, "straight"), filepath.Join(base, "legs")
	for _, d := range []string{straight, legs} {
		if err := run(ctx, tinyRunArgs(d, "1"), &out, &out); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := run(ctx, []string{"-resume", straight, "-epochs", "3", "-quiet"}, &out, &out); err != nil {
		t.Fatalf("extend: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "extending the run from 1 to 3 epochs") || !strings.Contains(out.String(), "epoch 3: loss") {
		t.Errorf("extension output:\n%s", out.String())
	}
	// The other extension is interrupted after its first step, then
	// resumed without -epochs: config.json holds the new count.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := hooks{afterStep: func(s ssl.StepInfo) {
		if s.GlobalStep == 3 {
			cancel()
		}
	}}
	if err := runWith(cctx, []string{"-resume", legs, "-epochs", "3", "-quiet"}, &out, &out, stop); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted extension: %v", err)
	}
	if err := run(ctx, []string{"-resume", legs, "-quiet"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(straight, configFile))
	var cfg options
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg.Epochs != 3 || cfg.Resume != "" {
		t.Errorf("config.json after the extension: epochs %d, resume %q, %v", cfg.Epochs, cfg.Resume, err)
	}
	a, _, err := nn.ReadSafetensors(filepath.Join(straight, checkpointFile))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := nn.ReadSafetensors(filepath.Join(legs, checkpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%d and %d tensors", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(f32bytes(a[i].T.Data()), f32bytes(b[i].T.Data())) {
			t.Fatalf("tensor %s differs between the straight and the two-leg extension", a[i].Name)
		}
	}
}

func f32bytes(v []float32) []byte {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(v)
	return buf.Bytes()
}

// TestValidationSplit checks that -val holds images out of pre-training,
// that the monitor reads them, and that the summary gives the validation
// figures beside the test ones (and -probe-aug the augmented probe's).
func TestValidationSplit(t *testing.T) {
	needData(t)
	dir := t.TempDir()
	var out bytes.Buffer
	args := append(tinyRunArgs(dir, "1"), "-val", "48", "-eval-every", "1", "-epochs", "2", "-probe-aug")
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "validation (48 images held out of training)") {
		t.Errorf("output:\n%s", out.String())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, metricsFile))
	if !strings.Contains(string(raw), `"knn_split":"val"`) {
		t.Errorf("the monitor's record does not name the validation split:\n%s", raw)
	}
	var sum summary
	raw, _ = os.ReadFile(filepath.Join(dir, summaryFile))
	if err := json.Unmarshal(raw, &sum); err != nil || !(sum.ValKNN > 0) || !(sum.ValLinearLast > 0) || !(sum.KNN > 0) ||
		len(sum.LinearAugCurve) != 1 || !(sum.LinearAugLast > 0) {
		t.Errorf("summary %+v, %v", sum, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "embedding.png")); err != nil {
		t.Errorf("embedding.png: %v", err)
	}
}

// TestPaperPreset checks that -preset paper selects the released
// configuration (and that flags given beside it win), and that the
// framework it builds carries the released architecture.
func TestPaperPreset(t *testing.T) {
	o, err := parseFlags([]string{"-preset", "paper", "-framework", "mocov2"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	o.applyPreset(false)
	if o.Preset != "paper" || o.Queue != 65536 || o.KeyMomentum != 0.999 || o.WarmupEp != 0 || o.Temperature != 0.2 ||
		o.Width != 64 || o.Batch != 512 || o.Epochs != 500 || o.LR != 0.5 || o.MinScale != 0.2 || o.Jitter != 0.4 ||
		o.WeightDecay != 1e-4 || o.ProbeEpochs != 100 || o.AnchorCrop != "on" || !o.ProbeAug {
		t.Errorf("paper preset for MoCo v2: %+v", o)
	}
	o, err = parseFlags([]string{"-preset", "paper", "-framework", "mocov2", "-key-momentum", "0.99", "-warmup", "2"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	o.applyPreset(false)
	if o.KeyMomentum != 0.99 || o.WarmupEp != 2 {
		t.Errorf("flags beside the paper preset: key momentum %v, warm-up %v", o.KeyMomentum, o.WarmupEp)
	}
	if _, err := parseFlags([]string{"-preset", "paper", "-framework", "byol"}, os.Stderr); err == nil {
		t.Error("-preset paper -framework byol accepted")
	}
	// The architecture: SimCLR's projector without batch norm.
	o, err = parseFlags([]string{"-preset", "paper", "-framework", "simclr", "-width", "2", "-batch", "8"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	o.applyPreset(false)
	ds := &data.Dataset{N: 8, C: 1, H: 8, W: 8, Pixels: make([]uint8, 8*64), Labels: make([]int32, 8), NumClasses: 2}
	s := &data.Splits{Name: "fashion-mnist", Train: ds, Test: ds, Norm: data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}}
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	fw, _, err := build(be, o, s)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range fw.Params() {
		names = append(names, p.Name)
	}
	if all := strings.Join(names, " "); strings.Contains(all, "projector.1.weight") || !strings.Contains(all, "projector.0.bias") {
		t.Errorf("paper SimCLR's parameters: %s", all)
	}
}

// TestCompatAnchorCrop checks that -compat gives the anchor view the
// released crop placement, and that it is off otherwise.
func TestCompatAnchorCrop(t *testing.T) {
	ds := &data.Dataset{N: 16, C: 1, H: 8, W: 8, Pixels: make([]uint8, 16*64), Labels: make([]int32, 16), NumClasses: 2}
	s := &data.Splits{Name: "fashion-mnist", Train: ds, Test: ds, Norm: data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}},
		Anchor: data.AnchorBox{Lo: 0.25, Hi: 0.75, Alpha: 0.1}}
	be := cpu.New(cpu.Options{Threads: 1})
	defer be.Close()
	for _, compat := range []bool{false, true} {
		o, err := parseFlags([]string{"-framework", "simclr", "-width", "2", "-batch", "8", "-compat=" + fmt.Sprint(compat), "-anchor-crop", "on"}, os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		o.applyPreset(false)
		_, tr, err := build(be, o, s)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := tr.Cfg.Views[0].(*data.Pipeline)
		if !ok {
			t.Fatalf("anchor view %T", tr.Cfg.Views[0])
		}
		crop, ok := p.Transforms[0].(data.AnchorResizedCrop)
		if !ok || crop.Compat != compat {
			t.Errorf("-compat=%v: anchor crop %#v", compat, p.Transforms[0])
		}
	}
}

// TestTestSplitReadOnce fails if the monitor or anything else before the
// final evaluation reads the test split of a run with a validation split:
// the monitor reads the validation images, and the test split is read
// once, last.
func TestTestSplitReadOnce(t *testing.T) {
	needData(t)
	var splits []string
	h := hooks{evaluated: func(split string) { splits = append(splits, split) }}
	var out bytes.Buffer
	args := append(tinyRunArgs(t.TempDir(), "1"), "-val", "32", "-eval-every", "1", "-epochs", "3")
	if err := runWith(context.Background(), args, &out, &out, h); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	want := []string{"val", "val", "val", "test"} // the monitor after epochs 1 and 2, then the final evaluation
	if strings.Join(splits, " ") != strings.Join(want, " ") {
		t.Errorf("evaluations read %v, want %v", splits, want)
	}
}
