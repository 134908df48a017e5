package dist

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"hallucinator/tensor"
)

// NewGroup returns the n communicators of a job whose ranks are goroutines
// of this process sharing memory, for tests: comms[r] is rank r, to be used
// by one goroutine. Each collective is a rendezvous of all n ranks; the last
// to arrive computes the result for everyone, reducing in rank order (rank
// 0's value plus rank 1's, plus rank 2's, ...), so that every rank gets the
// same bits whatever the timing. Avg is that sum divided by n.
//
// The group fails as a whole, as an NCCL communicator does: when ranks call
// different collectives (or the same with different sizes, ops or roots)
// every rank's call returns an error naming both; when a rank does not
// arrive within timeout of another's arrival (timeout <= 0: no limit), when
// a waiting rank's context ends, or when a rank closes its communicator
// while others wait for it, the waiting ranks return an error saying which
// ranks were missing. After a failure every later collective of the group
// returns an error. The group starts no goroutines.
func NewGroup(n int, timeout time.Duration) []Comm {
	if n < 1 {
		panic(fmt.Sprintf("dist: NewGroup of %d ranks", n))
	}
	g := &group{n: n, timeout: timeout, rounds: map[uint64]*round{}, closed: make([]bool, n)}
	comms := make([]Comm, n)
	for r := range comms {
		comms[r] = &member{g: g, rank: r}
	}
	return comms
}

// group is the shared state of the ranks of NewGroup.
type group struct {
	n       int
	timeout time.Duration

	mu     sync.Mutex
	rounds map[uint64]*round // collectives some rank has entered and some has not left
	err    error             // the first failure; every later call returns it
	closed []bool
}

// call is one rank's part in a collective.
type call struct {
	desc string // "all-reduce(sum) of 7 values": equal on every rank
	run  func(calls []*call)
	send []float32
	recv []float32
}

// round is the rendezvous of the seq-th collective of every rank.
type round struct {
	calls   []*call // by rank; nil until the rank arrives
	arrived int
	inside  int           // ranks that arrived and have not returned
	done    chan struct{} // closed when the round completes or fails
	over    bool          // done is closed
	err     error
}

// member is one rank's Comm.
type member struct {
	g      *group
	rank   int
	seq    uint64 // collectives entered
	closed bool
}

var _ Comm = (*member)(nil)

func (m *member) Rank() int { return m.rank }
func (m *member) Size() int { return m.g.n }

// Close leaves the group: this rank's later calls return an error, and
// ranks waiting for it in a collective, now or later, fail at once.
func (m *member) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed[m.rank] = true
	for _, rd := range g.rounds {
		if rd.calls[m.rank] == nil {
			g.failLocked(rd, fmt.Errorf("dist: %s: rank %d closed its communicator without entering it",
				rd.firstDesc(), m.rank))
		}
	}
	return nil
}

func (rd *round) firstDesc() string {
	for _, c := range rd.calls {
		if c != nil {
			return c.desc
		}
	}
	return "collective"
}

// missing lists the ranks that have not arrived.
func (rd *round) missing() []int {
	var m []int
	for r, c := range rd.calls {
		if c == nil {
			m = append(m, r)
		}
	}
	return m
}

// failLocked fails the round and the group; g.mu is held.
func (g *group) failLocked(rd *round, err error) {
	if rd.over {
		return
	}
	rd.over = true
	rd.err = err
	if g.err == nil {
		g.err = err
	}
	close(rd.done)
}

// enter is the rendezvous of one collective: c is this rank's part, or
// invalid says why this rank's arguments are wrong (the others then fail
// too, rather than wait for the timeout).
func (m *member) enter(ctx context.Context, c *call, invalid error) error {
	if m.closed {
		return fmt.Errorf("dist: %s on rank %d: communicator closed", c.desc, m.rank)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dist: %s on rank %d: %w", c.desc, m.rank, err)
	}
	g := m.g
	seq := m.seq
	m.seq++

	g.mu.Lock()
	if g.err != nil {
		err := g.err
		g.mu.Unlock()
		return fmt.Errorf("dist: %s on rank %d: the group failed earlier: %w", c.desc, m.rank, err)
	}
	rd := g.rounds[seq]
	if rd == nil {
		rd = &round{calls: make([]*call, g.n), done: make(chan struct{})}
		g.rounds[seq] = rd
	}
	rd.calls[m.rank] = c
	rd.arrived++
	rd.inside++
	if invalid != nil {
		g.failLocked(rd, fmt.Errorf("dist: %s on rank %d: %w", c.desc, m.rank, invalid))
	}
	for r, o := range rd.calls {
		if o != nil && r != m.rank && o.desc != c.desc {
			g.failLocked(rd, fmt.Errorf("dist: collective mismatch: rank %d called %s while rank %d called %s",
				r, o.desc, m.rank, c.desc))
			break
		}
	}
	// A rank that closed before this collective will never enter it.
	for r, cl := range g.closed {
		if cl && rd.calls[r] == nil {
			g.failLocked(rd, fmt.Errorf("dist: %s: rank %d closed its communicator without entering it", c.desc, r))
			break
		}
	}
	if !rd.over && rd.arrived == g.n {
		// The last rank computes everyone's result while the others wait
		// on done, so it may write their buffers.
		c.run(rd.calls)
		rd.over = true
		close(rd.done)
	}
	g.mu.Unlock()

	var timer <-chan time.Time
	if g.timeout > 0 {
		t := time.NewTimer(g.timeout)
		defer t.Stop()
		timer = t.C
	}
	var why error
	select {
	case <-rd.done:
	case <-timer:
		why = fmt.Errorf("timed out after %v", g.timeout)
	case <-ctx.Done():
		why = ctx.Err()
	}

	g.mu.Lock()
	if why != nil {
		// failLocked does nothing if the round completed or failed meanwhile.
		g.failLocked(rd, fmt.Errorf("dist: %s on rank %d %w waiting for ranks %s",
			c.desc, m.rank, wrapWhy{why}, ranks(rd.missing())))
	}
	err := rd.err
	rd.inside--
	// A completed round has seen every rank; after a failure, ranks that
	// arrive later stop at g.err and never look the round up.
	if rd.inside == 0 && (rd.err != nil || rd.arrived == g.n) {
		delete(g.rounds, seq)
	}
	g.mu.Unlock()
	return err
}

