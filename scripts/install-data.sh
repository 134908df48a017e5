#!/usr/bin/env bash
# Installs Debian's Fashion-MNIST package (IDX files under
# /usr/share/datasets/fashion-mnist) when it is missing. Elsewhere it says
# what to do and exits 0: the tests that need the data skip with a message.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if ls "$dir"/train-images-idx3-ubyte* >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-data: $dir is missing and this is not a Debian system;" >&2
  echo "install-data: put the Fashion-MNIST IDX files there (or set FASHION_MNIST_DIR) to run the training test." >&2
  exit 0
fi
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"
apt_install install-data dataset-fashion-mnist
