#!/usr/bin/env bash
# Installs what tapeflow needs to build, test and train, from Debian 12's packages.
# Idempotent: installs only what is missing. Used by README's Quick start and by .ci/run.
set -euo pipefail

packages=(
  build-essential cmake ninja-build     # toolchain
  clang libomp-dev                      # the asan preset's compiler (clang 14) and its OpenMP (libomp)
  libclang-rt-dev llvm                  # its sanitizer and libFuzzer runtimes (only recommended by clang, so
                                        # named here), llvm-symbolizer for the stacks in their reports
  libeigen3-dev libfmt-dev zlib1g-dev   # the library
  libdnnl-dev ocl-icd-opencl-dev        # oneDNN: the float matrix products' kernel; its CMake config
                                        # requires OpenCL, which the package only recommends
  protobuf-compiler libprotobuf-dev     # TensorBoard event files
  libonnx-dev                           # ONNX export: onnx.proto's messages and onnx::checker
  libpng-dev                            # image summaries
  nlohmann-json3-dev                    # checkpoint headers (safetensors)
  libboost-test-dev                     # the tests
  libcli11-dev                          # samples and benchmarks (flags)
  libopenmpi-dev openmpi-bin            # data-parallel training (tapeflow::distributed, mpirun)
  dataset-fashion-mnist                 # the default data set: /usr/share/datasets/fashion-mnist
  fortunes                              # a small text corpus (data::fortunes): /usr/share/games/fortunes
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run ONNX Runtime in the ONNX export's tests: Debian's packages unless the machine
# has node and npm already (from NodeSource, say, whose nodejs conflicts with Debian's npm).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime's CPU library, from the npm package onnxruntime-node, into build/tools (where
# tests/onnx look for it): the tests run exported models in it. Its install script, which only
# fetches GPU libraries from nuget.org, is skipped.
tools="$(cd "$(dirname "$0")/.." && pwd)/build/tools"
ort_version=1.31.1
if ! grep -qs "\"version\": \"$ort_version\"" "$tools/node_modules/onnxruntime-node/package.json"; then
  echo "install-deps: onnxruntime-node $ort_version into $tools"
  mkdir -p "$tools"
  npm install --prefix "$tools" --ignore-scripts --no-audit --no-fund --loglevel=error "onnxruntime-node@$ort_version"
fi
