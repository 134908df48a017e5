package dist

import (
	"os"
	"strconv"
)

// Env is what a launcher tells a process about the job it is part of.
type Env struct {
	// Launcher names where the values came from: "torchrun", "openmpi",
	// "mpich" (Hydra's PMI variables, as also set by Intel MPI and
	// MVAPICH) or "slurm".
	Launcher string
	// Rank is the process's rank in the job, Size the number of ranks.
	Rank, Size int
	// LocalRank is the rank among the processes of this machine (the GPU to
	// use); -1 when the launcher does not say.
	LocalRank int
	// MasterAddr and MasterPort are torchrun's rendezvous address
	// (MASTER_ADDR, MASTER_PORT); empty and 0 elsewhere.
	MasterAddr string
	MasterPort int
}

// FromEnv reads the job's rank, size and local rank from the environment
// variables of the launcher that started this process, looked for in this
// order:
//
//	torchrun:  RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//	Open MPI:  OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK
//	MPICH:     PMI_RANK, PMI_SIZE, MPI_LOCALRANKID
//	SLURM:     SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID
//
// (srun of an MPI program sets both MPI and SLURM variables, which agree.)
// A launcher counts when its rank and size are integers with
// 0 <= rank < size; its local rank is -1 when missing or malformed. The
// boolean is false when no launcher's variables are set: a job of one.
func FromEnv() (Env, bool) { return fromEnv(os.Getenv) }

func fromEnv(get func(string) string) (Env, bool) {
	launchers := []struct{ name, rank, size, local string }{
		{"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
		{"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
		{"mpich", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
		{"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
	}
	for _, l := range launchers {
		rank, err1 := strconv.Atoi(get(l.rank))
		size, err2 := strconv.Atoi(get(l.size))
		if err1 != nil || err2 != nil || rank < 0 || rank >= size {
			continue
		}
		e := Env{Launcher: l.name, Rank: rank, Size: size, LocalRank: -1}
		if lr, err := strconv.Atoi(get(l.local)); err == nil && lr >= 0 {
			e.LocalRank = lr
		}
		if l.name == "torchrun" {
			e.MasterAddr = get("MASTER_ADDR")
			if p, err := strconv.Atoi(get("MASTER_PORT")); err == nil {
				e.MasterPort = p
			}
		}
		return e, true
	}
	return Env{LocalRank: -1}, false
}
