package nn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"hallucinator/tensor"
)

// NamedTensor is one entry of a safetensors file.
type NamedTensor struct {
	Name string
	// DType is the stored type: "F32" (also when empty) or "I64". I64
	// values are held in T as float32 and must be integers (exact up to
	// 2^24 in magnitude).
	DType string
	// T is a host tensor.
	T *tensor.Tensor
}

const (
	dtypeF32 = "F32"
	dtypeI64 = "I64"
	// metadataKey is the reserved header entry of string metadata.
	metadataKey = "__metadata__"
	// maxHeader bounds the JSON header, as the safetensors library does.
	maxHeader = 100 << 20
)

func dtypeSize(dt string) int {
	switch dt {
	case dtypeF32:
		return 4
	case dtypeI64:
		return 8
	}
	return 0
}

// headerEntry is one tensor's description in the JSON header.
type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// WriteSafetensors writes tensors and string metadata (may be nil) to path
// in the safetensors format: an 8-byte little-endian header length, a JSON
// header (padded with spaces to a multiple of 8 bytes) giving each tensor's
// dtype, shape and byte range, then the raw little-endian data in the order
// given. The file is replaced atomically: written to a temporary file in the
// same directory, synced, renamed over path, and the directory synced.
func WriteSafetensors(path string, tensors []NamedTensor, meta map[string]string) (err error) {
	header, err := encodeHeader(path, tensors, meta)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("nn: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	w.Write(n[:])
	w.Write(header)
	var buf [8]byte
	for _, nt := range tensors {
		d := nt.T.Contiguous().Data()
		if nt.DType == dtypeI64 {
			for _, v := range d {
				binary.LittleEndian.PutUint64(buf[:], uint64(int64(v)))
				w.Write(buf[:8])
			}
			continue
		}
		for _, v := range d {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			w.Write(buf[:4])
		}
	}
	if err = w.Flush(); err != nil {
		return fmt.Errorf("nn: writing %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("nn: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("nn: writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("nn: writing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("nn: writing %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return fmt.Errorf("nn: writing %s: syncing its directory: %w", path, derr)
		}
	}
	return nil
}

// encodeHeader validates the tensors and returns the padded JSON header.
func encodeHeader(path string, tensors []NamedTensor, meta map[string]string) ([]byte, error) {
	h := make(map[string]any, len(tensors)+1)
	var off int64
	for i, nt := range tensors {
		switch {
		case nt.Name == "" || nt.Name == metadataKey:
			return nil, fmt.Errorf("nn: writing %s: tensor %d has the reserved or empty name %q", path, i, nt.Name)
		case nt.T == nil:
			return nil, fmt.Errorf("nn: writing %s: tensor %q is nil", path, nt.Name)
		case nt.T.Kind() != tensor.Host:
			return nil, fmt.Errorf("nn: writing %s: tensor %q is on the %v device; copy it to the host first", path, nt.Name, nt.T.Kind())
		}
		if _, dup := h[nt.Name]; dup {
			return nil, fmt.Errorf("nn: writing %s: duplicate tensor name %q", path, nt.Name)
		}
		dt := nt.DType
		if dt == "" {
			dt = dtypeF32
		}
		size := dtypeSize(dt)
		if size == 0 {
			return nil, fmt.Errorf("nn: writing %s: tensor %q has unsupported dtype %q (want F32 or I64)", path, nt.Name, nt.DType)
		}
		if dt == dtypeI64 {
			for _, v := range nt.T.Contiguous().Data() {
				if v != float32(math.Trunc(float64(v))) || math.IsInf(float64(v), 0) {
					return nil, fmt.Errorf("nn: writing %s: I64 tensor %q holds the non-integer %g", path, nt.Name, v)
				}
			}
		}
		shape := append([]int{}, nt.T.Shape()...)
		end := off + int64(nt.T.Numel()*size)
		h[nt.Name] = headerEntry{DType: dt, Shape: shape, DataOffsets: [2]int64{off, end}}
		off = end
	}
	if len(meta) > 0 {
		h[metadataKey] = meta
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("nn: writing %s: %w", path, err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	return js, nil
}

// ReadSafetensors reads a safetensors file with F32 and I64 tensors. It
// returns the tensors as host tensors in the order of their data in the
// file, and the "__metadata__" strings (nil when absent). Truncated files,
// malformed headers, unsupported dtypes and byte ranges that are out of
// bounds, overlap, leave gaps or do not match the shape are errors naming
// the file.
func ReadSafetensors(path string) ([]NamedTensor, map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: reading checkpoint: %w", err)
	}
	ts, meta, err := decodeSafetensors(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: reading checkpoint %s: %w", path, err)
	}
	return ts, meta, nil
}

func decodeSafetensors(raw []byte) ([]NamedTensor, map[string]string, error) {
	if len(raw) < 8 {
		return nil, nil, fmt.Errorf("truncated: %d bytes, want at least 8 for the header length", len(raw))
	}
	hlen := binary.LittleEndian.Uint64(raw[:8])
	if hlen > uint64(len(raw)-8) {
		return nil, nil, fmt.Errorf("truncated or corrupt: header length %d but only %d bytes follow the length field", hlen, len(raw)-8)
	}
	if hlen > maxHeader {
		return nil, nil, fmt.Errorf("corrupt: header length %d exceeds the limit of %d bytes", hlen, maxHeader)
	}
	hdr := raw[8 : 8+hlen]
	data := raw[8+hlen:]
	if len(bytes.TrimSpace(hdr)) == 0 || bytes.TrimSpace(hdr)[0] != '{' {
		return nil, nil, errors.New("bad header: not a JSON object")
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &entries); err != nil {
		return nil, nil, fmt.Errorf("bad header JSON: %w", err)
	}
	var meta map[string]string
	if m, ok := entries[metadataKey]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, nil, fmt.Errorf("bad header: %s is not an object of strings: %w", metadataKey, err)
		}
		delete(entries, metadataKey)
	}
	type parsed struct {
		name string
		e    headerEntry
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)
	list := make([]parsed, 0, len(entries))
	for _, name := range names {
		msg := entries[name]
		var e headerEntry
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("bad header entry for tensor %q: %w", name, err)
		}
		size := dtypeSize(e.DType)
		if size == 0 {
			return nil, nil, fmt.Errorf("tensor %q has unsupported dtype %q (want F32 or I64)", name, e.DType)
		}
		numel, err := shapeNumel(e.Shape, int64(len(data)))
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		b, en := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || en < b || en > int64(len(data)) {
			return nil, nil, fmt.Errorf("tensor %q: data offsets [%d, %d] reversed or out of range of the %d data bytes (truncated?)", name, b, en, len(data))
		}
		if en-b != numel*int64(size) {
			return nil, nil, fmt.Errorf("tensor %q: %d data bytes for shape %v of %s (want %d)", name, en-b, e.Shape, e.DType, numel*int64(size))
		}
		list = append(list, parsed{name, e})
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i].e.DataOffsets, list[j].e.DataOffsets
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		if a[1] != b[1] {
			return a[1] < b[1]
		}
		return list[i].name < list[j].name
	})
	var pos int64
	out := make([]NamedTensor, len(list))
	for i, p := range list {
		b, en := p.e.DataOffsets[0], p.e.DataOffsets[1]
		if b != pos {
			return nil, nil, fmt.Errorf("tensor %q: data starts at byte %d, want %d (overlapping or gap in the data)", p.name, b, pos)
		}
		pos = en
		t := tensor.Zeros(p.e.Shape...)
		d := t.Data()
		src := data[b:en]
		if p.e.DType == dtypeI64 {
			for k := range d {
				d[k] = float32(int64(binary.LittleEndian.Uint64(src[8*k:])))
			}
		} else {
			for k := range d {
				d[k] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*k:]))
			}
		}
		out[i] = NamedTensor{Name: p.name, DType: p.e.DType, T: t}
	}
	if pos != int64(len(data)) {
		return nil, nil, fmt.Errorf("corrupt: %d bytes of data after the last tensor", int64(len(data))-pos)
	}
	return out, meta, nil
}

// shapeNumel returns the number of elements of shape, or an error for a
// negative dimension or a count larger than limit (bytes available), which
// also rules out overflow.
func shapeNumel(shape []int, limit int64) (int64, error) {
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d == 0 {
			return 0, nil
		}
	}
	n := int64(1)
	for _, d := range shape {
		if int64(d) > limit || n > limit/int64(d) {
			return 0, fmt.Errorf("shape %v needs more than the %d data bytes of the file (truncated?)", shape, limit)
		}
		n *= int64(d)
	}
	return n, nil
}
