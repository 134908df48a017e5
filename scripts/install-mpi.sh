#!/usr/bin/env bash
# Installs Debian's MPICH (the mpich package: mpiexec and the runtime; and
# libmpich-dev: mpi.h and mpicc, which build/libhalmpi.so is compiled with)
# when mpicc or mpiexec is missing. Elsewhere it says what to do and exits 0:
# the MPI tests of ./dist skip with a message when the library or mpiexec is
# missing.
set -euo pipefail
if { command -v mpicc.mpich || command -v mpicc; } >/dev/null 2>&1 && command -v mpiexec >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-mpi: MPICH (mpicc, mpiexec) is missing and this is not a Debian system;" >&2
  echo "install-mpi: install MPICH with its headers to build build/libhalmpi.so (make mpi)." >&2
  exit 0
fi
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"
apt_install install-mpi --no-install-recommends mpich libmpich-dev
