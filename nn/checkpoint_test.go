package nn

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"hallucinator/autograd"
	"hallucinator/kernels/cpu/ref"
	"hallucinator/tensor"
)

// smallTrained returns a small CIFAR-stem ResNet-18 after a few training
// steps (non-trivial parameters and batch-norm statistics).
func smallTrained(t *testing.T, seed uint64, width int) *ResNet {
	t.Helper()
	b := ref.New()
	m, err := NewResNet18(b, tensor.NewRand(seed), ResNetConfig{Width: width, Stem: StemCIFAR, NumClasses: 5})
	if err != nil {
		t.Fatal(err)
	}
	trainSteps(b, m, 2, []int{4, 3, 6, 6}, seed+100)
	return m
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	a := smallTrained(t, 1, 3)
	if err := SaveSafetensors(path, a, map[string]string{"epoch": "7", "note": "round trip"}); err != nil {
		t.Fatal(err)
	}
	b, err := NewResNet18(ref.New(), tensor.NewRand(99), ResNetConfig{Width: 3, Stem: StemCIFAR, NumClasses: 5})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := LoadSafetensors(path, b)
	if err != nil {
		t.Fatal(err)
	}
	if meta["epoch"] != "7" || meta["note"] != "round trip" || meta["format"] != "pt" {
		t.Fatalf("metadata %v", meta)
	}
	for i, p := range a.Params() {
		if !bytes.Equal(f32bytes(p.V.Value), f32bytes(b.Params()[i].V.Value)) {
			t.Fatalf("param %s differs after the round trip", p.Name)
		}
	}
	for i, bf := range a.Buffers() {
		if !bytes.Equal(f32bytes(bf.T), f32bytes(b.Buffers()[i].T)) {
			t.Fatalf("buffer %s differs after the round trip", bf.Name)
		}
	}
	if got := b.BN1.NumBatchesTracked.Data()[0]; got != 2 {
		t.Fatalf("num_batches_tracked %g, want 2", got)
	}
	// Same eval-mode outputs.
	a.SetTraining(false)
	b.SetTraining(false)
	x := constVar(randT(tensor.NewRand(5), 1, 2, 3, 6, 6))
	ya := a.Forward(autograd.NewTape(ref.New()), x).Value
	yb := b.Forward(autograd.NewTape(ref.New()), x).Value
	if !bytes.Equal(f32bytes(ya), f32bytes(yb)) {
		t.Fatal("outputs differ after the round trip")
	}
	// The counters are I64 scalars, everything else F32, as torch writes.
	ts, _, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, nt := range ts {
		wantDT := "F32"
		if strings.HasSuffix(nt.Name, "num_batches_tracked") {
			wantDT = "I64"
			if nt.T.Dims() != 0 {
				t.Errorf("%s has shape %v, want a scalar", nt.Name, nt.T.Shape())
			}
		}
		if nt.DType != wantDT {
			t.Errorf("%s stored as %s, want %s", nt.Name, nt.DType, wantDT)
		}
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after saving, want 1", len(entries))
	}
}

func f32bytes(t *tensor.Tensor) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, t.Contiguous().Data())
	return buf.Bytes()
}

func TestSafetensorsLayout(t *testing.T) {
	// The exact bytes of a small file: 8-byte length, padded JSON, data.
	path := filepath.Join(t.TempDir(), "x.safetensors")
	a := tensor.FromSlice([]float32{1.5, -2, 3.25, 0.125, 7, -8}, 2, 3)
	c := tensor.FromSlice([]float32{-3}, 1)
	n := tensor.Full(41)
	err := WriteSafetensors(path, []NamedTensor{{Name: "a", T: a}, {Name: "n", DType: "I64", T: n}, {Name: "c", T: c}}, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hlen := binary.LittleEndian.Uint64(raw)
	if hlen%8 != 0 {
		t.Fatalf("header length %d is not a multiple of 8", hlen)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+hlen], &hdr); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a":            `{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}`,
		"n":            `{"dtype":"I64","shape":[],"data_offsets":[24,32]}`,
		"c":            `{"dtype":"F32","shape":[1],"data_offsets":[32,36]}`,
		"__metadata__": `{"k":"v"}`,
	}
	for k, v := range want {
		if string(hdr[k]) != v {
			t.Errorf("header[%q] = %s, want %s", k, hdr[k], v)
		}
	}
	data := raw[8+hlen:]
	if len(data) != 36 {
		t.Fatalf("%d data bytes, want 36", len(data))
	}
	if got := int64(binary.LittleEndian.Uint64(data[24:])); got != 41 {
		t.Fatalf("I64 value %d, want 41", got)
	}
	ts, meta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["k"] != "v" || len(ts) != 3 || ts[0].Name != "a" || ts[1].Name != "n" || ts[2].Name != "c" {
		t.Fatalf("read back %v %v", ts, meta)
	}
	if !bytes.Equal(f32bytes(ts[0].T), f32bytes(a)) || ts[1].T.Data()[0] != 41 || ts[2].T.Data()[0] != -3 {
		t.Fatal("values differ after reading back")
	}
}

