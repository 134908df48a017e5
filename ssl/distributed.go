package ssl

import (
	"context"
	"fmt"
	"math/rand/v2"

	"hallucinator/autograd"
	"hallucinator/dist"
	"hallucinator/kernels"
	"hallucinator/nn"
	"hallucinator/nn/optim"
	"hallucinator/ssl/data"
	"hallucinator/tensor"
)

// Data-parallel training (TrainConfig.Comm of more than one rank) follows
// PyTorch's DistributedDataParallel and the frameworks' official multi-GPU
// code:
//
//   - The global batch TrainConfig.BatchSize is split evenly over the W
//     ranks. Each epoch visits the images in the order a one-rank run
//     visits them (one permutation per epoch from the seed and the epoch);
//     rank r takes every W-th image of it from the r-th on, and the uneven
//     tail (N mod W images) is dropped, as DistributedSampler does. Step s
//     of rank r therefore holds images of step s of the one-rank run, and
//     the ranks together hold all of them. Each rank draws its
//     augmentations from a seed of its own (distributedSeed), so with
//     random augmentations a run's views differ from the one-device run's
//     (a different draw of the same distribution).
//   - NewTrainer broadcasts rank 0's parameters and buffers, so every rank
//     starts from rank 0's initialisation. After each backward pass the
//     gradients of every parameter the optimisers hold, and the loss, are
//     averaged across the ranks in one all-reduce of one flat buffer;
//     every rank then takes the same optimiser step.
//   - Batch norms are synchronised (nn.BatchNorm.Sync): their statistics
//     are those of the global batch, and their running statistics stay
//     identical across ranks. With TrainConfig.LocalBN each rank normalises
//     its own batch instead, and rank 0's buffers are broadcast before every
//     step (DDP's broadcast_buffers).
//   - SimCLR's negatives are the embeddings of every rank (an all-gather
//     whose backward sums the gathered rows' gradients over the ranks and
//     keeps this rank's); the Hallucinator runs on each rank's rows exactly
//     as on one device, with the step's lambda drawn from the same stream on
//     every rank.
//
// Every rank computes the mean of its own anchors' losses; their average is
// the one-rank loss of the global batch, and so are the averaged gradients,
// up to the order of floating-point sums. Every framework is distributed;
// MoCo's shuffling batch norm and queue are described in moco_dist.go.
//
// Checkpoints and metrics are the caller's business: every rank holds the
// same state, so only rank 0 should Save, and every rank should Load the
// same checkpoint before it resumes.

// distributed is a Framework that can be trained data-parallel.
type distributed interface {
	// setComm makes the framework's loss a collective over c's ranks and,
	// with syncBN, synchronises its batch norms.
	setComm(c dist.Comm, syncBN bool) error
}

// setupDist checks a data-parallel configuration, wires the communicator
// into the framework and broadcasts rank 0's state. It does nothing without
// a communicator of more than one rank.
func (t *Trainer) setupDist() error {
	c := t.Cfg.Comm
	if c == nil || c.Size() <= 1 {
		return nil
	}
	w := c.Size()
	if t.Cfg.BatchSize%w != 0 {
		return fmt.Errorf("ssl: a global batch of %d images does not split evenly over %d ranks", t.Cfg.BatchSize, w)
	}
	if t.Cfg.BatchSize/w < 2 {
		return fmt.Errorf("ssl: a global batch of %d images over %d ranks leaves %d per rank; want at least 2", t.Cfg.BatchSize, w, t.Cfg.BatchSize/w)
	}
	d, ok := t.FW.(distributed)
	if !ok {
		return fmt.Errorf("ssl: %s is not yet distributed: data-parallel training (a communicator of %d ranks) supports simclr, mocov1, mocov2, simsiam and byol", t.FW.Name(), w)
	}
	if err := d.setComm(c, !t.Cfg.LocalBN); err != nil {
		return err
	}
	t.comm = c
	ctx := context.Background()
	for _, p := range t.FW.Params() {
		if err := c.Broadcast(ctx, p.V.Value, 0); err != nil {
			return fmt.Errorf("ssl: broadcasting %s from rank 0: %w", p.Name, err)
		}
	}
	if err := t.broadcastBuffers(ctx); err != nil {
		return err
	}
	return t.be.Sync()
}

// broadcastBuffers copies rank 0's buffers (batch-norm statistics) to every
// rank.
func (t *Trainer) broadcastBuffers(ctx context.Context) error {
	for _, b := range t.FW.Buffers() {
		if err := t.Cfg.Comm.Broadcast(ctx, b.T, 0); err != nil {
			return fmt.Errorf("ssl: broadcasting %s from rank 0: %w", b.Name, err)
		}
	}
	return nil
}

