package cuda

import (
	"encoding/binary"
	"runtime"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// mtEntry is one tensor of a multi-tensor launch (hal_mt_tensor).
type mtEntry struct {
	p, g, m, v dptr
	n          int
	flag       bool
}

// mtList is the host image of a device array of hal_mt_tensor: entries
// with their first chunk, and the total number of chunks (one thread block
// each).
type mtList struct {
	buf     []byte
	count   int
	nchunks int
}

func newMTList(capacity int) *mtList {
	return &mtList{buf: make([]byte, 0, capacity*mtEntrySize)}
}

// add appends one entry in the layout of hal_mt_tensor: p, g, m, v, n
// (8 bytes each), chunk_start, flag (4 bytes each).
func (l *mtList) add(e mtEntry) {
	le := binary.LittleEndian
	l.buf = le.AppendUint64(l.buf, uint64(e.p))
	l.buf = le.AppendUint64(l.buf, uint64(e.g))
	l.buf = le.AppendUint64(l.buf, uint64(e.m))
	l.buf = le.AppendUint64(l.buf, uint64(e.v))
	l.buf = le.AppendUint64(l.buf, uint64(e.n))
	l.buf = le.AppendUint32(l.buf, uint32(l.nchunks))
	var f uint32
	if e.flag {
		f = 1
	}
	l.buf = le.AppendUint32(l.buf, f)
	l.count++
	l.nchunks += (e.n + mtChunk - 1) / mtChunk
	if l.nchunks > 1<<31-1 {
		kernels.Panicf(name, "multi-tensor list of more than 2^31 chunks")
	}
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

func flag(f []bool, i int, def bool) bool {
	if f == nil {
		return def
	}
	return f[i]
}

// keepAlive keeps tensors (and so their device blocks) reachable until the
// launches that read them are queued.
func keepAlive(ts []*tensor.Tensor) { runtime.KeepAlive(ts) }
