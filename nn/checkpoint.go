package nn

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// isCounter reports whether a buffer holds an integer count stored as I64
// (PyTorch's num_batches_tracked).
func isCounter(name string) bool {
	return name == "num_batches_tracked" || strings.HasSuffix(name, ".num_batches_tracked")
}

// StateTensors returns host copies of the parameters and buffers of m,
// named by their state_dict keys, as SaveSafetensors writes them.
func StateTensors(m Module) ([]NamedTensor, error) {
	b := moduleBackend(m)
	var out []NamedTensor
	seen := map[string]bool{}
	add := func(name, dtype string, t *tensor.Tensor) error {
		if seen[name] {
			return fmt.Errorf("nn: module has two tensors named %q", name)
		}
		seen[name] = true
		h, err := toHost(b, name, t)
		if err != nil {
			return err
		}
		out = append(out, NamedTensor{Name: name, DType: dtype, T: h})
		return nil
	}
	for _, p := range m.Params() {
		if err := add(p.Name, dtypeF32, p.V.Value); err != nil {
			return nil, err
		}
	}
	for _, bf := range m.Buffers() {
		dt := dtypeF32
		if isCounter(bf.Name) {
			dt = dtypeI64
		}
		if err := add(bf.Name, dt, bf.T); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SaveSafetensors writes the parameters and buffers of m to path as a
// safetensors file that torch's safetensors.torch.load_file reads into a
// state_dict for load_state_dict(strict=True). extra (may be nil) is stored
// as string metadata, with "format": "pt" added unless extra sets it.
func SaveSafetensors(path string, m Module, extra map[string]string) error {
	ts, err := StateTensors(m)
	if err != nil {
		return fmt.Errorf("nn: saving %s: %w", path, err)
	}
	meta := map[string]string{"format": "pt"}
	for k, v := range extra {
		meta[k] = v
	}
	return WriteSafetensors(path, ts, meta)
}

// LoadSafetensors reads a checkpoint written by SaveSafetensors (or by
// PyTorch's safetensors with the same state_dict keys) into the parameters
// and buffers of m, and returns the file's metadata. Like PyTorch's strict
// loading, every key of m must be in the file with the same shape and the
// file must have no other tensors; unlike it, NaN and infinite values are an
// error naming the tensor. On any error m is left unchanged.
func LoadSafetensors(path string, m Module) (map[string]string, error) {
	ts, meta, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	if err := LoadState(m, ts); err != nil {
		return nil, fmt.Errorf("nn: loading %s: %w", path, err)
	}
	return meta, nil
}

// LoadState copies named host tensors into the parameters and buffers of m,
// with the strict checks of LoadSafetensors. A tensor holding NaN or an
// infinity is refused (a *NonFiniteError) and m is left unchanged.
func LoadState(m Module, ts []NamedTensor) error {
	if err := CheckFinite(ts); err != nil {
		return err
	}
	byName := make(map[string]NamedTensor, len(ts))
	for _, nt := range ts {
		byName[nt.Name] = nt
	}
	type target struct {
		name    string
		t       *tensor.Tensor
		counter bool
	}
	var targets []target
	for _, p := range m.Params() {
		targets = append(targets, target{p.Name, p.V.Value, false})
	}
	for _, bf := range m.Buffers() {
		targets = append(targets, target{bf.Name, bf.T, isCounter(bf.Name)})
	}
	var missing, mismatched []string
	used := map[string]bool{}
	for _, tg := range targets {
		nt, ok := byName[tg.name]
		if !ok {
			missing = append(missing, tg.name)
			continue
		}
		used[tg.name] = true
		switch {
		case !tensor.EqualShape(nt.T.Shape(), tg.t.Shape()):
			mismatched = append(mismatched, fmt.Sprintf("%s: file %v, module %v", tg.name, nt.T.Shape(), tg.t.Shape()))
		case !tg.counter && nt.DType == dtypeI64:
			mismatched = append(mismatched, fmt.Sprintf("%s: dtype I64, want F32", tg.name))
		}
	}
	var unexpected []string
	for name := range byName {
		if !used[name] {
			unexpected = append(unexpected, name)
		}
	}
	sort.Strings(unexpected)
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing keys "+listNames(missing))
	}
	if len(unexpected) > 0 {
		problems = append(problems, "unexpected keys "+listNames(unexpected))
	}
	if len(mismatched) > 0 {
		problems = append(problems, "shape or dtype mismatch for "+listNames(mismatched))
	}
	if len(problems) > 0 {
		return fmt.Errorf("state does not match the module: %s", strings.Join(problems, "; "))
	}
	b := moduleBackend(m)
	for _, tg := range targets {
		if tg.t.Kind() != tensor.Host && b == nil {
			return fmt.Errorf("tensor %q is on the %v device but the module has no Backend method to copy it", tg.name, tg.t.Kind())
		}
	}
	for _, tg := range targets {
		fromHost(b, byName[tg.name].T, tg.t)
	}
	return nil
}

// listNames quotes up to 10 names and counts the rest.
func listNames(names []string) string {
	const most = 10
	var sb strings.Builder
	for i, n := range names {
		if i == most {
			fmt.Fprintf(&sb, " and %d more", len(names)-most)
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%q", n)
	}
	return sb.String()
}

// moduleBackend returns the backend of m, or nil.
func moduleBackend(m Module) kernels.Backend {
	if h, ok := m.(BackendHolder); ok {
		return h.Backend()
	}
	return nil
}

// toHost returns a contiguous host copy of t.
func toHost(b kernels.Backend, name string, t *tensor.Tensor) (*tensor.Tensor, error) {
	if t.Kind() == tensor.Host {
		return t.Clone(), nil
	}
	if b == nil {
		return nil, fmt.Errorf("tensor %q is on the %v device but the module has no Backend method to copy it", name, t.Kind())
	}
	return b.ToHost(t), nil
}

// fromHost copies the host tensor src into dst (same number of elements).
func fromHost(b kernels.Backend, src, dst *tensor.Tensor) {
	if dst.Kind() == tensor.Host {
		copy(dst.Data(), src.Contiguous().Data())
		return
	}
	b.Copy(b.FromHost(src), dst)
}

// NonFiniteError reports a tensor of a checkpoint or a state that holds NaN
// or an infinity.
type NonFiniteError struct {
	Name  string // the tensor's state_dict name
	Index int    // the first non-finite element (row-major)
	Value float32
	Count int // how many elements are not finite
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("tensor %q holds %d non-finite values (the first, %g, at element %d)", e.Name, e.Count, e.Value, e.Index)
}

// CheckFinite returns a *NonFiniteError for the first tensor of ts that holds
// NaN or an infinity, or nil when every value is finite. Checkpoints are
// checked with it before they are written and when they are loaded, so that a
// diverged state is never saved over a good one nor silently trained on.
func CheckFinite(ts []NamedTensor) error {
	for _, nt := range ts {
		if nt.T == nil || nt.T.Kind() != tensor.Host {
			continue
		}
		var e *NonFiniteError
		for i, v := range nt.T.Contiguous().Data() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				if e == nil {
					e = &NonFiniteError{Name: nt.Name, Index: i, Value: v}
				}
				e.Count++
			}
		}
		if e != nil {
			return e
		}
	}
	return nil
}
