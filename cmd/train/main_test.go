package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hallucinator/kernels/cpu"
	"hallucinator/ssl/data"
)

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-framework", "barlowtwins"}, `-framework "barlowtwins": want simclr`},
		{[]string{"-device", "tpu"}, `-device "tpu"`},
		{[]string{"-preset", "tpu"}, `-preset "tpu"`},
		{[]string{"-knn-ks", "0,5"}, "-knn-ks"},
		{[]string{"-knn-ks", "5;20"}, "-knn-ks"},
		{[]string{"-batch", "1"}, "-batch"},
		{[]string{"-depth", "50"}, "-depth"},
		{[]string{"-momentum", "1.5"}, "-momentum"},
		{[]string{"-anchor-crop", "maybe"}, "-anchor-crop"},
		{[]string{"-stem", "resnet"}, "-stem"},
		{[]string{"-color-jitter", "1.5"}, "-color-jitter"},
		{[]string{"-shuffle-bn", "-2"}, "-shuffle-bn"},
		{[]string{"-proj-hidden", "-1"}, "-proj-hidden"},
		{[]string{"-pred-hidden", "-8"}, "-pred-hidden"},
		{[]string{"-dataset", "imagenet-22k"}, `-dataset "imagenet-22k": unknown data set "imagenet-22k" (want fashion-mnist, mnist, cifar10`},
		{[]string{"-dataset", "cifar10"}, "-dataset cifar10 needs -data DIR"},
		{[]string{"extra"}, "extra"},
	} {
		var stderr bytes.Buffer
		out := filepath.Join(t.TempDir(), "run")
		err := run(context.Background(), append([]string{"-out", out}, tc.args...), &stderr, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("%v: %v (stderr %q), want an error containing %q", tc.args, err, stderr.String(), tc.want)
		}
		// Bad flags are refused before the run directory is made.
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: the run directory was created", tc.args)
		}
	}
}

// TestViewJitter checks that the jitter strength -color-jitter passes sets
// the views' jitter and 0 removes it, leaving the other transforms in order.
func TestViewJitter(t *testing.T) {
	norm := data.Normalize{Mean: []float64{0.5}, Std: []float64{0.2}}
	for _, s := range []float64{0, 0.2, 0.4} {
		p := data.ViewWithJitter(data.NewRandomResizedCrop(28, [2]float64{0.8, 1}), 28, norm, false, s)
		var jitters []data.ColorJitter
		for _, tr := range p.Transforms {
			if ra, ok := tr.(data.RandomApply); ok {
				if cj, ok := ra.T.(data.ColorJitter); ok {
					jitters = append(jitters, cj)
				}
			}
		}
		want := 5 // crop, flip, jitter, grayscale, normalise
		if s == 0 {
			want = 4
		}
		if len(p.Transforms) != want {
			t.Errorf("jitter %v: %d transforms, want %d", s, len(p.Transforms), want)
		}
		if _, ok := p.Transforms[len(p.Transforms)-1].(data.Normalize); !ok {
			t.Errorf("jitter %v: the last transform is %T, want the normalisation", s, p.Transforms[len(p.Transforms)-1])
		}
		if s == 0 && len(jitters) != 0 || s > 0 && (len(jitters) != 1 || jitters[0] != data.ColorJitter{Brightness: s, Contrast: s, Saturation: s, Hue: s / 4}) {
			t.Errorf("jitter %v: %+v", s, jitters)
		}
	}
}

