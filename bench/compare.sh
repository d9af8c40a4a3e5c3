#!/usr/bin/env bash
# Runs tapeflow's benchmarks and, when Debian's libtorch-dev is installed (best with OpenBLAS:
# libopenblas0-openmp, which libtorch then uses through libblas.so.3), the same workloads in
# libtorch, and prints them side by side with the ratio (tapeflow / libtorch for throughputs,
# libtorch / tapeflow for times, so > 1 means tapeflow is faster).
#
#   bash bench/compare.sh [names...]      (builds build/release first)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release > /dev/null
cmake --build --preset release --target tapeflow_bench > /dev/null
ours=$(./build/release/bench/tapeflow_bench "$@")
echo "$ours"
if ! dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q "install ok installed"; then
  echo "compare: libtorch-dev is not installed (apt-get install libtorch-dev): no comparison"
  exit 0
fi
cmake -S bench/torch -B build/bench-torch -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build/bench-torch > /dev/null
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)
echo "compare: libtorch uses the BLAS at $blas"
case "$blas" in
  */blas/libblas.so.3*) echo "compare: that is the slow reference BLAS; apt-get install libopenblas0-openmp for a fair comparison" ;;
esac
theirs=$(./build/bench-torch/bench_torch "$@")
echo "$theirs" | sed 's/^bench:/libtorch:/'
echo
printf '%-10s %16s %16s %8s\n' name tapeflow libtorch ratio
while read -r line; do
  name=$(echo "$line" | awk '{print $2}')
  ov=$(echo "$line" | awk '{print $(NF-1)}'); unit=$(echo "$line" | awk '{print $NF}')
  tv=$(echo "$theirs" | awk -v n="$name" '$2 == n {print $(NF-1)}')
  [ -n "$tv" ] || continue
  case "$unit" in
    us/op|ms|s) ratio=$(awk -v a="$ov" -v b="$tv" 'BEGIN {printf "%.2f", b / a}') ;;
    *) ratio=$(awk -v a="$ov" -v b="$tv" 'BEGIN {printf "%.2f", a / b}') ;;
  esac
  printf '%-10s %16s %16s %7sx\n' "$name" "$ov $unit" "$tv $unit" "$ratio"
done <<< "$ours"
