package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"hallucinator/dist"
)

// collectiveTimeout bounds each collective of a data-parallel run: a rank
// that does not arrive within it (dead, or far behind) ends the job with an
// error naming the collective. The ranks evaluate together, so no rank
// waits for another's evaluation.
const collectiveTimeout = 10 * time.Minute

// launchLocal starts the command again under mpiexec with n processes, the
// -nproc-per-node flag left out, and returns when they end.
func launchLocal(args []string, n int, stdout, stderr io.Writer) error {
	mpiexec := ""
	for _, name := range []string{"mpiexec", "mpiexec.mpich", "mpiexec.hydra", "mpirun"} {
		if p, err := exec.LookPath(name); err == nil {
			mpiexec = p
			break
		}
	}
	if mpiexec == "" {
		return errors.New("-nproc-per-node: no mpiexec on PATH (scripts/install-mpi.sh installs MPICH; make mpi builds the library it needs)")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("-nproc-per-node: %w", err)
	}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		if name == "nproc-per-node" {
			i++ // its value
			continue
		}
		if strings.HasPrefix(name, "nproc-per-node=") {
			continue
		}
		rest = append(rest, a)
	}
	cmd := exec.Command(mpiexec, append([]string{"-n", fmt.Sprint(n), self}, rest...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = os.Environ()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("-nproc-per-node %d: %s: %w", n, mpiexec, err)
	}
	return nil
}

// communicator returns the communicator of the run: MPI's world when the
// process was started by an MPI or SLURM launcher (or -dist mpi), else a
// job of one.
func communicator(o *options) (dist.Comm, error) {
	env, launched := dist.FromEnv()
	auto := o.Dist == "auto" || o.Dist == ""
	switch {
	case o.Dist == "none":
		return dist.Single{}, nil
	case auto && !launched:
		return dist.Single{}, nil
	case launched && env.Launcher == "torchrun" && auto:
		return nil, errors.New("started by torchrun, whose ranks meet over NCCL, which this build cannot open yet: launch with mpiexec or srun (-dist mpi), or -nproc-per-node N")
	case launched && env.Size <= 1 && auto:
		return dist.Single{}, nil
	}
	c, err := dist.NewMPI(collectiveTimeout)
	if err != nil {
		return nil, fmt.Errorf("-dist mpi: %w", err)
	}
	return c, nil
}
