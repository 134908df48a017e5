#!/usr/bin/env bash
# GPU check of the CUDA backend, in two modes.
#
#   scripts/gpu-check.sh build   (on a machine with Go, no GPU needed)
#       builds build/libhalcuda.so, the test binaries of kernels/cuda and
#       bench into build/gpu/, and copies the kernel sources (with the
#       kernel families' checks, test/*_check.cu) to build/gpu/src, ready to
#       compile.
#
#   scripts/gpu-check.sh run     (on the GPU machine: nvcc, Python with
#       PyTorch, no Go) runs the conformance tests of the CUDA backend,
#       compiles and runs the kernel families' checks, runs the CUDA benchmarks
#       and bench/torch_ref.py, and prints a table of ratios ours/PyTorch.
#       Results go to $OUT (when set) or build/gpu/out. Every step has a time
#       limit; the whole run stays under five minutes.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GPU=$ROOT/build/gpu
LIB=$ROOT/build/libhalcuda.so

build() {
	set -e
	bash "$ROOT/scripts/build-kernels.sh"
	mkdir -p "$GPU"
	cd "$ROOT"
	echo "gpu-check: go test -c ./kernels/cuda ./bench"
	go test -c -ldflags='-s -w' -o "$GPU/cuda.test" ./kernels/cuda
	go test -c -ldflags='-s -w' -o "$GPU/bench.test" ./bench
	go test -c -ldflags='-s -w' -o "$GPU/ssl.test" ./ssl
	rm -rf "$GPU/src"
	cp -r "$ROOT/kernels/cuda/src" "$GPU/src"
	# The generated sm_90a module: its header for the checks, its PTX for ptxas -v.
	cp "$ROOT/build/halcuda/wgmma_ptx.h" "$ROOT/build/halcuda/wgmma.ptx" "$GPU/src/"
	cp "$ROOT/bench/torch_ref.py" "$GPU/torch_ref.py"
	cp "$0" "$GPU/gpu-check.sh"
	du -sh "$ROOT/build/libhalcuda.so" "$GPU" | sed 's/^/gpu-check: /'
	echo "gpu-check: ready; on the GPU machine run: scripts/gpu-check.sh run"
}

# step NAME LIMIT CMD...: runs CMD with a time limit, logging to $RES/NAME.log,
# and records the outcome.
step() {
	local name=$1 limit=$2
	shift 2
	local t0=$SECONDS
	echo "=== $name (limit ${limit}s)"
	timeout --kill-after=10 "$limit" "$@" >"$RES/$name.log" 2>&1
	local rc=$?
	local took=$((SECONDS - t0))
	tail -n 40 "$RES/$name.log"
	local verdict=ok
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		verdict="TIMEOUT"
	elif [ $rc -ne 0 ]; then
		verdict="FAIL (exit $rc)"
	fi
	echo "$name: $verdict in ${took}s" | tee -a "$RES/summary.txt"
	return $rc
}