// rawFile builds a safetensors file from a header string and data bytes.
func rawFile(header string, data []byte) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(header)))
	buf.WriteString(header)
	buf.Write(data)
	return buf.Bytes()
}

func TestSafetensorsCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	m := smallTrained(t, 2, 2)
	if err := SaveSafetensors(good, m, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	hlen := int(binary.LittleEndian.Uint64(raw))
	cases := map[string][]byte{
		"empty":              nil,
		"len-only-part":      raw[:5],
		"no-header":          raw[:8],
		"half-header":        raw[:8+hlen/2],
		"header-no-data":     raw[:8+hlen],
		"last-byte-missing":  raw[:len(raw)-1],
		"half-data":          raw[:8+hlen+(len(raw)-8-hlen)/2],
		"extra-byte":         append(append([]byte{}, raw...), 0),
		"huge-length":        append(binary.LittleEndian.AppendUint64(nil, 1<<62), raw[8:]...),
		"not-json":           rawFile(`xxxxxxxx`, nil),
		"bad-json":           rawFile(`{"a":{"dtype":"F32",`, nil),
		"array-header":       rawFile(`[1,2,3] `, nil),
		"bad-dtype":          rawFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)),
		"unknown-field":      rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, make([]byte, 4)),
		"offsets-past-end":   rawFile(`{"a":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}}`, make([]byte, 40)),
		"size-mismatch":      rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)),
		"negative-dim":       rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)),
		"overflow-shape":     rawFile(`{"a":{"dtype":"I64","shape":[4611686018427387904, 4],"data_offsets":[0,0]}}`, nil),
		"overlap":            rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)),
		"gap":                rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)),
		"reversed-offsets":   rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}`, make([]byte, 8)),
		"metadata-not-strs":  rawFile(`{"__metadata__":{"a":1}}`, nil),
		"negative-offset":    rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, make([]byte, 4)),
		"corrupt-header-len": append(binary.LittleEndian.AppendUint64(nil, uint64(hlen-3)), raw[8:]...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".safetensors")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			before := f32bytes(m.Params()[0].V.Value)
			_, err := LoadSafetensors(path, m)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			if !bytes.Equal(before, f32bytes(m.Params()[0].V.Value)) {
				t.Fatal("a failed load changed the module")
			}
			t.Log(err)
		})
	}
}

func TestLoadMismatch(t *testing.T) {
	dir := t.TempDir()
	b := ref.New()
	mk := func(c ResNetConfig) *ResNet {
		c.Stem = StemCIFAR
		m, err := NewResNet18(b, tensor.NewRand(3), c)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	save := func(name string, m Module) string {
		p := filepath.Join(dir, name)
		if err := SaveSafetensors(p, m, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	w2 := save("w2.safetensors", mk(ResNetConfig{Width: 2, NumClasses: 4}))
	noFC := save("nofc.safetensors", mk(ResNetConfig{Width: 2}))
	for _, tc := range []struct {
		name, path string
		into       *ResNet
		want       []string
	}{
		{"wrong-width", w2, mk(ResNetConfig{Width: 3, NumClasses: 4}), []string{"shape or dtype mismatch", `"conv1.weight: file [2 3 3 3], module [3 3 3 3]"`}},
		{"wrong-classes", w2, mk(ResNetConfig{Width: 2, NumClasses: 5}), []string{`fc.weight: file [4 16], module [5 16]`}},
		{"missing", noFC, mk(ResNetConfig{Width: 2, NumClasses: 4}), []string{`missing keys "fc.weight", "fc.bias"`}},
		{"unexpected", w2, mk(ResNetConfig{Width: 2}), []string{`unexpected keys "fc.bias", "fc.weight"`}},
		{"wrong-in", w2, mk(ResNetConfig{Width: 2, NumClasses: 4, InChannels: 1}), []string{`conv1.weight: file [2 3 3 3], module [2 1 3 3]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f32bytes(tc.into.Params()[len(tc.into.Params())-3].V.Value)
			_, err := LoadSafetensors(tc.path, tc.into)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, tc.path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !bytes.Equal(before, f32bytes(tc.into.Params()[len(tc.into.Params())-3].V.Value)) {
				t.Fatal("a failed load changed the module")
			}
		})
	}
}

