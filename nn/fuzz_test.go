package nn

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"hallucinator/tensor"
)

// FuzzReadSafetensors feeds arbitrary bytes to the safetensors reader: none
// may panic or allocate more than the file could hold, and a file it accepts
// must write back and read again to the same tensors and metadata.
func FuzzReadSafetensors(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.safetensors")
	seed := []NamedTensor{
		{Name: "w", T: tensor.FromSlice([]float32{1, -2, 3.5, 0}, 2, 2)},
		{Name: "n", DType: dtypeI64, T: tensor.FromSlice([]float32{7}, 1)},
		{Name: "empty", T: tensor.Zeros(0, 3)},
	}
	if err := WriteSafetensors(path, seed, map[string]string{"epoch": "3"}); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[1073741824,1073741824],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(rawFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(rawFile(`{"__metadata__":{"x":1}}`, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{'})
	f.Fuzz(func(t *testing.T, raw []byte) {
		ts, meta, err := decodeSafetensors(raw)
		if err != nil {
			return
		}
		var bytesHeld int
		for _, nt := range ts {
			n := 1
			for _, d := range nt.T.Shape() {
				n *= d
			}
			if n != nt.T.Numel() || len(nt.T.Data()) != n {
				t.Fatalf("tensor %q: shape %v with %d values", nt.Name, nt.T.Shape(), len(nt.T.Data()))
			}
			bytesHeld += n * dtypeSize(nt.DType)
		}
		if bytesHeld > len(raw) {
			t.Fatalf("%d bytes of tensors from a %d-byte file", bytesHeld, len(raw))
		}
		out := filepath.Join(t.TempDir(), "back.safetensors")
		for i := range ts {
			if ts[i].DType == dtypeI64 {
				// Beyond 2^24 an integer does not survive float32; the
				// reader documents it.
				for _, v := range ts[i].T.Data() {
					if math.Abs(float64(v)) > 1<<24 {
						return
					}
				}
			}
		}
		if err := WriteSafetensors(out, ts, meta); err != nil {
			t.Fatalf("accepted, but does not write back: %v", err)
		}
		ts2, meta2, err := ReadSafetensors(out)
		if err != nil {
			t.Fatalf("written back, but refused: %v", err)
		}
		if len(ts2) != len(ts) || len(meta2) != len(meta) {
			t.Fatalf("round trip: %d tensors %d metadata, want %d %d", len(ts2), len(meta2), len(ts), len(meta))
		}
		for i := range ts {
			a, b := ts[i].T.Data(), ts2[i].T.Data()
			if ts[i].Name != ts2[i].Name || len(a) != len(b) {
				t.Fatalf("round trip: tensor %d %q, want %q", i, ts2[i].Name, ts[i].Name)
			}
			for j := range a {
				if math.Float32bits(a[j]) != math.Float32bits(b[j]) {
					t.Fatalf("round trip: %q element %d", ts[i].Name, j)
				}
			}
		}
		for k, v := range meta {
			if meta2[k] != v {
				t.Fatalf("round trip: metadata %q", k)
			}
		}
	})
}