// TestPresets checks the sizes and temperatures the CPU and GPU presets
// choose, and that explicit flags win over them.
func TestPresets(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		gpu           bool
		width, epochs int
		temperature   float64
	}{
		{args: []string{"-framework", "simclr"}, width: 8, epochs: 6, temperature: 0.2},
		{args: []string{"-framework", "simclr"}, gpu: true, width: 64, epochs: 500, temperature: 0},
		{args: []string{"-framework", "mocov2"}, width: 8, epochs: 8, temperature: 0.1},
		{args: []string{"-framework", "mocov1"}, gpu: true, width: 64, epochs: 500, temperature: 0},
		{args: []string{"-framework", "simsiam"}, width: 8, epochs: 6, temperature: 0},
		{args: []string{"-framework", "byol"}, width: 8, epochs: 6, temperature: 0},
		{args: []string{"-framework", "byol"}, gpu: true, width: 64, epochs: 500, temperature: 0},
		{args: []string{"-framework", "simclr", "-temperature", "0.5", "-width", "16", "-epochs", "3"}, width: 16, epochs: 3, temperature: 0.5},
		{args: []string{"-framework", "mocov2", "-preset", "cpu"}, gpu: true, width: 8, epochs: 8, temperature: 0.1},
		{args: []string{"-framework", "simclr", "-preset", "gpu"}, width: 64, epochs: 500, temperature: 0},
	} {
		var stderr bytes.Buffer
		o, err := parseFlags(tc.args, &stderr)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		o.applyPreset(tc.gpu)
		if o.Width != tc.width || o.Epochs != tc.epochs || o.Temperature != tc.temperature {
			t.Errorf("%v (gpu %v): width %d, %d epochs, temperature %v; want %d, %d, %v",
				tc.args, tc.gpu, o.Width, o.Epochs, o.Temperature, tc.width, tc.epochs, tc.temperature)
		}
		scale, jitter := 0.9, 0.6
		switch {
		case o.Width == 64: // the paper's protocol
			scale, jitter = 0.2, 0.4
		case tc.args[1] == "simsiam" || tc.args[1] == "byol":
			scale, jitter = 0.5, 0.8
		case tc.args[1] == "simclr":
			jitter = 0.8
		}
		anchor := "on" // auto with the Hallucinator, resolved
		if (tc.args[1] == "simsiam" || tc.args[1] == "byol") && o.Width != 64 {
			anchor = "off"
		}
		if o.AnchorCrop != anchor {
			t.Errorf("%v (gpu %v): anchor crop %q, want %q", tc.args, tc.gpu, o.AnchorCrop, anchor)
		}
		if o.MinScale != scale || o.Jitter != jitter {
			t.Errorf("%v (gpu %v): crops from %v, jitter %v; want %v, %v", tc.args, tc.gpu, o.MinScale, o.Jitter, scale, jitter)
		}
	}
}

// TestWarmupPreset checks the warm-up each preset gives: a whole epoch for
// MoCo with the Hallucinator on a CPU, 0.2 epochs for the other CPU runs,
// the paper's 10 on a GPU, and what -warmup says when given.
func TestWarmupPreset(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		gpu    bool
		warmup float64
	}{
		{[]string{"-framework", "mocov1"}, false, 1},
		{[]string{"-framework", "mocov2"}, false, 1},
		{[]string{"-framework", "mocov2", "-hallucinate=false"}, false, 0.2},
		{[]string{"-framework", "simclr"}, false, 0.2},
		{[]string{"-framework", "simsiam"}, false, 0.2},
		{[]string{"-framework", "byol"}, false, 0.2},
		{[]string{"-framework", "mocov2"}, true, 10},
		{[]string{"-framework", "mocov2", "-warmup", "0.5"}, false, 0.5},
		{[]string{"-framework", "simclr", "-warmup", "0"}, false, 0},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		o.applyPreset(tc.gpu)
		if o.WarmupEp != tc.warmup {
			t.Errorf("%v (gpu %v): warm-up %v epochs, want %v", tc.args, tc.gpu, o.WarmupEp, tc.warmup)
		}
	}
}

func TestResumeMissingRun(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-resume", filepath.Join(t.TempDir(), "nothing")}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("resume of a missing run: %v", err)
	}
}