func TestWriteSafetensorsErrors(t *testing.T) {
	dir := t.TempDir()
	one := tensor.FromSlice([]float32{1.5}, 1)
	for name, tc := range map[string]struct {
		path string
		ts   []NamedTensor
	}{
		"duplicate":   {filepath.Join(dir, "a"), []NamedTensor{{Name: "x", T: one}, {Name: "x", T: one}}},
		"reserved":    {filepath.Join(dir, "a"), []NamedTensor{{Name: "__metadata__", T: one}}},
		"empty-name":  {filepath.Join(dir, "a"), []NamedTensor{{T: one}}},
		"nil":         {filepath.Join(dir, "a"), []NamedTensor{{Name: "x"}}},
		"bad-dtype":   {filepath.Join(dir, "a"), []NamedTensor{{Name: "x", DType: "BF16", T: one}}},
		"non-integer": {filepath.Join(dir, "a"), []NamedTensor{{Name: "x", DType: "I64", T: one}}},
		"no-dir":      {filepath.Join(dir, "missing", "a"), []NamedTensor{{Name: "x", T: one}}},
	} {
		if err := WriteSafetensors(tc.path, tc.ts, nil); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("failed writes left %d files", len(entries))
	}
}

func TestWriteReplacesAtomically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	for i := range 3 {
		v := tensor.Full(float32(i)+0.5, 2, 2)
		if err := WriteSafetensors(path, []NamedTensor{{Name: "v", T: v}}, map[string]string{"i": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		ts, meta, err := ReadSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		if meta["i"] != fmt.Sprint(i) || ts[0].T.Data()[3] != float32(i)+0.5 {
			t.Fatalf("write %d: read back %v %v", i, meta, ts[0].T)
		}
	}
}

func ExampleSaveSafetensors() {
	b := ref.New()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "head.safetensors")

	head, _ := NewMLP(b, tensor.NewRand(1), MLPConfig{In: 16, Hidden: []int{32}, Out: 8, HiddenBN: true})
	if err := SaveSafetensors(path, head, map[string]string{"epoch": "3"}); err != nil {
		panic(err)
	}
	other, _ := NewMLP(b, tensor.NewRand(2), MLPConfig{In: 16, Hidden: []int{32}, Out: 8, HiddenBN: true})
	meta, err := LoadSafetensors(path, other)
	if err != nil {
		panic(err)
	}
	fmt.Println("epoch", meta["epoch"])
	ts, _, _ := ReadSafetensors(path)
	for _, nt := range ts {
		fmt.Println(nt.Name, nt.DType, nt.T.Shape())
	}
	// Output:
	// epoch 3
	// 0.weight F32 [32 16]
	// 1.weight F32 [32]
	// 1.bias F32 [32]
	// 3.weight F32 [8 32]
	// 3.bias F32 [8]
	// 1.running_mean F32 [32]
	// 1.running_var F32 [32]
	// 1.num_batches_tracked I64 []
}

// devStorage is memory of a pretend device: it is not host storage, so
// checkpoints must go through the backend's ToHost, FromHost and Copy.
type devStorage struct{ d []float32 }

func (s *devStorage) Kind() tensor.DeviceKind { return tensor.CUDA }
func (s *devStorage) Len() int                { return len(s.d) }

// devBackend keeps tensors in devStorage; it implements the memory methods
// (the arithmetic ones are the reference's and are not called here).
type devBackend struct{ *ref.Backend }

func devData(t *tensor.Tensor) []float32 {
	s := t.Storage().(*devStorage)
	return s.d[t.Offset() : t.Offset()+t.Numel()]
}