// wrapWhy formats a timeout or a context's error so that errors.Is finds
// context.Canceled and DeadlineExceeded through the group's error.
type wrapWhy struct{ err error }

func (w wrapWhy) Error() string {
	if errors.Is(w.err, context.Canceled) || errors.Is(w.err, context.DeadlineExceeded) {
		return "gave up (" + w.err.Error() + ")"
	}
	return w.err.Error()
}
func (w wrapWhy) Unwrap() error { return w.err }

func ranks(rs []int) string {
	sort.Ints(rs)
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmt.Sprint(r)
	}
	return strings.Join(s, ", ")
}

// hostData returns t's values, or an error for a device or non-contiguous
// tensor.
func hostData(t *tensor.Tensor, what string) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("%s is nil", what)
	}
	if t.Kind() != tensor.Host {
		return nil, fmt.Errorf("%s is a %v tensor; this communicator serves host tensors", what, t.Kind())
	}
	if !t.IsContiguous() {
		return nil, fmt.Errorf("%s is not contiguous", what)
	}
	return t.Data(), nil
}

// numel is t's number of elements, 0 for nil.
func numel(t *tensor.Tensor) int {
	if t == nil {
		return 0
	}
	return t.Numel()
}

// sumInto writes into dst the sum of the ranks' blocks [lo, lo+len(dst)) of
// src, in rank order, divided by n for Avg.
func sumInto(dst []float32, calls []*call, lo int, op Op) {
	copy(dst, calls[0].send[lo:lo+len(dst)])
	for _, c := range calls[1:] {
		s := c.send[lo : lo+len(dst)]
		for i := range dst {
			dst[i] += s[i]
		}
	}
	if op == Avg {
		n := float32(len(calls))
		for i := range dst {
			dst[i] /= n
		}
	}
}

func checkOp(op Op) error {
	if op != Sum && op != Avg {
		return fmt.Errorf("unknown reduction %v", op)
	}
	return nil
}

func (m *member) AllReduce(ctx context.Context, t *tensor.Tensor, op Op) error {
	d, err := hostData(t, "the tensor")
	if err == nil {
		err = checkOp(op)
	}
	c := &call{desc: fmt.Sprintf("all-reduce(%v) of %d values", op, numel(t)), send: d}
	c.run = func(calls []*call) {
		res := make([]float32, len(d))
		sumInto(res, calls, 0, op)
		for _, o := range calls {
			copy(o.send, res)
		}
	}
	return m.enter(ctx, c, err)
}

func (m *member) Broadcast(ctx context.Context, t *tensor.Tensor, root int) error {
	d, err := hostData(t, "the tensor")
	if err == nil && (root < 0 || root >= m.g.n) {
		err = fmt.Errorf("root %d is not a rank of %d", root, m.g.n)
	}
	c := &call{desc: fmt.Sprintf("broadcast(root %d) of %d values", root, numel(t)), send: d}
	c.run = func(calls []*call) {
		for r, o := range calls {
			if r != root {
				copy(o.send, calls[root].send)
			}
		}
	}
	return m.enter(ctx, c, err)
}

func (m *member) AllGather(ctx context.Context, send, recv *tensor.Tensor) error {
	s, err := hostData(send, "send")
	var r []float32
	if err == nil {
		r, err = hostData(recv, "recv")
	}
	if err == nil && len(r) != m.g.n*len(s) {
		err = fmt.Errorf("recv has %d values, not %d ranks times send's %d", len(r), m.g.n, len(s))
	}
	c := &call{desc: fmt.Sprintf("all-gather of %d values", numel(send)), send: s, recv: r}
	c.run = func(calls []*call) {
		n := len(s)
		for _, o := range calls {
			for q, p := range calls {
				copy(o.recv[q*n:(q+1)*n], p.send)
			}
		}
	}
	return m.enter(ctx, c, err)
}

func (m *member) ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op Op) error {
	s, err := hostData(send, "send")
	var r []float32
	if err == nil {
		r, err = hostData(recv, "recv")
	}
	if err == nil && len(s) != m.g.n*len(r) {
		err = fmt.Errorf("send has %d values, not %d ranks times recv's %d", len(s), m.g.n, len(r))
	}
	if err == nil {
		err = checkOp(op)
	}
	c := &call{desc: fmt.Sprintf("reduce-scatter(%v) of %d values", op, numel(recv)), send: s, recv: r}
	c.run = func(calls []*call) {
		// Results go to fresh memory first: a rank's recv may alias its send.
		n := len(r)
		res := make([]float32, len(s))
		for q := range calls {
			sumInto(res[q*n:(q+1)*n], calls, q*n, op)
		}
		for q, o := range calls {
			copy(o.recv, res[q*n:(q+1)*n])
		}
	}
	return m.enter(ctx, c, err)
}

func (m *member) Barrier(ctx context.Context) error {
	return m.enter(ctx, &call{desc: "barrier", run: func([]*call) {}}, nil)
}
