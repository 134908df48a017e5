#!/usr/bin/env bash
# Builds build/libhalcuda.so, the CUDA kernel library that kernels/cuda opens
# with dlopen, from kernels/cuda/src/*.cu.
#
# Each .cu file compiles to build/halcuda/<name>.o (machine code for sm_80 and
# sm_90 plus compute_90 PTX); an object is rebuilt only when its source or a
# header in kernels/cuda/src is newer, and the library is relinked only when
# an object changed. The CUDA runtime is linked statically, so the library
# needs only the NVIDIA driver at run time. When nvcc is missing the toolkit
# is installed with scripts/install-cuda.sh.
#
# `scripts/build-kernels.sh emu` builds build/libhalcuda_emu.so instead: the
# same sources compiled by g++ for the CPU emulator of f1_emu.cuh, so that the
# Go backend and every kernel can be tested without a GPU
# (HALLUCINATOR_CUDA_LIB=build/libhalcuda_emu.so go test ./kernels/cuda).
#
# Environment: NVCC (the compiler), NVCC_FLAGS (extra flags), JOBS (parallel
# compilations, default the number of CPUs), HAL_BUILD_DIR (default build).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/kernels/cuda/src
OUTDIR=${HAL_BUILD_DIR:-$ROOT/build}
OBJ=$OUTDIR/halcuda
LIB=$OUTDIR/libhalcuda.so

mkdir -p "$OUTDIR"
# One build at a time in a build directory.
exec 8>"$OUTDIR/.build-kernels.lock"
flock 8

if [ "${1:-}" = "emu" ]; then
	EMU=$OUTDIR/libhalcuda_emu.so
	if [ -f "$EMU" ] && [ -z "$(find "$SRC" -newer "$EMU" -print -quit)" ] && [ "$EMU" -nt "$0" ]; then
		echo "build-kernels: $EMU is up to date"
		exit 0
	fi
	echo "g++ -DF1_EMULATE kernels/cuda/src/*.cu"
	# shellcheck disable=SC2046
	${CXX:-g++} -O2 -g -std=c++20 -DF1_EMULATE -fPIC -shared -x c++ -I"$SRC" $(ls "$SRC"/*.cu) -o "$EMU.tmp"
	mv "$EMU.tmp" "$EMU"
	echo "build-kernels: built $EMU"
	exit 0
fi

find_nvcc() {
	if [ -n "${NVCC:-}" ]; then
		echo "$NVCC"
	elif command -v nvcc >/dev/null 2>&1; then
		command -v nvcc
	elif [ -x /usr/local/cuda/bin/nvcc ]; then
		echo /usr/local/cuda/bin/nvcc
	fi
}

NVCC_BIN=$(find_nvcc)
if [ -z "$NVCC_BIN" ]; then
	echo "build-kernels: nvcc not found; installing the CUDA toolkit" >&2
	bash "$ROOT/scripts/install-cuda.sh"
	NVCC_BIN=$(find_nvcc)
	if [ -z "$NVCC_BIN" ]; then
		echo "build-kernels: nvcc still not found after install-cuda.sh" >&2
		exit 1
	fi
fi

GENCODE="-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"
FLAGS="-O3 -std=c++17 -Xcompiler -fPIC -Xcompiler -Wall $GENCODE ${NVCC_FLAGS:-}"

mkdir -p "$OBJ"
shopt -s nullglob
sources=("$SRC"/*.cu)
if [ ${#sources[@]} -eq 0 ]; then
	echo "build-kernels: no .cu files in $SRC" >&2
	exit 1
fi

# The newest header: every object depends on all headers.
newest_header=""
for h in "$SRC"/*.h "$SRC"/*.cuh; do
	if [ -z "$newest_header" ] || [ "$h" -nt "$newest_header" ]; then
		newest_header=$h
	fi
done

stale=()
objects=()
for cu in "${sources[@]}"; do
	o=$OBJ/$(basename "${cu%.cu}").o
	objects+=("$o")
	if [ ! -f "$o" ] || [ "$cu" -nt "$o" ] || { [ -n "$newest_header" ] && [ "$newest_header" -nt "$o" ]; } ||
		[ "$0" -nt "$o" ]; then
		stale+=("$cu")
	fi
done

# Objects of sources that were removed.
for o in "$OBJ"/*.o; do
	if [ ! -f "$SRC/$(basename "${o%.o}").cu" ]; then
		rm -f "$o"
		stale+=("")
	fi
done

relink=0
if [ ${#stale[@]} -gt 0 ]; then
	relink=1
fi
if [ ! -f "$LIB" ]; then
	relink=1
fi
for o in "${objects[@]}"; do
	if [ -f "$LIB" ] && [ -f "$o" ] && [ "$o" -nt "$LIB" ]; then
		relink=1
	fi
done

if [ $relink -eq 0 ]; then
	echo "build-kernels: $LIB is up to date"
	exit 0
fi

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
export NVCC_BIN FLAGS SRC OBJ
compile_one() {
	local cu=$1
	[ -n "$cu" ] || return 0
	local o=$OBJ/$(basename "${cu%.cu}").o
	echo "nvcc $(basename "$cu")"
	# shellcheck disable=SC2086
	"$NVCC_BIN" $FLAGS -I"$SRC" -c "$cu" -o "$o.tmp" && mv "$o.tmp" "$o"
}
export -f compile_one
if [ ${#stale[@]} -gt 0 ]; then
	printf '%s\0' "${stale[@]}" | xargs -0 -n 1 -P "$JOBS" bash -c 'compile_one "$1"' _
fi

# shellcheck disable=SC2086
"$NVCC_BIN" -shared -cudart static $GENCODE "${objects[@]}" -o "$LIB.tmp"
mv "$LIB.tmp" "$LIB"
echo "build-kernels: built $LIB"
