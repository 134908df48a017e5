// Package dist is data-parallel training's communication: one Comm
// interface of collectives (all-reduce, broadcast, all-gather,
// reduce-scatter, barrier) over the ranks of a job, with implementations on
// the established engines, opened at run time so that a plain build needs
// none of them: NCCL for device tensors, MPI (MPICH's ABI) for host tensors,
// and an in-process group of goroutines for tests. Every collective takes a
// context and returns an error naming the collective when a rank dies, the
// context ends or the engine fails; none hangs.
//
// NewGroup is the in-process group. NewMPI is MPI: `make mpi` installs
// Debian's MPICH when missing (scripts/install-mpi.sh) and builds the shim
// build/libhalmpi.so from dist/mpi/halmpi.c with mpicc; NewMPI finds it
// through $HALLUCINATOR_MPI_LIB, build/ in the module root, the
// executable's directory or the loader's path, opens it with dlopen (cgo)
// and initializes MPI. A job is started by a launcher, for instance
//
//	mpiexec -n 4 ./program
//
// and FromEnv reads the rank, size and local rank that torchrun, Open MPI,
// MPICH or SLURM give each process. A collective of MPI that outlives its
// timeout ends the whole job with MPI_Abort (see MPI).
package dist

import (
	"context"
	"fmt"

	"hallucinator/tensor"
)

// Op is the reduction of AllReduce and ReduceScatter.
type Op int

const (
	// Sum adds the ranks' values.
	Sum Op = iota
	// Avg adds them and divides by the number of ranks.
	Avg
)

func (o Op) String() string {
	switch o {
	case Sum:
		return "sum"
	case Avg:
		return "avg"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Comm is a communicator: the ranks 0..Size()-1 of one job. Collectives
// must be called by every rank in the same order with tensors of the same
// shapes; they work in place on contiguous tensors on the device the
// implementation serves (host for MPI and the in-process group, the CUDA
// backend's device for NCCL). A Comm is not safe for concurrent use.
type Comm interface {
	// Rank is this process's rank, Size the number of ranks.
	Rank() int
	Size() int
	// AllReduce replaces t on every rank by the reduction of all ranks' t.
	AllReduce(ctx context.Context, t *tensor.Tensor, op Op) error
	// Broadcast copies root's t into every rank's t.
	Broadcast(ctx context.Context, t *tensor.Tensor, root int) error
	// AllGather writes every rank's send, in rank order, into recv (of
	// Size() times send's elements).
	AllGather(ctx context.Context, send, recv *tensor.Tensor) error
	// ReduceScatter reduces send (Size() times recv's elements) across
	// ranks and leaves block Rank() of the result in recv.
	ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op Op) error
	// Barrier returns when every rank has entered it.
	Barrier(ctx context.Context) error
	// Close releases the communicator; later calls return an error.
	Close() error
}

// Single is the communicator of a job of one rank: every collective is the
// identity (AllGather and ReduceScatter copy).
type Single struct{}

func (Single) Rank() int { return 0 }
func (Single) Size() int { return 1 }
func (Single) AllReduce(ctx context.Context, t *tensor.Tensor, op Op) error {
	return ctx.Err()
}
func (Single) Broadcast(ctx context.Context, t *tensor.Tensor, root int) error {
	if root != 0 {
		return fmt.Errorf("dist: broadcast from rank %d of a job of one", root)
	}
	return ctx.Err()
}
func (Single) AllGather(ctx context.Context, send, recv *tensor.Tensor) error {
	if send.Numel() != recv.Numel() {
		return fmt.Errorf("dist: all-gather of %d values into %d", send.Numel(), recv.Numel())
	}
	copy(recv.Data(), send.Data())
	return ctx.Err()
}
func (Single) ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op Op) error {
	if send.Numel() != recv.Numel() {
		return fmt.Errorf("dist: reduce-scatter of %d values into %d", send.Numel(), recv.Numel())
	}
	copy(recv.Data(), send.Data())
	return ctx.Err()
}
func (Single) Barrier(ctx context.Context) error { return ctx.Err() }
func (Single) Close() error                      { return nil }

var _ Comm = Single{}
