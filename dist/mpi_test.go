package dist

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hallucinator/tensor"
)

// The MPI tests re-execute the test binary under `mpiexec -n 2` with
// mpiChildEnv naming what the ranks do (TestMPIChild); the parent checks
// what they print and how they end.
const mpiChildEnv = "HALLUCINATOR_DIST_MPI_CHILD"

// mpiTimeout is the collective timeout of TestMPIRankDies's rank 0 once
// both ranks are known to run; elsewhere the children have a generous one,
// so that a loaded machine does not abort them.
const mpiTimeout = time.Second

// mpiReady skips the test unless the shim is built and mpiexec exists.
func mpiReady(t *testing.T) string {
	t.Helper()
	if !mpiCgo {
		t.Skip("MPI tests skipped: built without cgo")
	}
	lib := ""
	for _, p := range mpiLibraryCandidates() {
		if _, err := os.Stat(p); err == nil && strings.ContainsRune(p, filepath.Separator) {
			lib = p
			break
		}
	}
	if lib == "" {
		t.Skipf("MPI tests skipped: %s not built (make mpi; tried %v)", mpiLibName, mpiLibraryCandidates())
	}
	mpiexec, err := exec.LookPath("mpiexec")
	if err != nil {
		t.Skip("MPI tests skipped: no mpiexec on PATH (scripts/install-mpi.sh installs MPICH)")
	}
	return mpiexec
}

// runMPI runs TestMPIChild in mode under `mpiexec -n 2` with extra mpiexec
// flags and returns its output, its error and how long it took; it gives up
// after limit.
func runMPI(t *testing.T, mode string, limit time.Duration, flags ...string) (string, error, time.Duration) {
	t.Helper()
	mpiexec := mpiReady(t)
	start := time.Now()
	out, err := runMPIWith(t, mpiexec, mode, limit, append([]string{"-n", "2"}, flags...))
	return out, err, time.Since(start)
}

// runMPIWith runs TestMPIChild in mode under mpiexec with flags.
func runMPIWith(t *testing.T, mpiexec, mode string, limit time.Duration, flags []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	args := append(flags, os.Args[0], "-test.run", "^TestMPIChild$", "-test.v")
	cmd := exec.CommandContext(ctx, mpiexec, args...)
	cmd.Env = append(os.Environ(), mpiChildEnv+"="+mode)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mpiexec %v hung: killed after %v; output:\n%s", args, limit, out)
	}
	return string(out), err
}

