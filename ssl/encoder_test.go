package ssl

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"hallucinator/kernels"
	"hallucinator/kernels/cpu"
	"hallucinator/nn"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

var tinyNorm = data.Normalize{Mean: []float64{0.5}, Std: []float64{0.25}}

// trainedCheckpoint trains a tiny framework for one step on be, saves it in
// a temporary directory as cmd/train does and returns the framework and
// the checkpoint's path.
func trainedCheckpoint(t *testing.T, be kernels.Backend, fw string, width int) (Framework, string) {
	t.Helper()
	c := tinyConfig(fw, true)
	c.Width = width
	f, err := New(be, tensor.NewRand(4), c)
	if err != nil {
		t.Fatal(err)
	}
	tc := tinyTrainConfig()
	tc.Epochs, tc.MaxSteps, tc.Norm = 2, 1, tinyNorm
	tr, err := NewTrainer(be, f, twoViewData(16), tc)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.RunEpoch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "checkpoint.safetensors")
	cfg := `{"framework":"` + fw + `","dataset":"fashion-mnist","width":` + itoa(width) + `,"depth":18,"stem":"auto"}`
	if err := tr.Save(path, map[string]string{"config": cfg}); err != nil {
		t.Fatal(err)
	}
	return f, path
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// grayImages returns n 12x12 gray images.
func grayImages(n int) []image.Image {
	ds := twoViewData(n)
	out := make([]image.Image, n)
	for i := range out {
		g := image.NewGray(image.Rect(0, 0, 12, 12))
		copy(g.Pix, ds.Pixels[i*144:(i+1)*144])
		out[i] = g
	}
	return out
}

func TestCheckpointDescribesEncoder(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 1})
	for _, fw := range []string{"simclr", "mocov2"} {
		_, path := trainedCheckpoint(t, be, fw, 2)
		_, meta, err := nn.ReadSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		var info EncoderInfo
		if err := json.Unmarshal([]byte(meta[MetaEncoder]), &info); err != nil {
			t.Fatalf("%s: %v in %q", fw, err, meta[MetaEncoder])
		}
		prefix := "encoder."
		if fw == "mocov2" {
			prefix = "encoder_q."
		}
		want := EncoderInfo{Arch: "resnet18", Depth: 18, Width: 2, Stem: "cifar", InChannels: 1, Features: 16, ImageSize: 12,
			Norm: &NormInfo{Mean: []float64{0.5}, Std: []float64{0.25}}, Prefix: prefix, Framework: fw}
		got, _ := json.Marshal(info)
		exp, _ := json.Marshal(want)
		if string(got) != string(exp) {
			t.Errorf("%s: encoder metadata\n%s, want\n%s", fw, got, exp)
		}
	}
}

// TestLoadEncoderMatchesModel checks that the loaded encoder gives the
// trained model's features, bit for bit, for both encoder prefixes.
func TestLoadEncoderMatchesModel(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 1})
	for _, fw := range []string{"simclr", "mocov2"} {
		f, path := trainedCheckpoint(t, be, fw, 2)
		enc, err := LoadEncoder(path, be)
		if err != nil {
			t.Fatal(err)
		}
		imgs := grayImages(6)
		x, err := enc.Batch(imgs)
		if err != nil {
			t.Fatal(err)
		}
		want, err := EmbedBatch(be, f.Encoder(), x)
		if err != nil {
			t.Fatal(err)
		}
		got, err := enc.Embed(context.Background(), imgs)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Data(), want.Data()) || !slices.Equal(got.Shape(), []int{6, 16}) {
			t.Errorf("%s: loaded encoder's features differ from the model's", fw)
		}
		// EmbedDataset reads the same pixels.
		ds := twoViewData(6)
		fd, err := enc.EmbedDataset(context.Background(), ds)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(fd.Data(), want.Data()) {
			t.Errorf("%s: EmbedDataset differs from Embed", fw)
		}
	}
}