run() {
	RES=${OUT:-$GPU/out}
	mkdir -p "$RES"
	: >"$RES/summary.txt"
	cd "$ROOT"
	export HALLUCINATOR_CUDA_LIB=$LIB
	# The GPU tests and benchmarks fail, rather than skip, without a GPU.
	export HALLUCINATOR_REQUIRE_GPU=1
	command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader |
		sed 's/^/gpu-check: /'

	if [ ! -f "$LIB" ]; then
		if command -v nvcc >/dev/null; then
			step build-kernels 240 bash "$ROOT/scripts/build-kernels.sh"
		else
			echo "gpu-check: $LIB missing and no nvcc; run 'scripts/gpu-check.sh build' first" >&2
			exit 1
		fi
	fi
	for bin in cuda.test bench.test ssl.test; do
		if [ ! -x "$GPU/$bin" ]; then
			echo "gpu-check: $GPU/$bin missing; run 'scripts/gpu-check.sh build' where Go is" >&2
			exit 1
		fi
	done

	# The checks of the kernel families (test/<family>_check.cu, each with the
	# sources of its family; see test/check.h) compile in the background
	# meanwhile, in parallel; gemm_check with cuBLAS when it links.
	local src=$GPU/src
	[ -d "$src" ] || src=$ROOT/kernels/cuda/src
	local checks="gemm_check:gemm.cu conv_check:conv.cu infonce_check:infonce.cu halluc_check:hallucinator.cu"
	local checkpid=""
	local c
	for c in $checks; do rm -f "$GPU/${c%%:*}"; done
	if command -v nvcc >/dev/null && [ -f "$src/test/check.h" ]; then
		(
			cd "$src" || exit 1
			nv="nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -DHAL_WGMMA_PTX -I."
			for c in $checks; do
				name=${c%%:*} family=${c#*:}
				{
					if [ "$name" = gemm_check ]; then
						# shellcheck disable=SC2086
						timeout 120 $nv -DHAL_CUBLAS -o "$GPU/$name" test/$name.cu gemm.cu -lcublas -ldl
					else
						false
					fi ||
						# shellcheck disable=SC2086
						timeout 120 $nv -o "$GPU/$name" test/$name.cu $family gemm.cu -ldl
				} >"$RES/${name}_build.log" 2>&1 &
			done
			wait
		) &
		checkpid=$!
	fi

	# Registers and spills of the sm_90a module as the driver will compile it.
	local ptxas
	ptxas=$(command -v ptxas || { command -v nvcc >/dev/null && echo "$(dirname "$(command -v nvcc)")/ptxas"; } || true)
	if [ -n "$ptxas" ] && [ -x "$ptxas" ] && [ -f "$src/wgmma.ptx" ]; then
		step ptxas_sm90a 60 "$ptxas" -arch=sm_90a -v "$src/wgmma.ptx" -o /dev/null
	fi

	step conformance 100 "$GPU/cuda.test" -test.v -test.timeout 95s
	grep -E '^(--- FAIL|FAIL|ok|PASS)' "$RES/conformance.log" | head -n 40

	if [ -n "$checkpid" ]; then
		wait "$checkpid"
		for c in $checks; do
			local name=${c%%:*}
			if [ -x "$GPU/$name" ]; then
				step "$name" 60 "$GPU/$name"
			else
				echo "$name: FAIL (build, see ${name}_build.log)" | tee -a "$RES/summary.txt"
				tail -n 20 "$RES/${name}_build.log"
			fi
		done
	else
		echo "checks: skipped (no nvcc or no test/check.h)" | tee -a "$RES/summary.txt"
	fi

	step ssl_step 60 "$GPU/ssl.test" -test.run TestCUDAStepMatchesCPU -test.v

	step bench 90 "$GPU/bench.test" -test.run '^$' -test.bench '^BenchmarkCUDA' -test.benchtime 20x
	local torch=$ROOT/bench/torch_ref.py
	[ -f "$torch" ] || torch=$GPU/torch_ref.py
	step torch 60 python3 "$torch"

	python3 - "$RES/bench.log" "$RES/torch.log" <<'EOF' | tee "$RES/ratios.txt"
import re, sys
ours, ref = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"Benchmark(\S+?)(-\d+)?\s+\d+\s.*?([\d.]+) ms/op", line)
    if m:
        ours[m.group(1)] = float(m.group(3))
for line in open(sys.argv[2]):
    p = line.split()
    if len(p) == 2 and not line.startswith("#"):
        try:
            ref[p[0]] = float(p[1])
        except ValueError:
            pass
keys = [k for k in ours] + [k for k in ref if k not in ours]
if not keys:
    print("no benchmark results")
    sys.exit(0)
w = max(len(k) for k in keys)
print(f"{'operation':<{w}}  {'ours ms':>10}  {'torch ms':>10}  {'ours/torch':>10}")
for k in keys:
    o, r = ours.get(k), ref.get(k)
    ratio = f"{o / r:10.2f}" if o and r else f"{'-':>10}"
    fo = f"{o:10.3f}" if o is not None else f"{'-':>10}"
    fr = f"{r:10.3f}" if r is not None else f"{'-':>10}"
    print(f"{k:<{w}}  {fo}  {fr}  {ratio}")
EOF
	echo "=== summary"
	cat "$RES/summary.txt"
	if grep -qv ': ok in' "$RES/summary.txt"; then
		exit 1
	fi
}

case "${1:-}" in
build) build ;;
run) run ;;
*)
	echo "usage: $0 build|run" >&2
	exit 2
	;;
esac
