package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws a one-line progress bar with loss, throughput and ETA on a
// terminal, and a line every few percent elsewhere (logs, pipes).
type progress struct {
	w        io.Writer
	tty      bool
	last     time.Time
	lastFrac float64
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
}