// TestEncoderConcurrent embeds from 32 goroutines at once and checks every
// result against the same call made alone (run it with -race).
func TestEncoderConcurrent(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 2})
	_, path := trainedCheckpoint(t, be, "simclr", 4)
	enc, err := LoadEncoder(path, be)
	if err != nil {
		t.Fatal(err)
	}
	imgs := grayImages(34)
	serial := make([][]float32, 32)
	for i := range serial {
		f, err := enc.Embed(context.Background(), imgs[i:i+1+i%3])
		if err != nil {
			t.Fatal(err)
		}
		serial[i] = f.Data()
	}
	var wg sync.WaitGroup
	got := make([][]float32, 32)
	errs := make([]error, 32)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := enc.Embed(context.Background(), imgs[i:i+1+i%3])
			if err == nil {
				got[i] = f.Data()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !slices.Equal(got[i], serial[i]) {
			t.Errorf("goroutine %d: features differ from the serial call", i)
		}
	}
}

// torchvisionResNet18 is the state_dict of torchvision.models.resnet18()
// without fc, with its shapes: list(m.state_dict().items()).
var torchvisionResNet18 = func() [][2]string {
	bn := func(p string, c string) [][2]string {
		return [][2]string{{p + ".weight", c}, {p + ".bias", c}, {p + ".running_mean", c}, {p + ".running_var", c}, {p + ".num_batches_tracked", ""}}
	}
	out := [][2]string{{"conv1.weight", "64,3,7,7"}}
	out = append(out, bn("bn1", "64")...)
	for _, l := range []struct {
		name    string
		in, out string
		down    bool
	}{{"layer1", "64", "64", false}, {"layer2", "64", "128", true}, {"layer3", "128", "256", true}, {"layer4", "256", "512", true}} {
		for b := 0; b < 2; b++ {
			p := l.name + "." + itoa(b)
			in := l.in
			if b == 1 {
				in = l.out
			}
			out = append(out, [2]string{p + ".conv1.weight", l.out + "," + in + ",3,3"})
			out = append(out, bn(p+".bn1", l.out)...)
			out = append(out, [2]string{p + ".conv2.weight", l.out + "," + l.out + ",3,3"})
			out = append(out, bn(p+".bn2", l.out)...)
			if b == 0 && l.down {
				out = append(out, [2]string{p + ".downsample.0.weight", l.out + "," + l.in + ",1,1"})
				out = append(out, bn(p+".downsample.1", l.out)...)
			}
		}
	}
	return out
}()

// TestExportTorchvisionNames exports a ResNet-18 of torchvision's shape and
// compares its names and shapes with torchvision's state_dict.
func TestExportTorchvisionNames(t *testing.T) {
	if len(torchvisionResNet18) != 120 {
		t.Fatalf("%d expected keys, torchvision's resnet18 has 120 without fc", len(torchvisionResNet18))
	}
	// The first keys as torchvision lists them, to check the list above.
	head := []string{"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
		"layer1.0.conv1.weight", "layer1.0.bn1.weight"}
	for i, n := range head {
		if torchvisionResNet18[i][0] != n {
			t.Fatalf("key %d is %s, want %s", i, torchvisionResNet18[i][0], n)
		}
	}
	be := cpu.New(cpu.Options{Threads: 1})
	net, err := nn.NewResNet18(be, tensor.NewRand(1), nn.ResNetConfig{Stem: nn.StemImageNet})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := nn.StateTensors(net)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		ts[i].Name = "encoder." + ts[i].Name
	}
	info, _ := json.Marshal(encoderInfo(net, "encoder.", 224, data.Normalize{Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}}))
	dir := t.TempDir()
	src, out := filepath.Join(dir, "ckpt.safetensors"), filepath.Join(dir, "encoder.safetensors")
	if err := nn.WriteSafetensors(src, ts, map[string]string{MetaEncoder: string(info)}); err != nil {
		t.Fatal(err)
	}
	if err := ExportEncoder(src, out); err != nil {
		t.Fatal(err)
	}
	got, meta, err := nn.ReadSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(torchvisionResNet18) {
		t.Fatalf("%d tensors exported, want %d", len(got), len(torchvisionResNet18))
	}
	for i, w := range torchvisionResNet18 {
		shape := strings.ReplaceAll(itoaShape(got[i].T.Shape()), " ", ",")
		if got[i].Name != w[0] || shape != w[1] {
			t.Errorf("tensor %d: %s %s, want %s %s", i, got[i].Name, shape, w[0], w[1])
		}
		if strings.HasSuffix(w[0], "num_batches_tracked") && got[i].DType != "I64" {
			t.Errorf("%s stored as %s, want I64", w[0], got[i].DType)
		}
	}
	var ei EncoderInfo
	if err := json.Unmarshal([]byte(meta[MetaEncoder]), &ei); err != nil || ei.Prefix != "" || ei.Stem != "imagenet" || meta["format"] != "pt" {
		t.Errorf("exported metadata %v (%v)", meta, err)
	}
}

