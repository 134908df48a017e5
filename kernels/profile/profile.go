// Package profile times every call a program makes on a kernels.Backend and
// reports where the time goes, by op and by pass (convolution forward,
// backward-data, backward-filter, batch norm, elementwise, optimiser, ...),
// with each op's share of the total, its arithmetic rate against the FMA
// peak and its memory traffic against the measured bandwidth.
//
// Wrap a backend, run the work through the wrapper, read the report:
//
//	pb := profile.Wrap(be, profile.Options{})
//	... build the model on pb, run steps ...
//	pb.Reset()          // drop the warm-up
//	... run timed steps ...
//	pb.Report().Write(os.Stdout, profile.Machine{PeakGFLOPS: 440, BandwidthGBs: 40})
//
// The wrapper forwards every call; capabilities are reached through
// kernels.InfoNCE and the other dispatch functions, so a fused kernel of the
// wrapped backend is timed as one op and a composite as the core ops it is
// made of would be, under the capability's name. On an accelerator the
// wrapper synchronises after every call (Options.NoSync turns it off), so a
// profile there measures kernels one at a time.
package profile

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"hallucinator/kernels"
	"hallucinator/tensor"
)

// Options configures Wrap.
type Options struct {
	// NoSync leaves out the Sync after each call that Wrap adds on an
	// accelerator (Caps().Accelerator); calls then measure only their
	// launch.
	NoSync bool
}

// Backend is a kernels.Backend that times the calls it forwards. It is safe
// for concurrent use.
type Backend struct {
	in   kernels.Backend
	sync bool

	mu    sync.Mutex
	stats map[key]*Entry
	order []key
}

// Wrap returns a Backend that forwards to b and times each call.
func Wrap(b kernels.Backend, o Options) *Backend {
	return &Backend{in: b, sync: b.Caps().Accelerator && !o.NoSync, stats: map[key]*Entry{}}
}

// Unwrap returns the wrapped backend.
func (p *Backend) Unwrap() kernels.Backend { return p.in }

// Reset forgets every call recorded so far (a warm-up, say).
func (p *Backend) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = map[key]*Entry{}
	p.order = nil
}

type key struct{ op, shape string }

// Entry is the record of one op at one shape.
type Entry struct {
	Op    string // the Backend method
	Pass  string // its group: see Passes
	Shape string // the sizes that matter, e.g. "256x64x32x32 k64 3x3 s1"
	Calls int
	Time  time.Duration
	// Flops counts the arithmetic (an FMA as two operations) of the calls
	// whose cost is arithmetic (products, convolutions), 0 for the others.
	Flops float64
	// Bytes counts the memory the calls must read and write at least
	// (each input and output once).
	Bytes float64
}

// Passes are the groups of Entry.Pass, in the order reports list them.
var Passes = []string{
	"conv forward", "conv backward-data", "conv backward-filter", "gemm",
	"batchnorm forward", "batchnorm backward", "elementwise", "pooling",
	"reduction", "rows", "loss", "optimiser", "memory",
}

// begin returns the time a call starts.
func (p *Backend) begin() time.Time { return time.Now() }

// end records a call that started at t0.
func (p *Backend) end(t0 time.Time, op, pass, shape string, flops, bytes float64) {
	if p.sync {
		_ = p.in.Sync()
	}
	el := time.Since(t0)
	k := key{op, shape}
	p.mu.Lock()
	e := p.stats[k]
	if e == nil {
		e = &Entry{Op: op, Pass: pass, Shape: shape}
		p.stats[k] = e
		p.order = append(p.order, k)
	}
	e.Calls++
	e.Time += el
	e.Flops += flops
	e.Bytes += bytes
	p.mu.Unlock()
}

// Report is a snapshot of the recorded calls.
type Report struct {
	Entries []Entry // by time, longest first
	Total   time.Duration
}

// Report returns the calls recorded since Wrap or Reset.
func (p *Backend) Report() Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := Report{Entries: make([]Entry, 0, len(p.order))}
	for _, k := range p.order {
		e := *p.stats[k]
		r.Entries = append(r.Entries, e)
		r.Total += e.Time
	}
	sort.SliceStable(r.Entries, func(i, j int) bool { return r.Entries[i].Time > r.Entries[j].Time })
	return r
}

