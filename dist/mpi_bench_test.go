package dist

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"hallucinator/tensor"
)

// mpiBenchEnv, set to a number of ranks, makes TestMPIBench run (make
// bench-mpi).
const mpiBenchEnv = "HALLUCINATOR_DIST_MPI_BENCH"

// TestMPIBench measures the all-reduce (sum) bandwidth of the MPI
// communicator for 4 KB to 64 MB, with and without the check that the
// ranks agree, beside blocking MPI_Allreduce timed in the shim, under
// mpiexec -n $HALLUCINATOR_DIST_MPI_BENCH. Bus bandwidth is
// 2(n-1)/n * bytes / time, the figure NCCL's tests report.
func TestMPIBench(t *testing.T) {
	n := os.Getenv(mpiBenchEnv)
	if n == "" {
		t.Skipf("the MPI all-reduce benchmark: make bench-mpi (or %s=2)", mpiBenchEnv)
	}
	mpiexec := mpiReady(t)
	out, err := runMPIWith(t, mpiexec, "bench", 10*time.Minute, []string{"-n", n})
	if err != nil {
		t.Fatalf("mpiexec: %v; output:\n%s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "bench: ") {
			t.Log(strings.TrimPrefix(l, "bench: "))
		}
	}
}

// mpiBenchChild is TestMPIChild's bench mode.
func mpiBenchChild(t *testing.T, c *MPI) {
	ctx := context.Background()
	w := float64(c.Size())
	bus := func(bytes int, sec float64) float64 { return 2 * (w - 1) / w * float64(bytes) / sec / 1e9 }
	say := func(format string, a ...any) {
		if c.Rank() == 0 {
			fmt.Printf("bench: "+format+"\n", a...)
		}
	}
	say("all-reduce (sum, float32, in place) on %d ranks; bus bandwidth GB/s (time per call)", c.Size())
	say("%8s %22s %22s %22s", "size", "dist.MPI checked", "dist.MPI unchecked", "MPI_Allreduce (shim)")
	timeGo := func(x *tensor.Tensor, iters int) float64 {
		for i := 0; i < 3; i++ {
			if err := c.AllReduce(ctx, x, Sum); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Barrier(ctx); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < iters; i++ {
			if err := c.AllReduce(ctx, x, Sum); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start).Seconds() / float64(iters)
	}
	cell := func(bytes int, sec float64) string {
		return fmt.Sprintf("%7.2f (%9.1f us)", bus(bytes, sec), sec*1e6)
	}
	// Each figure is the best of 3 runs, the three ways alternated, so that
	// a burst of other work on the machine shows in none of them.
	for bytes := 4 << 10; bytes <= 64<<20; bytes *= 4 {
		iters := max(5, min(2000, (256<<20)/bytes))
		x := tensor.Zeros(bytes / 4)
		checked, unchecked, ref := 1e9, 1e9, 1e9
		for rep := 0; rep < 3; rep++ {
			c.SetChecked(true)
			checked = min(checked, timeGo(x, iters))
			c.SetChecked(false)
			unchecked = min(unchecked, timeGo(x, iters))
			sec, err := c.BenchAllReduceMPI(x.Data(), iters)
			if err != nil {
				t.Fatal(err)
			}
			ref = min(ref, sec)
		}
		c.SetChecked(true)
		say("%8s %22s %22s %22s", sizeName(bytes), cell(bytes, checked), cell(bytes, unchecked), cell(bytes, ref))
	}
}

func sizeName(b int) string {
	if b >= 1<<20 {
		return strconv.Itoa(b>>20) + " MB"
	}
	return strconv.Itoa(b>>10) + " KB"
}