// TestMPICollectives: every collective at awkward sizes on 2 MPI ranks gives
// both the in-process group's reference bits; then a mismatch is an error
// naming both collectives on both ranks.
func TestMPICollectives(t *testing.T) {
	out, err, d := runMPI(t, "collectives", 60*time.Second)
	t.Logf("mpiexec -n 2 took %v", d)
	if err != nil {
		t.Fatalf("mpiexec: %v; output:\n%s", err, out)
	}
	for r := 0; r < 2; r++ {
		for _, cc := range collectiveCases {
			for _, n := range awkwardSizes {
				if line := fmt.Sprintf("rank %d: %s n=%d ok", r, cc.name, n); !strings.Contains(out, line) {
					t.Errorf("missing %q", line)
				}
			}
		}
		if line := fmt.Sprintf("rank %d: mismatch ok", r); !strings.Contains(out, line) {
			t.Errorf("missing %q", line)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestMPIInvalid: a rank passing a device tensor gets an error saying so and
// the other an error naming the rank, not a hang.
func TestMPIInvalid(t *testing.T) {
	out, err, _ := runMPI(t, "invalid", 60*time.Second)
	if err != nil {
		t.Fatalf("mpiexec: %v; output:\n%s", err, out)
	}
	for r := 0; r < 2; r++ {
		if line := fmt.Sprintf("rank %d: invalid ok", r); !strings.Contains(out, line) {
			t.Errorf("missing %q; output:\n%s", line, out)
		}
	}
}

// TestMPIRankDies: rank 1 exits in the middle of the job; rank 0, in an
// all-reduce, ends with an error naming the collective within its timeout
// rather than hang, and the job ends with a failure.
func TestMPIRankDies(t *testing.T) {
	// Without -disable-auto-cleanup mpiexec would kill rank 0 as soon as
	// rank 1 dies; with it rank 0 must find out for itself.
	out, err, d := runMPI(t, "dies", 60*time.Second, "-disable-auto-cleanup")
	t.Logf("mpiexec -n 2 took %v; output:\n%s", d, out)
	if err == nil {
		t.Fatalf("the job succeeded")
	}
	if !strings.Contains(out, "rank 1: exiting") {
		t.Errorf("rank 1 did not reach its exit")
	}
	if !strings.Contains(out, "dist: MPI all-reduce(sum) of 1000 values") || !strings.Contains(out, "rank 0 of 2") {
		t.Errorf("rank 0 did not report the all-reduce")
	}
	if d > mpiTimeout+20*time.Second {
		t.Errorf("took %v with a timeout of %v", d, mpiTimeout)
	}
}

// TestMPIContextEnds: a context that ends while rank 0 waits in a
// collective for rank 1 (alive, but late) ends the job with an error naming
// the collective, long before the communicator's timeout.
func TestMPIContextEnds(t *testing.T) {
	out, err, d := runMPI(t, "cancel", 60*time.Second)
	if err == nil {
		t.Fatalf("the job succeeded; output:\n%s", out)
	}
	if !strings.Contains(out, "dist: MPI barrier") ||
		!strings.Contains(out, "on rank 0 of 2 was abandoned when its context ended (context deadline exceeded)") {
		t.Errorf("rank 0 did not report the barrier; output:\n%s", out)
	}
	if strings.Contains(out, "rank 1: late barrier returned") {
		t.Errorf("rank 1 was not stopped; output:\n%s", out)
	}
	if d > 20*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestMPINotFound: a missing shim is an error saying how to build it.
func TestMPINotFound(t *testing.T) {
	if mpiOpen.comm != nil {
		t.Skip("MPI already open")
	}
	t.Setenv(MPILibraryEnv, filepath.Join(t.TempDir(), "libhalmpi.so"))
	_, err := NewMPI(time.Second)
	how := "make mpi"
	if !mpiCgo {
		how = "CGO_ENABLED=1"
	}
	if !errors.Is(err, ErrMPINotFound) || !strings.Contains(err.Error(), how) ||
		!strings.Contains(err.Error(), "dist: MPI library not found") {
		t.Errorf("%v", err)
	}
}

// TestMPIRuntimeMissing: a shim whose MPI library cannot be loaded is an
// error saying to install MPICH. The shim here is a stand-in linked against
// a libmpich_gone.so.12 that is then removed.
func TestMPIRuntimeMissing(t *testing.T) {
	if !mpiCgo || mpiOpen.comm != nil || mpiLoaded() {
		t.Skip("needs cgo and a process without MPI loaded")
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "x.c")
	if err := os.WriteFile(src, []byte("int halmpi_abi(void) { return 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(dir, "libmpich_gone.so.12")
	shim := filepath.Join(dir, "libhalmpi.so")
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-Wl,-soname,libmpich_gone.so.12", "-o", gone, src},
		{"-shared", "-fPIC", "-o", shim, src, "-L" + dir, "-Wl,--no-as-needed", "-l:libmpich_gone.so.12"},
	} {
		if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
			t.Skipf("cc %v: %v\n%s", args, err, out)
		}
	}
	os.Remove(gone)
	t.Setenv(MPILibraryEnv, shim)
	_, err = NewMPI(time.Second)
	if !errors.Is(err, ErrMPINotFound) || !strings.Contains(err.Error(), "dist: MPI runtime not found") ||
		!strings.Contains(err.Error(), "libmpich_gone.so.12") || !strings.Contains(err.Error(), "install-mpi.sh") {
		t.Errorf("%v", err)
	}
}

// TestMPIChild is one rank of the parent tests' jobs; it does nothing
// unless mpiChildEnv is set.
func TestMPIChild(t *testing.T) {
	mode := os.Getenv(mpiChildEnv)
	if mode == "" {
		t.Skip("the MPI tests' child (run under mpiexec by TestMPI*)")
	}
	c, err := NewMPI(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Rank()
	say := func(format string, a ...any) { fmt.Printf("rank %d: "+format+"\n", append([]any{r}, a...)...) }
	ctx := context.Background()
	if env, ok := FromEnv(); !ok || env.Rank != r || env.Size != c.Size() || c.Size() != 2 && mode != "bench" {
		t.Fatalf("rank %d of %d; the environment says %+v %v", r, c.Size(), env, ok)
	}
	switch mode {
	case "collectives":
		for _, cc := range collectiveCases {
			for _, n := range awkwardSizes {
				got, err := cc.run(ctx, c, n)
				if err != nil {
					t.Fatalf("%s n=%d: %v", cc.name, n, err)
				}
				if err := sameBits(got, cc.want(2, r, n)); err != nil {
					t.Errorf("%s n=%d: %v", cc.name, n, err)
					continue
				}
				say("%s n=%d ok", cc.name, n)
			}
		}
		x := tensor.Zeros(7)
		if r == 0 {
			err = c.AllReduce(ctx, x, Sum)
		} else {
			err = c.Broadcast(ctx, x, 0)
		}
		want := "dist: collective mismatch: rank 0 called all-reduce(sum) of 7 values while rank 1 called broadcast(root 0) of 7 values"
		if err == nil || err.Error() != want {
			t.Errorf("mismatch: %v, want %q", err, want)
		} else {
			say("mismatch ok")
		}
		if err := c.Barrier(ctx); err == nil || !strings.Contains(err.Error(), "failed earlier") {
			t.Errorf("barrier after the mismatch: %v", err)
		}
	case "invalid":
		// A context that ended before the call: an error, and the
		// communicator stays usable.
		ended, cancel := context.WithCancel(ctx)
		cancel()
		if err := c.AllReduce(ended, tensor.Zeros(3), Sum); !errors.Is(err, context.Canceled) {
			t.Errorf("ended context: %v", err)
		}
		if err := c.Barrier(ctx); err != nil {
			t.Errorf("barrier after an ended context: %v", err)
		}
		x := tensor.Zeros(7)
		if r == 1 {
			x = tensor.New(fakeDevice{7}, 0, 7)
		}
		err := c.AllReduce(ctx, x, Sum)
		want := map[int]string{0: "rank 1 called all-reduce(sum) of 7 values with invalid arguments",
			1: "is a cuda tensor; this communicator serves host tensors"}[r]
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v, want %q", err, want)
		} else {
			say("invalid ok")
		}
	case "bench":
		mpiBenchChild(t, c.(*MPI))
	case "cancel":
		if r == 1 {
			time.Sleep(10 * time.Second)
			err := c.Barrier(ctx)
			say("late barrier returned %v", err)
			os.Exit(5)
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err := c.Barrier(short)
		say("barrier returned %v", err) // not reached: the job is aborted
		os.Exit(6)
	case "dies":
		x := tensor.Ones(1000)
		if err := c.AllReduce(ctx, x, Sum); err != nil {
			t.Fatal(err)
		}
		c.(*MPI).SetTimeout(mpiTimeout)
		if r == 1 {
			say("exiting")
			os.Stdout.Sync()
			os.Exit(3)
		}
		err := c.AllReduce(ctx, x, Sum)
		// Only reached when MPI reports the dead peer before the timeout.
		say("all-reduce after the peer died: %v", err)
		if err == nil {
			t.Fatal("no error")
		}
		os.Exit(4)
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
}
