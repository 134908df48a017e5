package ssl

import (
	"context"
	"fmt"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/dist"
	"hallucinator/nn"
	"hallucinator/tensor"
)

// Data-parallel MoCo, as the released multi-GPU code does it:
//
//   - Shuffling batch norm (Config.ShuffleBN of G groups, a multiple of
//     the W ranks): each rank normalises its batch in G/W groups, without
//     synchronisation. The key encoder's input is gathered from every rank,
//     shuffled by one permutation that every rank draws alike, and shared
//     out again; the keys are gathered back and put in order. Rank r's
//     batch is the samples of the one-device batch in group r (mod W), so
//     the groups are those of one device with G groups. The running
//     statistics, which each rank moves by its own groups, are averaged
//     across the ranks after every step, which gives the one-device
//     statistics (the mean of the groups').
//   - Without shuffling (ShuffleBN 0 or 1), the batch norms of both
//     encoders are synchronised (unless TrainConfig.LocalBN).
//   - The queue takes the keys of every rank, in the order of the global
//     batch, so it is the same on every rank and on one device.
//   - Each rank's loss is InfoNCE of its queries against their keys and
//     the queue.

// setComm makes MoCo data-parallel over c.
func (m *MoCo) setComm(c dist.Comm, syncBN bool) error {
	w := c.Size()
	if g := m.Cfg.ShuffleBN; g > 1 {
		if g%w != 0 {
			return fmt.Errorf("ssl: MoCo's shuffling batch norm in %d groups cannot be shared out over %d ranks; want a multiple of the number of ranks", g, w)
		}
		m.EncQ.SetBNGroups(g / w)
		m.EncK.SetBNGroups(g / w)
	} else if syncBN {
		nn.SetSyncBN(c, m.EncQ, m.HeadQ, m.EncK, m.HeadK)
	}
	m.comm = c
	return nil
}

// gatherRows returns every rank's x in rank order (no gradient).
func (m *MoCo) gatherRows(x *tensor.Tensor, what string) *tensor.Tensor {
	w := m.comm.Size()
	y := m.b.Zeros(append([]int{w * x.Dim(0)}, x.Shape()[1:]...)...)
	if err := m.comm.AllGather(context.Background(), contiguous(m.b, x), y); err != nil {
		panic(&nn.CommError{Op: "MoCo's all-gather of " + what, Err: err})
	}
	return y
}

// distKeys returns the normalised keys of this rank's images v2 [b, ...]
// and, for the queue, those of every rank in the order of the global batch
// [W*b, D]. Global position p of a step's batch is row p/W of rank p mod W
// (rankIndices), and so row (p mod W)*b + p/W of a gather.
func (m *MoCo) distKeys(tp *autograd.Tape, v2 *autograd.Var, rng *rand.Rand) (k *autograd.Var, all *tensor.Tensor) {
	w, r, b := m.comm.Size(), m.comm.Rank(), v2.Shape()[0]
	n := w * b
	row := func(p int) int32 { return int32(p%w*b + p/w) }
	encode := func(x *autograd.Var) *autograd.Var {
		return tp.L2Normalize(m.HeadK.Forward(tp, m.EncK.Forward(tp, x)), 1e-12)
	}
	var gathered *tensor.Tensor // every rank's keys, rank-major
	toGlobal := make([]int32, n)
	if g := m.Cfg.ShuffleBN; g > 1 && m.EncK.BN1.Training {
		// The one-device shuffle: position i of the shuffled batch holds
		// image perm[i], and is in group i mod G; this rank encodes the
		// positions r, r+W, ... of it.
		perm := rng.Perm(n)
		xs := m.gatherRows(v2.Value, "key images")
		mine := make([]int32, b)
		for j := range mine {
			mine[j] = row(perm[r+w*j])
		}
		xl := m.b.Zeros(v2.Shape()...)
		m.b.GatherRows(xs, mine, xl)
		gathered = m.gatherRows(encode(autograd.NewVar(xl, false)).Value, "keys")
		// Shuffled position i is row (i mod W)*b + i/W of the gather.
		for i, p := range perm {
			toGlobal[p] = row(i)
		}
	} else {
		gathered = m.gatherRows(encode(v2).Value, "keys")
		for p := range toGlobal {
			toGlobal[p] = row(p)
		}
	}
	all = m.b.Zeros(n, gathered.Dim(1))
	m.b.GatherRows(gathered, toGlobal, all)
	mine := make([]int32, b)
	for j := range mine {
		mine[j] = int32(r + w*j)
	}
	kl := m.b.Zeros(b, all.Dim(1))
	m.b.GatherRows(all, mine, kl)
	return autograd.NewVar(kl, false), all
}

// averageBNStats averages the running statistics of both encoders across
// the ranks, in one all-reduce (shuffling BN: each rank moved them by its
// own groups).
func (m *MoCo) averageBNStats() {
	var ts []*tensor.Tensor
	for _, enc := range []*nn.ResNet{m.EncQ, m.EncK} {
		for _, bn := range enc.BatchNorms() {
			ts = append(ts, bn.RunningMean, bn.RunningVar)
		}
	}
	n := 0
	for _, t := range ts {
		n += t.Numel()
	}
	flat := m.b.Zeros(n)
	off := 0
	for _, t := range ts {
		m.b.Copy(t, tensor.New(flat.Storage(), off, t.Shape()...))
		off += t.Numel()
	}
	if err := m.comm.AllReduce(context.Background(), flat, dist.Avg); err != nil {
		panic(&nn.CommError{Op: "MoCo's average of batch-norm statistics", Err: err})
	}
	off = 0
	for _, t := range ts {
		m.b.Copy(tensor.New(flat.Storage(), off, t.Shape()...), t)
		off += t.Numel()
	}
}
