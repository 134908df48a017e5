#!/usr/bin/env bash
# The CUDA backend of this checkout (new) against another revision (old), on
# one GPU in one run, in two modes.
#
#   scripts/gpu-compare.sh build REV   (where Go and nvcc are; no GPU needed)
#       builds the library and the test binaries of this checkout and the
#       library and benchmark binary of REV (in a temporary worktree) into
#       build/dev/{new,old}, with the kernel sources for the C checks.
#
#   scripts/gpu-compare.sh run         (on the GPU machine: nvcc, no Go)
#       runs the conformance tests and the CUDA step check of new, compiles
#       and runs gemm_check and conv_check, and runs every BenchmarkCUDA of
#       old and new alternately, twice; results go to $OUT (or build/dev/out)
#       with bench_{old,new}_{1,2}.log to compare.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=$ROOT/build/dev

build() {
	set -e
	local rev=$1 wt
	wt=$(mktemp -d)
	git -C "$ROOT" worktree add -q --detach "$wt" "$rev"
	trap 'git -C "$ROOT" worktree remove --force "$wt"' EXIT
	bash "$ROOT/scripts/gpu-check.sh" build
	mkdir -p "$D/new" "$D/old"
	cp "$ROOT/build/libhalcuda.so" "$ROOT/build/gpu/cuda.test" "$ROOT/build/gpu/bench.test" "$ROOT/build/gpu/ssl.test" "$D/new/"
	rm -rf "$D/new/src"
	cp -r "$ROOT/build/gpu/src" "$D/new/src"
	(cd "$wt" && bash scripts/build-kernels.sh && go test -c -ldflags='-s -w' -o "$D/old/bench.test" ./bench)
	cp "$wt/build/libhalcuda.so" "$D/old/"
	du -sh "$D" | sed 's/^/gpu-compare: /'
}

run() {
	local O=${OUT:-$D/out} S
	mkdir -p "$O"
	S=$O/summary.txt
	: >"$S"
	export HALLUCINATOR_REQUIRE_GPU=1
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$S"
	local nv="nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -DHAL_WGMMA_PTX -I."
	# shellcheck disable=SC2086
	(cd "$D/new/src" && timeout 200 $nv -DHAL_CUBLAS -o "$D/gemm_check" test/gemm_check.cu gemm.cu -lcublas -ldl >"$O/gemm_check_build.log" 2>&1) &
	# shellcheck disable=SC2086
	(cd "$D/new/src" && timeout 200 $nv -o "$D/conv_check" test/conv_check.cu conv.cu gemm.cu -ldl >"$O/conv_check_build.log" 2>&1) &
	local t0=$SECONDS
	HALLUCINATOR_CUDA_LIB=$D/new/libhalcuda.so timeout 130 "$D/new/cuda.test" -test.v -test.timeout 125s >"$O/conformance.log" 2>&1
	echo "conformance rc=$? $((SECONDS - t0))s" >>"$S"
	t0=$SECONDS
	HALLUCINATOR_CUDA_LIB=$D/new/libhalcuda.so timeout 60 "$D/new/ssl.test" -test.run 'TestCUDAStepMatchesCPU' -test.v >"$O/ssl.log" 2>&1
	echo "ssl rc=$? $((SECONDS - t0))s" >>"$S"
	local r v c
	for r in 1 2; do
		for v in old new; do
			t0=$SECONDS
			HALLUCINATOR_CUDA_LIB=$D/$v/libhalcuda.so timeout 75 "$D/$v/bench.test" -test.run '^$' -test.bench '^BenchmarkCUDA' -test.benchtime 10x >"$O/bench_${v}_$r.log" 2>&1
			echo "bench $v $r rc=$? $((SECONDS - t0))s" >>"$S"
		done
	done
	wait
	for c in gemm_check conv_check; do
		if [ -x "$D/$c" ]; then
			t0=$SECONDS
			timeout 50 "$D/$c" >"$O/$c.log" 2>&1
			echo "$c rc=$? $((SECONDS - t0))s" >>"$S"
		else
			echo "$c: build failed" >>"$S"
		fi
	done
	cat "$S"
}

case "${1:-}" in
build)
	[ $# -eq 2 ] || { echo "usage: $0 build REV" >&2; exit 2; }
	build "$2"
	;;
run) run ;;
*)
	echo "usage: $0 build REV | run" >&2
	exit 2
	;;
esac