// TestTinyRun trains a tiny model for a few steps on Fashion-MNIST and checks
// the files a run writes, then resumes it to one more epoch.
func TestTinyRun(t *testing.T) {
	if _, err := data.LoadFashionMNIST(data.FashionMNISTDir(), false); err != nil {
		t.Skipf("Fashion-MNIST not available (make test installs it): %v", err)
	}
	dir := t.TempDir()
	args := []string{"-device", "cpu", "-out", dir, "-train-subset", "96", "-test-subset", "64", "-batch", "16",
		"-epochs", "2", "-eval-every", "1", "-max-steps", "3", "-width", "2", "-probe-epochs", "2", "-knn-k", "5", "-knn-ks", "1, 3", "-quiet"}
	// A stale error of an earlier attempt goes when the run starts.
	if err := os.WriteFile(filepath.Join(dir, errorFile), []byte("train: stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, errorFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after a run that ended well: %v", errorFile, err)
	}
	for _, f := range []string{configFile, metricsFile, checkpointFile, summaryFile, "loss.png", "accuracy.png", "similarity.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	var sum summary
	raw, _ := os.ReadFile(filepath.Join(dir, summaryFile))
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.KNN <= 0 || sum.KNN > 1 || len(sum.LinearCurve) != 2 || !sum.Hallucinate ||
		!(sum.EffectiveRank >= 1 && sum.EffectiveRank <= 16) { // width 2: 16 features
		t.Fatalf("summary %+v", sum)
	}
	for _, m := range []map[string]float64{sum.KNNByK, sum.KNNRawPixelsByK} {
		if len(m) != 2 || !(m["1"] > 0 && m["1"] <= 1) || !(m["3"] > 0 && m["3"] <= 1) {
			t.Fatalf("kNN by k: %v, %v", sum.KNNByK, sum.KNNRawPixelsByK)
		}
	}
	// The monitor after epoch 1 (not after the last: the final evaluation
	// follows) logs kNN accuracy and effective rank.
	metrics, _ := os.ReadFile(filepath.Join(dir, metricsFile))
	monitored := 0
	for _, line := range strings.Split(strings.TrimSpace(string(metrics)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		if rec["type"] == "epoch" && rec["knn"] != nil {
			monitored++
			if r, _ := rec["effective_rank"].(float64); !(r >= 1 && r <= 16) || rec["epoch"] != 1.0 {
				t.Errorf("monitor record %v", rec)
			}
		}
	}
	if monitored != 1 {
		t.Errorf("%d monitor records, want 1:\n%s", monitored, metrics)
	}
	if !strings.Contains(out.String(), "kNN by k (raw pixels): 1: ") {
		t.Errorf("no kNN-by-k line in\n%s", out.String())
	}
	// Evaluating the finished run again, with more neighbour counts, keeps
	// its pre-training time.
	out.Reset()
	if err := run(context.Background(), []string{"-resume", dir, "-device", "cpu", "-quiet", "-knn-ks", "2"}, &out, &out); err != nil {
		t.Fatalf("evaluating again: %v\n%s", err, out.String())
	}
	var again summary
	raw, _ = os.ReadFile(filepath.Join(dir, summaryFile))
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatal(err)
	}
	if again.PretrainSeconds != sum.PretrainSeconds || len(again.KNNByK) != 1 || again.KNN != sum.KNN {
		t.Fatalf("evaluated again: %+v, first %+v", again, sum)
	}
	// Continue the finished run to a second epoch by editing its config.
	var cfg map[string]any
	raw, _ = os.ReadFile(filepath.Join(dir, configFile))
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["epochs"] = 3
	raw, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, configFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"-resume", dir, "-device", "cpu", "-quiet"}, &out, &out); err != nil {
		t.Fatalf("resume: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "resumed at epoch 3 step 0") {
		t.Fatalf("resume output:\n%s", out.String())
	}
}