// newLoader returns the stream of this rank's batches from the trainer's
// position.
func (t *Trainer) newLoader(ctx context.Context) (*data.Loader, error) {
	if t.comm == nil {
		return data.NewLoader(ctx, t.ds, data.LoaderOptions{
			BatchSize: t.Cfg.BatchSize, Views: t.Cfg.Views[:], Seed: t.Cfg.Seed, Shuffle: true, DropLast: true,
			Workers: t.Cfg.Workers, Epochs: t.Epoch + 1, StartEpoch: t.Epoch, StartStep: t.Step,
		})
	}
	w, r := t.comm.Size(), t.comm.Rank()
	sub := t.ds.Subset(rankIndices(epochOrder(t.Cfg.Seed, t.Epoch, t.ds.N), r, w))
	return data.NewLoader(ctx, sub, data.LoaderOptions{
		BatchSize: t.Cfg.BatchSize / w, Views: t.Cfg.Views[:], Seed: distributedSeed(t.Cfg.Seed, r), DropLast: true,
		Workers: t.Cfg.Workers, Epochs: t.Epoch + 1, StartEpoch: t.Epoch, StartStep: t.Step,
	})
}

// epochOrder is the order in which a one-rank Trainer (data.Loader with
// Shuffle) visits n images in an epoch; TestEpochOrderIsTheLoaders checks
// that it is data.Loader.Order.
func epochOrder(seed uint64, epoch, n int) []int {
	a := mix64(seed ^ 0x243f6a8885a308d3)
	return rand.New(rand.NewPCG(a, mix64(a^uint64(epoch)))).Perm(n)
}

// mix64 is SplitMix64's finaliser (as package data's).
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rankIndices is DistributedSampler's share of rank r of w in an epoch of
// the given order, without padding: order[r], order[r+w], ..., the last
// len(order) mod w images dropped.
func rankIndices(order []int, r, w int) []int {
	n := len(order) / w
	out := make([]int, n)
	for k := range out {
		out[k] = order[r+k*w]
	}
	return out
}

// distributedSeed is the augmentation seed of rank r: each rank's views are
// drawn from a stream of its own.
func distributedSeed(seed uint64, r int) uint64 {
	return mix64(seed ^ mix64(uint64(r)+0x6a09e667f3bcc909))
}

// stepDist runs step, turning a failed collective inside the forward or
// backward pass (an *nn.CommError panic) into the step's error; with
// LocalBN it first broadcasts rank 0's buffers.
func (t *Trainer) stepDist(b *data.Batch) (info StepInfo, err error) {
	if t.comm == nil {
		return t.step(b)
	}
	defer func() {
		if r := recover(); r != nil {
			ce, ok := r.(*nn.CommError)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("ssl: epoch %d step %d: %w", t.Epoch+1, t.Step+1, ce)
		}
	}()
	if t.Cfg.LocalBN {
		if err := t.broadcastBuffers(context.Background()); err != nil {
			return info, err
		}
	}
	return t.step(b)
}

// averageGrads averages the gradients of the optimisers' parameters and
// the loss (a one-element tensor) across the ranks: one all-reduce of one
// flat buffer holding them all. It returns the averaged loss.
func (t *Trainer) averageGrads(loss *tensor.Tensor) (*tensor.Tensor, error) {
	var gs []*tensor.Tensor
	for _, o := range t.optimizers() {
		for _, p := range o.Params() {
			if p.V.HasGrad() {
				gs = append(gs, p.V.Grad)
			}
		}
	}
	n := 1
	for _, g := range gs {
		n += g.Numel()
	}
	if t.bucket == nil || t.bucket.Numel() != n {
		t.bucket = t.be.Zeros(n)
	}
	st := t.bucket.Storage()
	off := 0
	for _, g := range gs {
		t.be.Copy(g, tensor.New(st, off, g.Shape()...))
		off += g.Numel()
	}
	lv := tensor.New(st, off, loss.Shape()...)
	t.be.Copy(loss, lv)
	if err := t.be.Sync(); err != nil {
		return nil, err
	}
	if err := t.comm.AllReduce(context.Background(), t.bucket, dist.Avg); err != nil {
		return nil, fmt.Errorf("ssl: averaging the gradients of epoch %d step %d: %w", t.Epoch+1, t.Step+1, err)
	}
	off = 0
	for _, g := range gs {
		t.be.Copy(tensor.New(st, off, g.Shape()...), g)
		off += g.Numel()
	}
	return lv, nil
}

