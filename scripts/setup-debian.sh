#!/usr/bin/env bash
# Installs what Prism needs on Debian 12 (bookworm). Idempotent: when everything is present it only checks
# (well under a second); otherwise one apt-get install of the missing packages. Needs root or sudo.
set -euo pipefail

packages=(
    g++ make cmake pkg-config
    libopenmpi-dev openmpi-bin          # MPI
    libscalapack-openmpi-dev            # ScaLAPACK + BLACS built on Open MPI
    libhdf5-openmpi-dev hdf5-tools      # parallel HDF5 (and h5dump/h5ls for looking at outputs)
    libopenblas-dev liblapack-dev       # BLAS / LAPACK
    libboost-program-options-dev        # drivers' command lines
    libgtest-dev                        # tests
    python3-h5py                        # end-to-end tests write inputs and read outputs as users' tools do
    python3-anndata                     # format tests: real AnnData writer/reader (brings scipy for CSR/CSC and .mtx)
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