// TestErrorKeptInRunDirectory checks that a failed run leaves its error in
// the run directory, and that a later failure replaces it (TestTinyRun: a
// run that ends well removes it).
func TestErrorKeptInRunDirectory(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	var buf bytes.Buffer
	err := run(context.Background(), []string{"-device", "cpu", "-data", t.TempDir(), "-out", out, "-quiet"}, &buf, &buf)
	if err == nil {
		t.Fatal("a run on an empty data directory succeeded")
	}
	got, rerr := os.ReadFile(filepath.Join(out, errorFile))
	if rerr != nil {
		t.Fatalf("no %s after a failed run: %v", errorFile, rerr)
	}
	if want := "train: " + err.Error() + "\n"; string(got) != want {
		t.Fatalf("%s holds %q, want %q", errorFile, got, want)
	}
	// A second failure replaces it.
	if err := run(context.Background(), []string{"-device", "cpu", "-data", filepath.Join(t.TempDir(), "none"), "-out", out, "-quiet"}, &buf, &buf); err == nil {
		t.Fatal("a run on a missing data directory succeeded")
	} else if got, _ := os.ReadFile(filepath.Join(out, errorFile)); !strings.Contains(string(got), "none") {
		t.Fatalf("%s after the second failure: %q", errorFile, got)
	}
}

// TestHeadWidths checks that -proj-hidden, -proj-dim and -pred-hidden size
// the heads each framework builds, and that 0 keeps the framework's.
func TestHeadWidths(t *testing.T) {
	ds := &data.Dataset{N: 8, C: 1, H: 8, W: 8, Pixels: make([]uint8, 8*64), Labels: make([]int32, 8), NumClasses: 2}
	s := &data.Splits{Name: "fashion-mnist", Train: ds, Test: ds, Norm: data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}}
	for _, tc := range []struct {
		framework string
		flags     []string
		want      map[string][]int // parameter name suffix: shape
	}{
		{"simclr", nil, map[string][]int{"projector.0.weight": {512, 16}, "projector.3.weight": {128, 512}}},
		{"simclr", []string{"-proj-hidden", "48", "-proj-dim", "24"}, map[string][]int{"projector.0.weight": {48, 16}, "projector.3.weight": {24, 48}, "hallucinator.4.weight": {24, 48}}},
		{"mocov2", []string{"-proj-hidden", "40", "-proj-dim", "12"}, map[string][]int{"head_q.0.weight": {40, 16}, "head_q.2.weight": {12, 40}}},
		{"simsiam", []string{"-proj-hidden", "36", "-proj-dim", "20", "-pred-hidden", "6"},
			map[string][]int{"projector.0.weight": {36, 16}, "projector.3.weight": {36, 36}, "projector.6.weight": {20, 36}, "predictor.0.weight": {6, 20}, "predictor.3.weight": {20, 6}}},
		{"byol", nil, map[string][]int{"projector.0.weight": {512, 16}, "projector.3.weight": {128, 512}, "predictor.0.weight": {512, 128}, "predictor.3.weight": {128, 512}}},
		{"byol", []string{"-proj-hidden", "36", "-proj-dim", "20", "-pred-hidden", "6"},
			map[string][]int{"projector.0.weight": {36, 16}, "projector.3.weight": {20, 36}, "predictor.0.weight": {6, 20}, "predictor.3.weight": {20, 6}, "hallucinator.4.weight": {20, 40}}},
	} {
		var stderr bytes.Buffer
		args := append([]string{"-framework", tc.framework, "-width", "2", "-batch", "4", "-shuffle-bn", "2", "-queue", "8"}, tc.flags...)
		o, err := parseFlags(args, &stderr)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		o.applyPreset(false)
		fw, _, err := build(cpu.New(cpu.Options{}), o, s)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		got := map[string][]int{}
		for _, p := range fw.Params() {
			got[p.Name] = p.V.Shape()
		}
		for name, shape := range tc.want {
			if !slices.Equal(got[name], shape) {
				t.Errorf("%v: %s has shape %v, want %v", args, name, got[name], shape)
			}
		}
	}
}
