package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"hallucinator/ssl"
)

// progress draws a one-line progress bar with loss, throughput and ETA on a
// terminal, and a line every few percent elsewhere (logs, pipes).
type progress struct {
	w        io.Writer
	tty      bool
	last     time.Time
	lastFrac float64
	// The evaluation stage shown by stage, and when it began.
	stageName  string
	stageStart time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// update shows the state after step of total steps of the run.
func (p *progress) update(prefix string, done, total int, loss, imgPerSec float64, eta time.Duration) {
	frac := float64(done) / float64(max(total, 1))
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) < 100*time.Millisecond && done < total {
			return
		}
		const width = 30
		n := int(frac * width)
		bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		fmt.Fprintf(p.w, "\r%s [%s] %5.1f%% loss %.4f %6.1f img/s ETA %s   ", prefix, bar, 100*frac, loss, imgPerSec, eta.Round(time.Second))
		p.last = now
		return
	}
	if frac-p.lastFrac >= 0.05 || done == total {
		fmt.Fprintf(p.w, "%s %5.1f%% loss %.4f %6.1f img/s ETA %s\n", prefix, 100*frac, loss, imgPerSec, eta.Round(time.Second))
		p.lastFrac = frac
	}
}

// done ends the line on a terminal.
func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
	p.lastFrac = 0
	p.stageName = ""
}

// stage shows the advance of an evaluation stage (ssl.EvalProgress), with
// the time it has left at the pace so far.
func (p *progress) stage(e ssl.EvalProgress) {
	if e.Done == 0 || p.stageName != e.Stage {
		if p.stageName != "" && p.stageName != e.Stage {
			p.done()
		}
		p.stageName, p.stageStart = e.Stage, time.Now()
	}
	frac := float64(e.Done) / float64(max(e.Total, 1))
	var eta time.Duration
	if e.Done > 0 {
		eta = time.Duration(float64(time.Since(p.stageStart)) * (1 - frac) / frac)
	}
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) < 100*time.Millisecond && e.Done < e.Total {
			return
		}
		const width = 30
		n := int(frac * width)
		bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		fmt.Fprintf(p.w, "\revaluation: %-15s [%s] %5.1f%% ETA %s   ", e.Stage, bar, 100*frac, eta.Round(time.Second))
		p.last = now
		return
	}
	if e.Done == e.Total || frac-p.lastFrac >= 0.25 {
		fmt.Fprintf(p.w, "evaluation: %s %5.1f%% ETA %s\n", e.Stage, 100*frac, eta.Round(time.Second))
		p.lastFrac = frac
	}
}