func itoaShape(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = itoa(v)
	}
	return strings.Join(parts, " ")
}

// TestExportEncoderRoundTrip checks that an exported encoder gives the
// trained model's features bit for bit.
func TestExportEncoderRoundTrip(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 1})
	f, path := trainedCheckpoint(t, be, "mocov2", 2)
	out := filepath.Join(t.TempDir(), "encoder.safetensors")
	if err := ExportEncoder(path, out); err != nil {
		t.Fatal(err)
	}
	enc, err := LoadEncoder(out, be)
	if err != nil {
		t.Fatal(err)
	}
	x, err := enc.Batch(grayImages(5))
	if err != nil {
		t.Fatal(err)
	}
	got, err := enc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	want, err := EmbedBatch(be, f.Encoder(), x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Data(), want.Data()) {
		t.Error("exported encoder's features differ from the model's")
	}
	if enc.Info.Framework != "mocov2" || enc.Info.Dataset != "fashion-mnist" {
		t.Errorf("exported encoder from %q on %q", enc.Info.Framework, enc.Info.Dataset)
	}
	// It holds exactly the ResNet's state: nn loads it as it is.
	net, err := nn.NewResNet18(be, tensor.NewRand(9), nn.ResNetConfig{Width: 2, Stem: nn.StemCIFAR, InChannels: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nn.LoadSafetensors(out, net); err != nil {
		t.Errorf("nn.LoadSafetensors of the exported encoder: %v", err)
	}
	// The exported file exports again to the same tensors.
	again := filepath.Join(t.TempDir(), "again.safetensors")
	if err := ExportEncoder(out, again); err != nil {
		t.Fatal(err)
	}
	a, _, _ := nn.ReadSafetensors(out)
	b, _, _ := nn.ReadSafetensors(again)
	if !equalState(a, b) {
		t.Error("exporting an exported encoder changed it")
	}
}

// rewrite writes the tensors of src to a new file, with its metadata
// changed by edit and its tensors by editT (either may be nil).
func rewrite(t *testing.T, src string, edit func(map[string]string), editT func([]nn.NamedTensor)) string {
	t.Helper()
	ts, meta, err := nn.ReadSafetensors(src)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(meta)
	}
	if editT != nil {
		editT(ts)
	}
	out := filepath.Join(t.TempDir(), "edited.safetensors")
	if err := nn.WriteSafetensors(out, ts, meta); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLoadEncoderOldCheckpoints reads checkpoints that predate the
// encoder metadata, and checks that they still resume.
func TestLoadEncoderOldCheckpoints(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 1})
	f, path := trainedCheckpoint(t, be, "simclr", 2)
	old := rewrite(t, path, func(m map[string]string) { delete(m, MetaEncoder) }, nil)
	enc, err := LoadEncoder(old, be)
	if err != nil {
		t.Fatal(err)
	}
	fm, _ := data.NormalizeFor("fashion-mnist")
	if enc.Info.Stem != "cifar" || enc.Info.ImageSize != 28 || enc.Info.Width != 2 || enc.Info.InChannels != 1 ||
		!slices.Equal(enc.Norm.Mean, fm.Mean) {
		t.Errorf("old checkpoint read as %+v", enc.Info)
	}
	// It resumes as before.
	tr, err := NewTrainer(be, f, twoViewData(16), tinyTrainConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Load(old); err != nil {
		t.Errorf("resuming from a checkpoint without %q: %v", MetaEncoder, err)
	}
	if _, err := tr.Load(path); err != nil {
		t.Errorf("resuming from a checkpoint with %q: %v", MetaEncoder, err)
	}

	for _, tc := range []struct {
		name string
		edit func(map[string]string)
		want []string
	}{
		{"no metadata", func(m map[string]string) { delete(m, MetaEncoder); delete(m, "config") }, []string{"no \"encoder\" metadata", "config"}},
		{"folder", func(m map[string]string) {
			delete(m, MetaEncoder)
			m["config"] = `{"dataset":"folder","width":2,"depth":18,"stem":"auto"}`
		}, []string{"normalisation", "folder"}},
		{"unknown arch", func(m map[string]string) {
			m[MetaEncoder] = strings.Replace(m[MetaEncoder], `"depth":18`, `"depth":50`, 1)
		}, []string{"depth 50"}},
		{"shape", func(m map[string]string) {
			m[MetaEncoder] = strings.Replace(strings.Replace(m[MetaEncoder], `"width":2`, `"width":3`, 1), `"features":16`, `"features":24`, 1)
		}, []string{"shape", "encoder.conv1.weight"[8:]}},
	} {
		p := rewrite(t, path, tc.edit, nil)
		_, err := LoadEncoder(p, be)
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		for _, w := range append(tc.want, p) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}
	nan := rewrite(t, path, nil, func(ts []nn.NamedTensor) {
		for _, x := range ts {
			if x.Name == "encoder.layer2.0.conv1.weight" {
				x.T.Data()[3] = float32(math.NaN())
			}
		}
	})
	if _, err := LoadEncoder(nan, be); err == nil || !strings.Contains(err.Error(), nan) || !strings.Contains(err.Error(), "layer2.0.conv1.weight") || !strings.Contains(err.Error(), "non-finite") {
		t.Errorf("NaN weight: %v", err)
	}
}