func (devBackend) Zeros(shape ...int) *tensor.Tensor {
	return tensor.New(&devStorage{d: make([]float32, tensor.Numel(shape))}, 0, shape...)
}
func (b devBackend) FromHost(t *tensor.Tensor) *tensor.Tensor {
	d := b.Zeros(t.Shape()...)
	copy(devData(d), t.Contiguous().Data())
	return d
}
func (devBackend) ToHost(t *tensor.Tensor) *tensor.Tensor {
	h := tensor.Zeros(t.Shape()...)
	copy(h.Data(), devData(t))
	return h
}
func (devBackend) Copy(src, dst *tensor.Tensor) { copy(devData(dst), devData(src)) }

// noBackend hides the Backend method of a module.
type noBackend struct{ Module }

func TestCheckpointDeviceTensors(t *testing.T) {
	b := devBackend{ref.New()}
	mk := func(seed uint64) *MLP {
		m, err := NewMLP(b, tensor.NewRand(seed), MLPConfig{In: 5, Hidden: []int{6}, Out: 3, HiddenBN: true})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, c := mk(1), mk(2)
	if a.Params()[0].V.Value.Kind() != tensor.CUDA {
		t.Fatal("parameters are not on the pretend device")
	}
	devData(a.Buffers()[0].T)[2] = 0.75 // a running mean
	devData(a.Buffers()[2].T)[0] = 9    // num_batches_tracked
	path := filepath.Join(t.TempDir(), "dev.safetensors")
	if err := SaveSafetensors(path, a, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSafetensors(path, c); err != nil {
		t.Fatal(err)
	}
	for i, p := range a.Params() {
		if !bytes.Equal(f32bytes(b.ToHost(p.V.Value)), f32bytes(b.ToHost(c.Params()[i].V.Value))) {
			t.Fatalf("%s differs after a device round trip", p.Name)
		}
	}
	if got := devData(c.Buffers()[0].T)[2]; got != 0.75 {
		t.Fatalf("running mean %g after loading, want 0.75", got)
	}
	if got := devData(c.Buffers()[2].T)[0]; got != 9 {
		t.Fatalf("num_batches_tracked %g after loading, want 9", got)
	}
	// Without a Backend method there is no way to copy device tensors.
	if err := SaveSafetensors(path, noBackend{a}, nil); err == nil || !strings.Contains(err.Error(), "Backend") {
		t.Fatalf("saving device tensors without a backend: %v", err)
	}
	if _, err := LoadSafetensors(path, noBackend{c}); err == nil || !strings.Contains(err.Error(), "Backend") {
		t.Fatalf("loading device tensors without a backend: %v", err)
	}
}

// TestLoadRefusesNonFinite checks that a checkpoint with one NaN or
// infinite value is refused with an error naming the tensor, and that the
// module keeps its values.
func TestLoadRefusesNonFinite(t *testing.T) {
	a := smallTrained(t, 1, 2)
	for _, tc := range []struct {
		name string
		v    float32
	}{
		{"layer2.0.conv1.weight", float32(math.NaN())},
		{"bn1.running_var", float32(math.Inf(1))},
		{"fc.bias", float32(math.Inf(-1))},
	} {
		ts, err := StateTensors(a)
		if err != nil {
			t.Fatal(err)
		}
		for _, nt := range ts {
			if nt.Name == tc.name {
				nt.T.Data()[nt.T.Numel()-1] = tc.v
			}
		}
		path := filepath.Join(t.TempDir(), "bad.safetensors")
		if err := WriteSafetensors(path, ts, nil); err != nil {
			t.Fatal(err)
		}
		b := smallTrained(t, 2, 2)
		was, _ := StateTensors(b)
		_, err = LoadSafetensors(path, b)
		var nf *NonFiniteError
		if !errors.As(err, &nf) || nf.Name != tc.name || nf.Count != 1 || !strings.Contains(err.Error(), tc.name) {
			t.Fatalf("%s = %v: error %v", tc.name, tc.v, err)
		}
		now, _ := StateTensors(b)
		for i := range was {
			if !slices.Equal(was[i].T.Data(), now[i].T.Data()) {
				t.Fatalf("%s changed by a refused load", was[i].Name)
			}
		}
	}
	if err := CheckFinite([]NamedTensor{{Name: "x", T: tensor.FromSlice([]float32{1, 2, 3}, 3)}}); err != nil {
		t.Fatal(err)
	}
}
