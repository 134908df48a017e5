package dist

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"hallucinator/tensor"
)

// MPILibraryEnv names the environment variable that, when set, is the path
// of the MPI shim library (libhalmpi.so) to load.
const MPILibraryEnv = "HALLUCINATOR_MPI_LIB"

// mpiLibName is the file name of the shim that `make mpi` builds from
// dist/mpi/halmpi.c.
const mpiLibName = "libhalmpi.so"

// mpiABI is the shim's halmpi_abi() this package was written against.
const mpiABI = 1

// ErrMPINotFound is wrapped by NewMPI's error when the shim or the MPI
// runtime it links (MPICH's libmpich.so.12) cannot be loaded.
var ErrMPINotFound = errors.New("dist: MPI library not found")

// MPI is the communicator of the ranks of an MPI job (MPI_COMM_WORLD), over
// MPICH's ABI through the shim libhalmpi.so, opened with dlopen at run time.
// It serves host tensors.
//
// Every collective first checks, with a small all-gather of the
// collectives' descriptions, that all ranks entered the same collective
// with the same sizes, op and root; when they did not, every rank returns
// the same error naming the collectives (SetChecked(false) skips the check,
// for speed, after which mismatched calls are MPI's undefined behaviour).
// MPI errors come back as errors naming the collective (the communicator
// uses MPI_ERRORS_RETURN). After any error the communicator is failed and
// later collectives return an error.
//
// A collective that does not finish within the timeout given to NewMPI
// (because a rank died, hangs or called something else unchecked), or
// whose context ends while it is in flight, cannot be taken back from MPI:
// the rank then writes an error naming the collective and the time waited
// to stderr and ends the whole job with MPI_Abort, after which the
// launcher (mpiexec) stops every rank with a non-zero status. So no rank
// hangs, but such a call does not return. A context that has ended before
// the call returns its error without entering the collective.
type MPI struct {
	mu      sync.Mutex
	rank    int
	size    int
	timeout time.Duration
	checked bool
	gen     int64
	failed  error
	closed  bool
	// Library is the path of the shim loaded, Version MPI's library version.
	Library, Version string
}

var _ Comm = (*MPI)(nil)

// mpiOpen guards the one MPI world of a process.
var mpiOpen struct {
	sync.Mutex
	comm      *MPI
	finalized bool
}

// NewMPI loads the shim, initializes MPI (MPI_Init_thread with
// MPI_THREAD_SERIALIZED) unless the program did, and returns the
// communicator of MPI_COMM_WORLD's ranks, the ranks the launcher started.
// timeout bounds every collective (<= 0: no bound; see MPI for what
// happens when it passes). A process has one MPI communicator: a second
// NewMPI returns the first while it is open; after its Close (which
// finalizes MPI) NewMPI fails.
func NewMPI(timeout time.Duration) (Comm, error) {
	mpiOpen.Lock()
	defer mpiOpen.Unlock()
	if mpiOpen.comm != nil {
		return mpiOpen.comm, nil
	}
	if mpiOpen.finalized {
		return nil, errors.New("dist: MPI was finalized by an earlier Close; it cannot be initialized again")
	}
	path, err := loadMPI()
	if err != nil {
		return nil, err
	}
	m := &MPI{timeout: timeout, checked: true, Library: path}
	if m.rank, m.size, m.Version, err = mpiInit(); err != nil {
		return nil, err
	}
	mpiOpen.comm = m
	return m, nil
}

// mpiLibraryCandidates lists where the shim is looked for, in order:
// $HALLUCINATOR_MPI_LIB (alone when set); build/libhalmpi.so in the module
// root found by walking up from the working directory to go.mod;
// libhalmpi.so next to the executable; plain "libhalmpi.so" (the dynamic
// loader's search path).
func mpiLibraryCandidates() []string {
	if p := os.Getenv(MPILibraryEnv); p != "" {
		return []string{p}
	}
	var c []string
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				c = append(c, filepath.Join(dir, "build", mpiLibName))
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		c = append(c, filepath.Join(filepath.Dir(exe), mpiLibName))
	}
	return append(c, mpiLibName)
}

// loadMPI opens the first candidate that loads and returns its path.
// Candidate paths that do not exist are skipped; when the shim exists but
// its MPI runtime does not load, the error says to install MPICH.
func loadMPI() (string, error) {
	if !mpiCgo {
		return "", fmt.Errorf("%w: built with CGO_ENABLED=0; the MPI communicator needs cgo to dlopen %s: rebuild with CGO_ENABLED=1",
			ErrMPINotFound, mpiLibName)
	}
	var tried []string
	for _, path := range mpiLibraryCandidates() {
		if strings.ContainsRune(path, filepath.Separator) {
			if _, err := os.Stat(path); err != nil {
				tried = append(tried, path+": not found")
				continue
			}
		}
		err := mpiDlopen(path)
		if err == nil {
			if abi := mpiShimABI(); abi != mpiABI {
				return "", fmt.Errorf("dist: %s has ABI %d, this package needs %d: rebuild it with `make mpi`", path, abi, mpiABI)
			}
			return path, nil
		}
		msg := err.Error()
		if strings.Contains(msg, "libmpi") && strings.Contains(msg, "cannot open shared object") {
			return "", fmt.Errorf("dist: MPI runtime not found: %s needs MPICH's library (%s); install MPICH "+
				"with scripts/install-mpi.sh (or `make mpi`): %w", path, msg, ErrMPINotFound)
		}
		tried = append(tried, path+": "+msg)
	}
	return "", fmt.Errorf("%w: build it with `make mpi` (or set %s to libhalmpi.so's path); tried:\n\t%s",
		ErrMPINotFound, MPILibraryEnv, strings.Join(tried, "\n\t"))
}

