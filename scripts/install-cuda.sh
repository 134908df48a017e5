#!/usr/bin/env bash
# Installs the CUDA toolkit (nvcc) needed to build build/libhalcuda.so.
#
# On Debian it enables the contrib and non-free components of the Debian
# archive (deb822 /etc/apt/sources.list.d/debian.sources or the one-line
# /etc/apt/sources.list) and installs nvidia-cuda-toolkit. Elsewhere it says
# what to install. Idempotent: it does nothing when nvcc is already there.
# Runs under a lock so that two builds do not install at the same time.
set -euo pipefail

LOCK=${CUDA_INSTALL_LOCK:-/tmp/cuda-install.lock}

have_nvcc() {
	command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]
}

if have_nvcc; then
	exit 0
fi

if [ ! -r /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
	cat >&2 <<'EOF'
install-cuda: nvcc not found and this is not a Debian system.
Install the CUDA toolkit (11.8 or later, with nvcc) from your distribution or
from NVIDIA, and put nvcc on PATH (or set NVCC=/path/to/nvcc); then run
`make kernels` again.
EOF
	exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "install-cuda: need root (or sudo) to run apt-get" >&2
		exit 1
	fi
fi

exec 9>"$LOCK"
flock 9

# Another run may have finished while we waited for the lock.
if have_nvcc; then
	exit 0
fi

# enable_deb822 FILE: adds contrib and non-free to the Components of
# every deb822 stanza of FILE that lacks them.
enable_deb822() {
	local f=$1
	if grep -Eq '^Components:' "$f" && grep -E '^Components:' "$f" | grep -Evq 'non-free( |$)'; then
		$SUDO sed -i -E '/^Components:/ {
			/ contrib( |$)/! s/$/ contrib/
			/ non-free( |$)/! s/$/ non-free/
		}' "$f"
		echo "install-cuda: enabled contrib non-free in $f"
	fi
}

# enable_list FILE: the same for one-line "deb URI suite components" files.
enable_list() {
	local f=$1
	if grep -Eq '^deb ' "$f"; then
		$SUDO sed -i -E '/^deb .*debian/ {
			/ contrib( |$)/! s/$/ contrib/
			/ non-free( |$)/! s/$/ non-free/
		}' "$f"
		echo "install-cuda: enabled contrib non-free in $f"
	fi
}

if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	enable_deb822 /etc/apt/sources.list.d/debian.sources
elif [ -f /etc/apt/sources.list ]; then
	enable_list /etc/apt/sources.list
else
	echo "install-cuda: no Debian apt sources found to enable non-free in" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q nvidia-cuda-toolkit

if ! have_nvcc; then
	echo "install-cuda: nvidia-cuda-toolkit installed but nvcc is not on PATH" >&2
	exit 1
fi
nvcc --version | tail -n 2
