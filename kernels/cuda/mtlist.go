package cuda

import (
	"runtime"
	"unsafe"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// mtList is the host image of a device array of hal_mt_tensor: the entries
// with their first chunk, and the total number of chunks (one thread block
// each).
type mtList struct {
	entries []mtTensor
	count   int
	nchunks int
}

func newMTList(capacity int) *mtList {
	return &mtList{entries: make([]mtTensor, 0, capacity)}
}

// add appends e (P, G, M, V, N and Flag set), giving it its first chunk.
func (l *mtList) add(e mtTensor) {
	e.ChunkStart = int32(l.nchunks)
	l.entries = append(l.entries, e)
	l.count++
	l.nchunks += int((e.N + halMTChunk - 1) / halMTChunk)
	if l.nchunks > 1<<31-1 {
		kernels.Panicf(name, "multi-tensor list of more than 2^31 chunks")
	}
}

// bytes returns the entries as the bytes of the C array (the mirror has
// hal_mt_tensor's layout; the host and the device are little-endian).
func (l *mtList) bytes() []byte {
	if len(l.entries) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&l.entries[0])), len(l.entries)*int(unsafe.Sizeof(mtTensor{})))
}

// checkLists panics unless every list has one tensor per param with the
// same number of elements, and every flag slice (nil allowed) one flag per
// param.
func checkLists(op string, params []*tensor.Tensor, lists map[string][]*tensor.Tensor, flags map[string][]bool) {
	for nm, l := range lists {
		if len(l) != len(params) {
			kernels.Panicf(name, "%s: %d %s for %d params", op, len(l), nm, len(params))
		}
		for i, t := range l {
			if t == nil || params[i] == nil || t.Numel() != params[i].Numel() {
				kernels.Panicf(name, "%s: %s[%d] does not match params[%d]", op, nm, i, i)
			}
		}
	}
	for nm, f := range flags {
		if f != nil && len(f) != len(params) {
			kernels.Panicf(name, "%s: %d %s flags for %d params", op, len(f), nm, len(params))
		}
	}
}

// flag is f[i] as a hal_mt_tensor flag, def when f is nil.
func flag(f []bool, i int, def bool) int32 {
	if f == nil {
		return b2i(def)
	}
	return b2i(f[i])
}

// keepAlive keeps tensors (and so their device blocks) reachable until the
// launches that read them are queued.
func keepAlive(ts []*tensor.Tensor) { runtime.KeepAlive(ts) }
