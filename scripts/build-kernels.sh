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
# same sources compiled by g++ for the CPU emulator of emulator.cuh (objects in
# build/halcuda_emu, rebuilt like the nvcc ones), so that the Go backend and
# every kernel can be tested without a GPU
# (HALLUCINATOR_CUDA_LIB=build/libhalcuda_emu.so go test ./kernels/cuda).
#
# Both first check, when Go is installed, that the files generated from
# src/hal.h (src/hal_abi.h and the Go bindings) are up to date.
#
# Environment: NVCC (the compiler), NVCC_FLAGS (extra flags), CXX (the
# emulator's compiler, default g++), GO (default go), JOBS (parallel
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

# The generated ABI files (src/hal_abi.h, whose hash the library returns, and
# the Go bindings) must match src/hal.h, or the library would claim an ABI it
# was not built from; go run ./kernels/cuda/internal/cmd/halgen -check says
# so in a second (skipped where there is no Go toolchain, as on a GPU machine
# that only compiles).
if command -v "${GO:-go}" >/dev/null 2>&1; then
	if ! (cd "$ROOT" && "${GO:-go}" run ./kernels/cuda/internal/cmd/halgen -check -dir kernels/cuda); then
		echo "build-kernels: run go generate ./kernels/cuda first" >&2
		exit 1
	fi
fi

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ "${1:-}" = "emu" ]; then
	# One object per .cu in build/halcuda_emu, compiled in parallel and
	# rebuilt when its source, a header or this script is newer.
	EMU=$OUTDIR/libhalcuda_emu.so
	EOBJ=$OUTDIR/halcuda_emu
	mkdir -p "$EOBJ"
	shopt -s nullglob
	newest=$0
	for h in "$SRC"/*.h "$SRC"/*.cuh; do
		if [ "$h" -nt "$newest" ]; then
			newest=$h
		fi
	done
	stale=()
	objects=()
	for cu in "$SRC"/*.cu; do
		o=$EOBJ/$(basename "${cu%.cu}").o
		objects+=("$o")
		if [ ! -f "$o" ] || [ "$cu" -nt "$o" ] || [ "$newest" -nt "$o" ]; then
			stale+=("$cu")
		fi
	done
	for o in "$EOBJ"/*.o; do
		if [ ! -f "$SRC/$(basename "${o%.o}").cu" ]; then
			rm -f "$o"
			stale+=("")
		fi
	done
	relink=0
	if [ ${#stale[@]} -gt 0 ] || [ ! -f "$EMU" ]; then
		relink=1
	fi
	for o in "${objects[@]}"; do
		if [ -f "$EMU" ] && [ -f "$o" ] && [ "$o" -nt "$EMU" ]; then
			relink=1
		fi
	done
	if [ $relink -eq 0 ]; then
		echo "build-kernels: $EMU is up to date"
		exit 0
	fi
	export CXX=${CXX:-g++} SRC EOBJ
	compile_emu() {
		local cu=$1
		[ -n "$cu" ] || return 0
		local o=$EOBJ/$(basename "${cu%.cu}").o
		echo "g++ -DHAL_EMULATE $(basename "$cu")"
		"$CXX" -O2 -g -std=c++20 -DHAL_EMULATE -fPIC -x c++ -I"$SRC" -c "$cu" -o "$o.tmp" && mv "$o.tmp" "$o"
	}
	export -f compile_emu
	if [ ${#stale[@]} -gt 0 ]; then
		printf '%s\0' "${stale[@]}" | xargs -0 -n 1 -P "$JOBS" bash -c 'compile_emu "$1"' _
	fi
	"$CXX" -shared -fPIC "${objects[@]}" -o "$EMU.tmp"
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
FLAGS="-O3 -std=c++17 -Xcompiler -fPIC -Xcompiler -Wall $GENCODE -I$OBJ -DHAL_WGMMA_PTX ${NVCC_FLAGS:-}"

mkdir -p "$OBJ"
shopt -s nullglob

# The sm_90a module (src/ptx/wgmma.cu: the wgmma engine for Hopper): compiled
# to PTX only, its header retargeted from the toolkit's PTX version and sm_90
# to PTX 8.0 and sm_90a (which the wgmma instructions need; the driver of a
# Hopper machine compiles it at run time), and embedded in the library as the
# string wgmma_ptx of $OBJ/wgmma_ptx.h.
PTX_SRC=$SRC/ptx/wgmma.cu
PTX_H=$OBJ/wgmma_ptx.h
if [ ! -f "$PTX_H" ] || [ -n "$(find "$SRC" "$0" -newer "$PTX_H" \( -name '*.cu' -o -name '*.cuh' -o -name '*.h' -o -name '*.sh' \) -print -quit)" ]; then
	echo "nvcc -ptx ptx/wgmma.cu"
	# shellcheck disable=SC2086
	"$NVCC_BIN" -ptx -O3 -std=c++17 -arch=compute_90 ${NVCC_FLAGS:-} -I"$SRC" "$PTX_SRC" -o "$OBJ/wgmma.ptx.tmp"
	sed -e 's/^\.version .*$/.version 8.0/' -e 's/^\.target sm_90$/.target sm_90a/' "$OBJ/wgmma.ptx.tmp" >"$OBJ/wgmma.ptx"
	rm -f "$OBJ/wgmma.ptx.tmp"
	if ! grep -q '^\.version 8\.0$' "$OBJ/wgmma.ptx" || ! grep -q '^\.target sm_90a$' "$OBJ/wgmma.ptx"; then
		echo "build-kernels: unexpected PTX header in $OBJ/wgmma.ptx" >&2
		exit 1
	fi
	{
		echo "// Generated by scripts/build-kernels.sh from kernels/cuda/src/ptx/wgmma.cu. Do not edit."
		echo "static const char wgmma_ptx[] ="
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$OBJ/wgmma.ptx"
		echo "    ;"
	} >"$PTX_H.tmp"
	mv "$PTX_H.tmp" "$PTX_H"
fi

sources=("$SRC"/*.cu)
if [ ${#sources[@]} -eq 0 ]; then
	echo "build-kernels: no .cu files in $SRC" >&2
	exit 1
fi

# The newest header: every object depends on all headers.
newest_header=""
for h in "$SRC"/*.h "$SRC"/*.cuh "$PTX_H"; do
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
"$NVCC_BIN" -shared -cudart static $GENCODE "${objects[@]}" -Xlinker -ldl -o "$LIB.tmp"
mv "$LIB.tmp" "$LIB"
echo "build-kernels: built $LIB"