// allGatherRows returns the rows of x [n, d] of every rank of c, in rank
// order [W*n, d]. Its backward sums the gradient of the gathered rows over
// the ranks (a reduce-scatter) and gives this rank's block to x: each
// rank's loss depends on every rank's rows, so x's gradient is the sum of
// what every rank's loss sends it. (Keeping only this rank's own gradient of
// its block, as a widely copied version does, loses the other ranks' terms.)
// Every rank must call it with rows of the same shape.
func allGatherRows(tp *autograd.Tape, c dist.Comm, x *autograd.Var) *autograd.Var {
	be := tp.Backend()
	w := c.Size()
	shape := append([]int{w * x.Shape()[0]}, x.Shape()[1:]...)
	y := be.Zeros(shape...)
	ctx := context.Background()
	if err := c.AllGather(ctx, contiguous(be, x.Value), y); err != nil {
		panic(&nn.CommError{Op: "all-gather of embeddings", Err: err})
	}
	return tp.Record(y, []*autograd.Var{x}, func(dy *tensor.Tensor) {
		dx := be.Zeros(x.Shape()...)
		if err := c.ReduceScatter(ctx, contiguous(be, dy), dx, dist.Sum); err != nil {
			panic(&nn.CommError{Op: "reduce-scatter of embedding gradients", Err: err})
		}
		tp.Accumulate(x, dx)
	})
}

// contiguous returns t, or a contiguous copy of it.
func contiguous(be kernels.Backend, t *tensor.Tensor) *tensor.Tensor {
	if t.IsContiguous() {
		return t
	}
	c := be.Zeros(t.Shape()...)
	be.Copy(t, c)
	return c
}

// ntXent is NT-Xent over rows (n images, blocks blocks; see ntXentParams).
// Distributed, the anchors are this rank's rows and the keys every rank's
// (allGatherRows), with the positives, self rows and image identities
// renumbered into the gathered rows: the loss is the mean over this rank's
// anchors, against the negatives of the global batch.
func ntXent(tp *autograd.Tape, c dist.Comm, rows *autograd.Var, temp float32, n, blocks int, twins bool) *autograd.Var {
	if c == nil || c.Size() <= 1 {
		return tp.InfoNCE(rows, rows, nil, ntXentParams(temp, n, blocks, twins))
	}
	keys := allGatherRows(tp, c, rows)
	return tp.InfoNCE(rows, keys, nil, distNTXentParams(temp, n, blocks, twins, c.Rank(), c.Size()))
}

// distNTXentParams is ntXentParams for the rows of rank r of w against the
// rows of every rank gathered in rank order.
func distNTXentParams(t float32, n, blocks int, twins bool, r, w int) kernels.InfoNCEParams {
	rows := n * blocks
	half := rows / 2
	base := r * rows
	p := kernels.InfoNCEParams{Temperature: t, InBatchNegatives: true, Twins: twins,
		Pos: make([]int32, rows), Self: make([]int32, rows)}
	for i := range rows {
		p.Pos[i] = int32(base + (i+half)%rows)
		p.Self[i] = int32(base + i)
	}
	if twins {
		p.AnchorID = make([]int32, rows)
		for i := range rows {
			p.AnchorID[i] = int32(r*n + i%n)
		}
		p.KeyID = make([]int32, w*rows)
		for j := range p.KeyID {
			p.KeyID[j] = int32(j/rows*n + j%rows%n)
		}
	}
	return p
}

// setComm makes SimCLR's negatives those of every rank.
func (s *SimCLR) setComm(c dist.Comm, syncBN bool) error {
	s.comm = c
	if syncBN {
		nn.SetSyncBN(c, s.Enc, s.Proj)
	}
	return nil
}

// setComm synchronises SimSiam's batch norms; its loss is per image.
func (s *SimSiam) setComm(c dist.Comm, syncBN bool) error {
	if syncBN {
		nn.SetSyncBN(c, s.Enc, s.Proj, s.Pred)
	}
	return nil
}

// setComm synchronises BYOL's batch norms, the target network's too (as
// the paper's cross-replica batch norm); its loss is per image, and the
// target, a buffer, starts as rank 0's and takes the same EMA on every rank.
func (s *BYOL) setComm(c dist.Comm, syncBN bool) error {
	if syncBN {
		nn.SetSyncBN(c, s.Enc, s.Proj, s.Pred, s.EncT, s.ProjT)
	}
	return nil
}

// ranks is the number of ranks training together (1 on one device).
func (t *Trainer) ranks() int {
	if t.comm == nil {
		return 1
	}
	return t.comm.Size()
}

// optimizers returns the trainer's optimisers.
func (t *Trainer) optimizers() []optim.Optimizer {
	if t.fixed == nil {
		return []optim.Optimizer{t.opt}
	}
	return []optim.Optimizer{t.opt, t.fixed}
}