func (m *MPI) Rank() int { return m.rank }
func (m *MPI) Size() int { return m.size }

// SetChecked turns the check that all ranks entered the same collective on
// (the default) or off. Every rank must make the same choice.
func (m *MPI) SetChecked(on bool) {
	m.mu.Lock()
	m.checked = on
	m.mu.Unlock()
}

// SetTimeout changes the bound on this rank's collectives (<= 0: none),
// for instance a longer one around a first collective that waits for slow
// starters.
func (m *MPI) SetTimeout(d time.Duration) {
	m.mu.Lock()
	m.timeout = d
	m.mu.Unlock()
}

// Close frees the communicator and finalizes MPI (when NewMPI initialized
// it); every rank must call it. Later calls return an error.
func (m *MPI) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	mpiOpen.Lock()
	mpiOpen.comm, mpiOpen.finalized = nil, true
	mpiOpen.Unlock()
	if rc := mpiFinalize(); rc != 0 {
		return fmt.Errorf("dist: MPI_Finalize: %s", mpiErrorString(rc))
	}
	return nil
}

// The kinds of the descriptions halmpi_agree exchanges; a rank whose
// arguments are invalid sends its kind negated.
const (
	kindAllReduce = 1 + iota
	kindBroadcast
	kindAllGather
	kindReduceScatter
	kindBarrier
)

// describe spells a description {kind, count, op, root} as NewGroup's
// errors do.
func describe(d [4]int64) string {
	switch d[0] {
	case kindAllReduce:
		return fmt.Sprintf("all-reduce(%v) of %d values", Op(d[2]), d[1])
	case kindBroadcast:
		return fmt.Sprintf("broadcast(root %d) of %d values", d[3], d[1])
	case kindAllGather:
		return fmt.Sprintf("all-gather of %d values", d[1])
	case kindReduceScatter:
		return fmt.Sprintf("reduce-scatter(%v) of %d values", Op(d[2]), d[1])
	case kindBarrier:
		return "barrier"
	}
	return fmt.Sprintf("collective %d", d[0])
}

// Codes of the shim besides MPI's error codes.
const (
	mpiShimTimeout = -1
	mpiCanceled    = -2
	mpiTooBig      = -3
	mpiNotInit     = -4
)

// collective runs one collective: the check of the descriptions, then do,
// which calls the shim with the generation that cancels it.
func (m *MPI) collective(ctx context.Context, desc [4]int64, invalid error, do func(gen int64) int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name := describe(desc)
	where := fmt.Sprintf("rank %d of %d", m.rank, m.size)
	if m.closed {
		return fmt.Errorf("dist: MPI %s on %s: communicator closed", name, where)
	}
	if m.failed != nil {
		return fmt.Errorf("dist: MPI %s on %s: the communicator failed earlier: %w", name, where, m.failed)
	}
	if invalid != nil && !m.checked {
		return fmt.Errorf("dist: MPI %s on %s: %w", name, where, invalid)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dist: MPI %s on %s: %w", name, where, err)
	}
	gen := m.gen
	m.gen++
	if done := ctx.Done(); done != nil {
		stop := make(chan struct{})
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			select {
			case <-done:
				mpiCancel(gen)
			case <-stop:
			}
		}()
		defer func() { close(stop); <-finished }()
	}
	fail := func(rc int, what string) error {
		switch rc {
		case mpiShimTimeout, mpiCanceled:
			why := fmt.Sprintf("did not finish within %v", m.timeout)
			if rc == mpiCanceled {
				why = fmt.Sprintf("was abandoned when its context ended (%v)", ctx.Err())
			}
			fmt.Fprintf(os.Stderr, "dist: MPI %s%s on %s %s; a collective in flight cannot be taken back, "+
				"so this rank ends the job with MPI_Abort\n", name, what, where, why)
			mpiAbort(70)
			os.Exit(70) // MPI_Abort does not return
		case mpiTooBig:
			m.failed = fmt.Errorf("dist: MPI %s on %s: more than 2^31-1 values", name, where)
		case mpiNotInit:
			m.failed = fmt.Errorf("dist: MPI %s on %s: MPI is not initialized", name, where)
		default:
			m.failed = fmt.Errorf("dist: MPI %s%s on %s failed: %s (MPI error %d)", name, what, where, mpiErrorString(rc), rc)
		}
		return m.failed
	}
	if m.checked {
		d := desc
		if invalid != nil {
			d[0] = -d[0]
		}
		all := make([]int64, 4*m.size)
		if rc := mpiAgree(d, all, m.timeoutSeconds(), gen); rc != 0 {
			return fail(rc, " (checking that the ranks agree)")
		}
		if invalid != nil {
			m.failed = fmt.Errorf("dist: MPI %s on %s: %w", name, where, invalid)
			return m.failed
		}
		// Every rank sees the same descriptions and so returns the same
		// error.
		var first [4]int64
		copy(first[:], all)
		for r := 0; r < m.size; r++ {
			var o [4]int64
			copy(o[:], all[4*r:])
			if o[0] < 0 {
				o[0] = -o[0]
				m.failed = fmt.Errorf("dist: MPI %s on %s: rank %d called %s with invalid arguments",
					name, where, r, describe(o))
				return m.failed
			}
		}
		for r := 1; r < m.size; r++ {
			var o [4]int64
			copy(o[:], all[4*r:])
			if o != first {
				m.failed = fmt.Errorf("dist: collective mismatch: rank 0 called %s while rank %d called %s",
					describe(first), r, describe(o))
				return m.failed
			}
		}
	}
	if rc := do(gen); rc != 0 {
		return fail(rc, "")
	}
	return nil
}

