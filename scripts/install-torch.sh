#!/usr/bin/env bash
# Installs what bench/torch_cpu_step.py compares against: Debian's PyTorch
# (python3-torch) and the two allocators PyTorch's CPU guides recommend
# preloading (jemalloc, tcmalloc). Elsewhere it says what is missing.
set -euo pipefail
need=()
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)
ls /usr/lib/*/libjemalloc.so.2 >/dev/null 2>&1 || need+=(libjemalloc2)
ls /usr/lib/*/libtcmalloc_minimal.so.4 >/dev/null 2>&1 || need+=(libtcmalloc-minimal4)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-torch: missing ${need[*]}; install PyTorch for /usr/bin/python3 and the allocators by hand" >&2
  exit 1
fi
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"
apt_install install-torch "${need[@]}"