// TestEncoderBatch checks the conversion of images of other sizes and
// color models.
func TestEncoderBatch(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 1})
	net, err := nn.NewResNet18(be, tensor.NewRand(1), nn.ResNetConfig{Width: 2, Stem: nn.StemCIFAR})
	if err != nil {
		t.Fatal(err)
	}
	norm := data.Normalize{Mean: []float64{0.5, 0.25, 0}, Std: []float64{0.5, 0.5, 1}}
	enc := &Encoder{Info: encoderInfo(net, "", 8, norm), Net: net, Norm: norm, be: be}
	// A uniform RGBA image of another size and aspect keeps its color.
	rgba := image.NewRGBA(image.Rect(3, 5, 3+20, 5+13))
	for y := 5; y < 18; y++ {
		for x := 3; x < 23; x++ {
			rgba.Set(x, y, color.RGBA{R: 255, G: 128, B: 0, A: 255})
		}
	}
	x, err := enc.Batch([]image.Image{rgba})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Shape(), []int{1, 3, 8, 8}) {
		t.Fatalf("batch of shape %v", x.Shape())
	}
	want := []float32{(1 - 0.5) / 0.5, (128.0/255 - 0.25) / 0.5, 0}
	for c := 0; c < 3; c++ {
		for _, v := range x.Data()[c*64 : (c+1)*64] {
			if math.Abs(float64(v-want[c])) > 1e-5 {
				t.Fatalf("channel %d holds %v, want %v", c, v, want[c])
			}
		}
	}
	// A 1-channel encoder reads the luma of an RGB image.
	gnet, _ := nn.NewResNet18(be, tensor.NewRand(1), nn.ResNetConfig{Width: 2, Stem: nn.StemCIFAR, InChannels: 1})
	gn := data.Normalize{Mean: []float64{0}, Std: []float64{1}}
	genc := &Encoder{Info: encoderInfo(gnet, "", 8, gn), Net: gnet, Norm: gn, be: be}
	g, err := genc.Batch([]image.Image{rgba})
	if err != nil {
		t.Fatal(err)
	}
	luma := float32(math.Round(0.299*255+0.587*128)) / 255
	if v := g.Data()[10]; math.Abs(float64(v-luma)) > 1e-5 {
		t.Errorf("gray value %v, want %v", v, luma)
	}
	// The central window survives the crop: a left half black, right
	// half white image 16 wide and 8 high keeps its middle column split.
	half := image.NewGray(image.Rect(0, 0, 16, 8))
	for y := 0; y < 8; y++ {
		for x := 8; x < 16; x++ {
			half.Pix[y*16+x] = 255
		}
	}
	h, _ := genc.Batch([]image.Image{half})
	row := h.Data()[:8]
	if row[0] != 0 || row[7] != 1 || !(row[3] < row[4]) {
		t.Errorf("center crop row %v", row)
	}
	if _, err := genc.Batch([]image.Image{image.NewGray(image.Rect(0, 0, 0, 0))}); err == nil {
		t.Error("an empty image was accepted")
	}
}
