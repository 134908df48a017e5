# hallucinator: a tensor engine in Go with hand-written CUDA kernels, and
# self-supervised learning with the Hallucinator on top.

GO ?= go
# The whole suite, the one-epoch Fashion-MNIST training test included.
TEST_TIMEOUT ?= 25m

# Seconds of fuzzing per target in `make test` (make fuzz FUZZTIME=60s for longer).
FUZZTIME ?= 3s

.PHONY: mpi bench-mpi
.PHONY: all build test test-short test-cuda-emu vet fuzz bench bench-cpu-step kernels kernels-emu gpu-check train-sweep data clean

all: build

build:
	$(GO) build ./...

# The test command: installs what the tests need (Debian's Fashion-MNIST
# package), compiles the CUDA kernels (installing the toolkit when nvcc is
# missing) so that a .cu that does not build fails here, checks formatting and
# vet, then runs every test, those of kernels/cuda verbosely into
# build/cuda-test.log, of which it prints the verdicts: the CUDA conformance
# suite runs when a GPU answers, otherwise the lines say why it was skipped;
# then the CUDA backend's tests on the CPU emulator (test-cuda-emu), so that a
# kernel whose logic breaks fails without a GPU; then a few seconds of each
# fuzz target.
test: data kernels kernels-emu vet
	@$(MAKE) --no-print-directory mpi
	$(GO) test -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v '/kernels/cuda$$')
	@mkdir -p build; echo "$(GO) test -v ./kernels/cuda > build/cuda-test.log"; \
	$(GO) test -timeout $(TEST_TIMEOUT) -v ./kernels/cuda > build/cuda-test.log 2>&1; rc=$$?; \
	grep -E -e '^--- (SKIP|FAIL)' -e '^(ok|FAIL)' -e 'no CUDA backend' build/cuda-test.log; \
	if [ $$rc -ne 0 ]; then tail -n 150 build/cuda-test.log; fi; \
	exit $$rc
	@$(MAKE) --no-print-directory test-cuda-emu
	@$(MAKE) --no-print-directory fuzz

# The CUDA backend's tests on the CPU emulator (build/libhalcuda_emu.so,
# kernels-emu), verbosely into build/cuda-emu-test.log, in two runs: every
# test with the FP32 conformance suite; then the TF32 suite for the groups
# that have TF32 kernels (CUDA_EMU_TF32; the others run the same kernels as in
# FP32) without the shapes the emulator is slowest at (CUDA_EMU_SKIP: the
# 512-wide GEMMs and the 32x32 ResNet convolutions, left to the FP32 run and
# to the GPU check). On 2 cores: about 2.5 and 1 minutes, against 7 for
# everything, which is
#   make test-cuda-emu CUDA_EMU_TF32='.*' CUDA_EMU_SKIP=
# A new conformance group with a TF32 path belongs in CUDA_EMU_TF32.
CUDA_EMU_LIB ?= $(CURDIR)/build/libhalcuda_emu.so
CUDA_EMU_TF32 ?= Gemm|GemmBatched|Conv2d|HallucinatorForward|HallucinatorBackward
CUDA_EMU_SKIP ?= ^TestConformance$$/^(Gemm|Conv2d)$$/./^(M=(512|576)|M=256,N=2048|N=2,C=(3|64),H=32)
test-cuda-emu: kernels-emu
	@mkdir -p build; rm -f build/cuda-emu-test.log; \
	export HALLUCINATOR_CUDA_LIB=$(CUDA_EMU_LIB) HALLUCINATOR_REQUIRE_GPU=1; \
	echo "HALLUCINATOR_CUDA_LIB=$(CUDA_EMU_LIB) $(GO) test -v -skip '^TestConformance$$' ./kernels/cuda"; \
	$(GO) test -timeout $(TEST_TIMEOUT) -v -skip '^TestConformance$$' ./kernels/cuda >> build/cuda-emu-test.log 2>&1 \
		&& { echo "HALLUCINATOR_CUDA_LIB=$(CUDA_EMU_LIB) $(GO) test -v -run '^TestConformance$$/^($(CUDA_EMU_TF32))$$'" \
			"-skip '$(CUDA_EMU_SKIP)' ./kernels/cuda"; \
		$(GO) test -timeout $(TEST_TIMEOUT) -v -run '^TestConformance$$/^($(CUDA_EMU_TF32))$$' -skip '$(CUDA_EMU_SKIP)' \
			./kernels/cuda >> build/cuda-emu-test.log 2>&1; }; rc=$$?; \
	grep -E -e '^--- (SKIP|FAIL)' -e '^(ok|FAIL)' -e '^    --- FAIL' build/cuda-emu-test.log; \
	if [ $$rc -ne 0 ]; then tail -n 150 build/cuda-emu-test.log; fi; \
	exit $$rc

# Everything but the long training tests.
test-short: vet
	$(GO) test -short ./...

# A short pass of every fuzz target (scripts/fuzz.sh); a crasher fails it and
# stays in the package's testdata/fuzz as a regression case.
fuzz:
	@mkdir -p build; FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

data:
	bash scripts/install-data.sh

# Benchmarks against references (OpenBLAS, gonum, the plain-Go reference).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2x ./bench

# The CPU training step beside PyTorch at its best (both layouts, tuned
# allocators, batch 32-256, 1 and 2 threads, alternated runs); about an hour.
# BENCH_ARGS narrows it, e.g. BENCH_ARGS='--model fmnist --threads 2'.
bench-cpu-step:
	bash scripts/install-torch.sh
	/usr/bin/python3 bench/torch_cpu_step.py $(BENCH_ARGS)

# The CUDA kernel library (build/libhalcuda.so); installs the CUDA toolkit
# from Debian's non-free section when nvcc is missing.
kernels:
	bash scripts/build-kernels.sh

# The same kernels compiled by g++ for the CPU emulator
# (build/libhalcuda_emu.so): no CUDA toolkit needed.
kernels-emu:
	bash scripts/build-kernels.sh emu

# Builds the GPU test and benchmark binaries; run `scripts/gpu-check.sh run`
# on the GPU machine.
gpu-check: kernels
	bash scripts/gpu-check.sh build

# Builds cmd/train and copies Fashion-MNIST for scripts/train-sweep.sh run on
# the GPU machine.
train-sweep: kernels
	bash scripts/train-sweep.sh build

# The MPI shim (build/libhalmpi.so) that package dist opens at run time,
# compiled with MPICH's mpicc against its ABI (libmpich.so.12); installs
# Debian's MPICH (scripts/install-mpi.sh) when mpicc or mpiexec is missing.
# `go test ./dist` then runs the MPI tests under `mpiexec -n 2`.
MPICC ?= $(shell command -v mpicc.mpich 2>/dev/null || echo mpicc)
mpi:
	bash scripts/install-mpi.sh
	@$(MAKE) --no-print-directory build/libhalmpi.so

build/libhalmpi.so: dist/mpi/halmpi.c
	@mkdir -p build
	$(MPICC) -O2 -Wall -Wextra -shared -fPIC -o $@ $<

# All-reduce bandwidth of the MPI communicator beside MPI_Allreduce timed in
# the shim, 4 KB to 64 MB, under `mpiexec -n $(MPI_BENCH_RANKS)`.
MPI_BENCH_RANKS ?= 2
bench-mpi: mpi
	HALLUCINATOR_DIST_MPI_BENCH=$(MPI_BENCH_RANKS) $(GO) test -count=1 -v -run '^TestMPIBench$$' ./dist

clean:
	rm -rf build
