#!/usr/bin/env bash
# Many short training runs on a GPU machine, for choosing presets.
#
#   scripts/train-sweep.sh build   (on a machine with Go) builds cmd/train and
#       the kernel library, and copies Fashion-MNIST into build/sweep, ready
#       to carry to a machine without Go.
#
#   scripts/train-sweep.sh run CONFIGS   (on the GPU machine) runs one
#       training per line of CONFIGS ("name flags..."), -device cuda with the
#       CPU preset's sizes (-preset cpu) and a kNN each epoch, P at a time
#       (default 2: small runs share the GPU by time-slicing, so many at once
#       are each much slower), until SECS seconds (default 270) have passed.
#       Each run's last lines, error included, are appended to
#       $OUT/sweep.txt (or build/sweep/sweep.txt); the runs' directories stay
#       in /tmp/sweep.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SW=$ROOT/build/sweep

build() {
	set -e
	bash "$ROOT/scripts/build-kernels.sh"
	bash "$ROOT/scripts/install-data.sh"
	mkdir -p "$SW/data"
	cp /usr/share/datasets/fashion-mnist/*.gz "$SW/data/"
	cd "$ROOT"
	go build -ldflags='-s -w' -o "$SW/train" ./cmd/train
	du -sh "$SW" "$ROOT/build/libhalcuda.so" | sed 's/^/train-sweep: /'
	echo "train-sweep: ready; carry build/sweep and build/libhalcuda.so"
}

run() {
	local configs=$1 res=${OUT:-$SW}
	local p=${P:-2} deadline=$(($(date +%s) + ${SECS:-270}))
	export HALLUCINATOR_CUDA_LIB=$ROOT/build/libhalcuda.so GOMAXPROCS=${GOMAXPROCS:-6}
	local base="-device cuda -preset cpu -quiet -eval-every 1 -workers $GOMAXPROCS -checkpoint-every 1000 -data $SW/data"
	mkdir -p /tmp/sweep "$res"
	nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >>"$res/sweep.txt" 2>&1
	while read -r name args; do
		[ -z "$name" ] && continue
		[[ $name == \#* ]] && continue
		while [ "$(jobs -rp | wc -l)" -ge "$p" ]; do sleep 1; done
		[ "$(date +%s)" -ge $((deadline - 30)) ] && break
		(
			s=$(date +%s)
			# shellcheck disable=SC2086 # the flags are words
			timeout $((deadline - $(date +%s))) "$SW/train" $base -out "/tmp/sweep/$name" $args >"/tmp/sweep/$name.log" 2>&1
			rc=$?
			{
				echo "== $name ($args) rc=$rc wall=$(($(date +%s) - s))s"
				grep -v '^device' "/tmp/sweep/$name.log" | tail -n 12
			} >>"$res/sweep.txt"
		) &
		sleep 1
	done <"$configs"
	wait
	cat "$res/sweep.txt"
}

case ${1:-} in
build) build ;;
run) run "${2:?usage: train-sweep.sh run CONFIGS}" ;;
*)
	echo "usage: train-sweep.sh build | run CONFIGS" >&2
	exit 2
	;;
esac