// ByPass sums the entries of each pass, in the order of Passes (passes with
// no calls left out).
func (r Report) ByPass() []Entry {
	sum := map[string]*Entry{}
	for _, e := range r.Entries {
		s := sum[e.Pass]
		if s == nil {
			s = &Entry{Pass: e.Pass, Op: e.Pass}
			sum[e.Pass] = s
		}
		s.Calls += e.Calls
		s.Time += e.Time
		s.Flops += e.Flops
		s.Bytes += e.Bytes
	}
	var out []Entry
	for _, name := range Passes {
		if s := sum[name]; s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// Machine holds the ceilings a report measures against; a zero field leaves
// its column out.
type Machine struct {
	PeakGFLOPS   float64 // FMA peak of the threads in use, e.g. blas.MeasurePeak
	BandwidthGBs float64 // memory bandwidth, e.g. MeasureBandwidth
}

// Write prints the report: the passes, then the top ops (at most top; 0
// for all), each with its share of the total, GFLOP/s and fraction of the
// peak for arithmetic ops, GB/s and fraction of the bandwidth for the
// others. steps divides the times (per-step figures); 0 or 1 prints totals.
func (r Report) Write(w io.Writer, m Machine, steps, top int) error {
	if steps < 1 {
		steps = 1
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name, shape string, e Entry) {
		sec := e.Time.Seconds()
		share := 0.0
		if r.Total > 0 {
			share = 100 * float64(e.Time) / float64(r.Total)
		}
		rate, frac := "", ""
		switch {
		case e.Flops > 0 && sec > 0:
			g := e.Flops / sec / 1e9
			rate = fmt.Sprintf("%.1f GFLOP/s", g)
			if m.PeakGFLOPS > 0 {
				frac = fmt.Sprintf("%.0f%% peak", 100*g/m.PeakGFLOPS)
			}
		case e.Bytes > 0 && sec > 0:
			g := e.Bytes / sec / 1e9
			rate = fmt.Sprintf("%.1f GB/s", g)
			if m.BandwidthGBs > 0 {
				frac = fmt.Sprintf("%.0f%% bw", 100*g/m.BandwidthGBs)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f ms\t%.1f%%\t%s\t%s\t\n", name, shape,
			e.Calls/steps, 1e3*sec/float64(steps), share, rate, frac)
	}
	fmt.Fprintf(tw, "pass\t\tcalls\ttime\tshare\trate\tof ceiling\t\n")
	for _, e := range r.ByPass() {
		row(e.Pass, "", e)
	}
	row("total", "", Entry{Time: r.Total, Calls: sumCalls(r.Entries)})
	fmt.Fprintf(tw, "\t\t\t\t\t\t\t\nop\tshape\tcalls\ttime\tshare\trate\tof ceiling\t\n")
	for i, e := range r.Entries {
		if top > 0 && i == top {
			break
		}
		row(e.Op, e.Shape, e)
	}
	return tw.Flush()
}

func sumCalls(es []Entry) int {
	n := 0
	for _, e := range es {
		n += e.Calls
	}
	return n
}

// dims formats a shape as "AxBxC".
func dims(t *tensor.Tensor) string {
	if t == nil {
		return "nil"
	}
	s := t.Shape()
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "x")
}

// nbytes is the size of the tensors in bytes (nil counts 0).
func nbytes(ts ...*tensor.Tensor) float64 {
	n := 0
	for _, t := range ts {
		if t != nil {
			n += t.Numel()
		}
	}
	return 4 * float64(n)
}

// MeasureBandwidth times an elementwise add over three arrays of 32 Mi
// floats on b (well beyond any cache), best of reps runs, and returns the
// bytes moved per second in GB/s: the ceiling of memory-bound ops.
func MeasureBandwidth(b kernels.Backend, reps int) float64 {
	const n = 32 << 20
	x, y, z := b.Zeros(n), b.Zeros(n), b.Zeros(n)
	b.Add(x, y, z) // touch the pages
	_ = b.Sync()
	best := 0.0
	for range max(reps, 1) {
		t0 := time.Now()
		b.Add(x, y, z)
		_ = b.Sync()
		best = max(best, 3*4*n/time.Since(t0).Seconds()/1e9)
	}
	return best
}