func (m *MPI) timeoutSeconds() float64 {
	if m.timeout <= 0 {
		return 0
	}
	return m.timeout.Seconds()
}

func opFlag(op Op) int {
	if op == Avg {
		return 1
	}
	return 0
}

func (m *MPI) AllReduce(ctx context.Context, t *tensor.Tensor, op Op) error {
	d, err := hostData(t, "the tensor")
	if err == nil {
		err = checkOp(op)
	}
	return m.collective(ctx, [4]int64{kindAllReduce, int64(numel(t)), int64(op), 0}, err, func(gen int64) int {
		return mpiAllReduce(d, opFlag(op), m.timeoutSeconds(), gen)
	})
}

func (m *MPI) Broadcast(ctx context.Context, t *tensor.Tensor, root int) error {
	d, err := hostData(t, "the tensor")
	if err == nil && (root < 0 || root >= m.size) {
		err = fmt.Errorf("root %d is not a rank of %d", root, m.size)
	}
	return m.collective(ctx, [4]int64{kindBroadcast, int64(numel(t)), 0, int64(root)}, err, func(gen int64) int {
		return mpiBroadcast(d, root, m.timeoutSeconds(), gen)
	})
}

func (m *MPI) AllGather(ctx context.Context, send, recv *tensor.Tensor) error {
	s, err := hostData(send, "send")
	var r []float32
	if err == nil {
		r, err = hostData(recv, "recv")
	}
	if err == nil && len(r) != m.size*len(s) {
		err = fmt.Errorf("recv has %d values, not %d ranks times send's %d", len(r), m.size, len(s))
	}
	if err == nil && overlap(s, r) {
		s = append([]float32(nil), s...)
	}
	return m.collective(ctx, [4]int64{kindAllGather, int64(numel(send)), 0, 0}, err, func(gen int64) int {
		return mpiAllGather(s, r, m.timeoutSeconds(), gen)
	})
}

func (m *MPI) ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op Op) error {
	s, err := hostData(send, "send")
	var r []float32
	if err == nil {
		r, err = hostData(recv, "recv")
	}
	if err == nil && len(s) != m.size*len(r) {
		err = fmt.Errorf("send has %d values, not %d ranks times recv's %d", len(s), m.size, len(r))
	}
	if err == nil {
		err = checkOp(op)
	}
	if err == nil && overlap(s, r) {
		s = append([]float32(nil), s...)
	}
	return m.collective(ctx, [4]int64{kindReduceScatter, int64(numel(recv)), int64(op), 0}, err, func(gen int64) int {
		return mpiReduceScatter(s, r, opFlag(op), m.timeoutSeconds(), gen)
	})
}

func (m *MPI) Barrier(ctx context.Context) error {
	return m.collective(ctx, [4]int64{kindBarrier, 0, 0, 0}, nil, func(gen int64) int {
		return mpiBarrier(m.timeoutSeconds(), gen)
	})
}

// overlap says whether two slices share memory (MPI forbids aliased send
// and receive buffers).
func overlap(a, b []float32) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0, a1 := addr(a), addr(a)+uintptr(len(a))*4
	b0, b1 := addr(b), addr(b)+uintptr(len(b))*4
	return a0 < b1 && b0 < a1
}

// BenchAllReduceMPI times iters blocking MPI_Allreduce calls (sum, in place)
// on buf directly in the shim, after warm-up calls and a barrier: the
// reference for the all-reduce of the MPI communicator. Every rank must
// call it. It returns the seconds per call.
func (m *MPI) BenchAllReduceMPI(buf []float32, iters int) (float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, rc := mpiBenchAllReduce(buf, iters)
	if rc != 0 {
		return 0, fmt.Errorf("dist: MPI_Allreduce: %s", mpiErrorString(rc))
	}
	return sec, nil
}
