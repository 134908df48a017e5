package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needMPI skips a test unless mpiexec and the MPI library (make mpi) are
// there.
func needMPI(t *testing.T) string {
	t.Helper()
	mpiexec, err := exec.LookPath("mpiexec")
	if err != nil {
		t.Skip("MPI tests skipped: no mpiexec on PATH (scripts/install-mpi.sh installs MPICH)")
	}
	wd, _ := os.Getwd()
	if _, err := os.Stat(filepath.Join(wd, "..", "..", "build", "libhalmpi.so")); err != nil {
		t.Skip("MPI tests skipped: build/libhalmpi.so not built (make mpi)")
	}
	return mpiexec
}

// TestDataParallelRun runs the command as two MPI processes, each with half
// of the batch: rank 0 alone writes the run's files, and the run's records
// are those of one run.
func TestDataParallelRun(t *testing.T) {
	needFashionMNIST(t)
	mpiexec := needMPI(t)
	dir := t.TempDir()
	args := []string{"-device", "cpu", "-framework", "simclr", "-out", dir, "-train-subset", "128", "-test-subset", "64",
		"-batch", "16", "-epochs", "2", "-max-steps", "3", "-eval-every", "1", "-width", "2", "-probe-epochs", "1",
		"-knn-k", "5", "-workers", "1", "-quiet", "-dist", "mpi"}
	raw, _ := json.Marshal(args)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpiexec, "-n", "2", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("mpiexec: %v\n%s", err, out.String())
	}
	got := out.String()
	if strings.Count(got, "data-parallel over 2 processes (MPI), 8 images of the batch each") != 1 || strings.Count(got, "simclr + Hallucinator: kNN") != 1 {
		t.Errorf("output (one rank should speak):\n%s", got)
	}
	metrics, err := os.ReadFile(filepath.Join(dir, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(metrics), `"type":"final"`); n != 1 {
		t.Errorf("%d final records, want 1:\n%s", n, metrics)
	}
	if n := strings.Count(string(metrics), `"type":"epoch"`); n != 2 {
		t.Errorf("%d epoch records, want 2", n)
	}
	for _, f := range []string{configFile, checkpointFile, summaryFile, "accuracy.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestNProcPerNode checks that -nproc-per-node starts the processes through
// mpiexec, and its refusals.
func TestNProcPerNode(t *testing.T) {
	needFashionMNIST(t)
	needMPI(t)
	dir := t.TempDir()
	args := []string{"-device", "cpu", "-framework", "simsiam", "-out", dir, "-train-subset", "64", "-test-subset", "32",
		"-batch", "16", "-epochs", "1", "-max-steps", "2", "-width", "2", "-probe-epochs", "1", "-knn-k", "5",
		"-workers", "1", "-quiet", "-nproc-per-node", "2"}
	// The processes mpiexec starts are this test binary in its child mode,
	// which reads the command's arguments from the environment.
	raw, _ := json.Marshal(append(args[:len(args)-2:len(args)-2], "-dist", "mpi"))
	t.Setenv(childArgsEnv, string(raw))
	var out bytes.Buffer
	if err := launchLocal(args, 2, &out, &out); err != nil {
		t.Fatalf("launch: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "data-parallel over 2 processes") {
		t.Errorf("output:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, summaryFile)); err != nil {
		t.Error(err)
	}
	t.Setenv(childArgsEnv, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nproc-per-node", "1"}, "-nproc-per-node 1: want 2 or more"},
		{[]string{"-dist", "nccl"}, `-dist "nccl": want auto, mpi or none`},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), append([]string{"-out", filepath.Join(t.TempDir(), "x")}, tc.args...), &stderr, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestTorchrunNeedsNCCL checks the message of a torchrun launch, whose ranks
// would meet over NCCL.
func TestTorchrunNeedsNCCL(t *testing.T) {
	t.Setenv("RANK", "0")
	t.Setenv("WORLD_SIZE", "2")
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-out", filepath.Join(t.TempDir(), "x"), "-device", "cpu"}, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), "started by torchrun") {
		t.Errorf("torchrun launch: %v", err)
	}
}
