package dist

import (
	"testing"
)

func TestFromEnv(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want Env
		ok   bool
	}{
		{"None", nil, Env{LocalRank: -1}, false},
		{"Torchrun", map[string]string{"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1",
			"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"},
			Env{Launcher: "torchrun", Rank: 5, Size: 8, LocalRank: 1, MasterAddr: "10.0.0.1", MasterPort: 29500}, true},
		{"OpenMPI", map[string]string{"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4",
			"OMPI_COMM_WORLD_LOCAL_RANK": "1"}, Env{Launcher: "openmpi", Rank: 3, Size: 4, LocalRank: 1}, true},
		{"MPICH", map[string]string{"PMI_RANK": "1", "PMI_SIZE": "2", "MPI_LOCALRANKID": "1"},
			Env{Launcher: "mpich", Rank: 1, Size: 2, LocalRank: 1}, true},
		{"MPICHNoLocal", map[string]string{"PMI_RANK": "0", "PMI_SIZE": "2"},
			Env{Launcher: "mpich", Rank: 0, Size: 2, LocalRank: -1}, true},
		{"SLURM", map[string]string{"SLURM_PROCID": "17", "SLURM_NTASKS": "32", "SLURM_LOCALID": "3"},
			Env{Launcher: "slurm", Rank: 17, Size: 32, LocalRank: 3}, true},
		{"SrunOfMPICH", map[string]string{"PMI_RANK": "2", "PMI_SIZE": "4", "SLURM_PROCID": "2",
			"SLURM_NTASKS": "4", "SLURM_LOCALID": "0"}, Env{Launcher: "mpich", Rank: 2, Size: 4, LocalRank: -1}, true},
		{"TorchrunFirst", map[string]string{"RANK": "0", "WORLD_SIZE": "2", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"},
			Env{Launcher: "torchrun", Rank: 0, Size: 2, LocalRank: -1}, true},
		{"RankOutOfRange", map[string]string{"RANK": "2", "WORLD_SIZE": "2"}, Env{LocalRank: -1}, false},
		{"Malformed", map[string]string{"PMI_RANK": "x", "PMI_SIZE": "2", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"},
			Env{Launcher: "slurm", Rank: 1, Size: 2, LocalRank: -1}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := fromEnv(func(k string) string { return tc.env[k] })
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	// FromEnv itself reads the process's environment.
	for _, k := range []string{"RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK"} {
		t.Setenv(k, "")
	}
	t.Setenv("SLURM_PROCID", "1")
	t.Setenv("SLURM_NTASKS", "3")
	t.Setenv("SLURM_LOCALID", "0")
	if e, ok := FromEnv(); !ok || e.Rank != 1 || e.Size != 3 || e.Launcher != "slurm" {
		t.Errorf("FromEnv: %+v %v", e, ok)
	}
}
