#!/usr/bin/env bash
# Runs tapeflow's benchmarks (bench/bench.cpp) and, when Debian's libtorch-dev is installed (best
# with OpenBLAS: libopenblas0-openmp, which libtorch then uses through libblas.so.3), the same
# workloads in libtorch (bench/torch), interleaved: for each workload, tapeflow, libtorch,
# tapeflow, libtorch... Then prints a table of the medians:
#
#   workload  tapeflow  libtorch  ratio  %gemm (tapeflow, libtorch)  peak MB (tapeflow, libtorch)
#
# ratio > 1 means tapeflow is faster (tapeflow / libtorch for throughputs, libtorch / tapeflow for
# times); %gemm is a training workload's GFLOP/s over the gemm figure of the same program and run;
# peak MB is the workload's own peak resident memory (each runs in a child process). Last, the
# graph-mode cost: fully_connected_feed's samples/s over fcf_eager's (same network, eager).
#
#   bash bench/compare.sh [--threads N] [--runs N] [--contended N] [--build-dir DIR] [workloads...]
#
#   --threads N      threads for both libraries (default 2: TAPEFLOW_NUM_THREADS, torch::set_num_threads)
#   --runs N         runs per workload and library; the table shows medians (default 3)
#   --contended N    also run each training workload beside N CPU-bound processes that the bench
#                    starts and stops: rows <name>_contended (at --threads) and <name>_contended_1t
#                    (at one thread), with the share of the quiet figure each keeps
#   --build-dir DIR  tapeflow's build directory, configured if needed (default build/release);
#                    libtorch's side is built in DIR/bench-torch
#   workloads        overhead gemm mlp lenet lenet500 convnet fully_connected_feed fcf_eager
#                    transformer lstm
#                    (default: all)
#
# Each run prints its `bench: ...` line (libtorch's as `libtorch: ...`), in the format documented
# at the top of bench/bench.cpp.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=2 runs=3 build=build/release contended=0
all=(overhead gemm mlp lenet lenet500 convnet fully_connected_feed fcf_eager transformer lstm)
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --contended) contended=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compare: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
for n in "${names[@]}"; do
  [[ " ${all[*]} " == *" $n "* ]] || { echo "compare: unknown workload '$n'; workloads: ${all[*]}" >&2; exit 2; }
done

# ---- build
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
fi
cmake -S . -B "$build" -DTAPEFLOW_BUILD_BENCH=ON > /dev/null
cmake --build "$build" -j2 --target tapeflow_bench > /dev/null
ours_bin=$build/bench/tapeflow_bench

theirs_bin=
if dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q "install ok installed"; then
  cmake -S bench/torch -B "$build/bench-torch" -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build "$build/bench-torch" > /dev/null
  theirs_bin=$build/bench-torch/bench_torch
  blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)
  echo "compare: libtorch uses the BLAS at $blas"
  case "$blas" in
    */blas/libblas.so.3*) echo "compare: that is the slow reference BLAS; apt-get install libopenblas0-openmp for a fair comparison" ;;
  esac
else
  echo "compare: libtorch-dev is not installed (apt-get install libtorch-dev): tapeflow only"
fi
torch_names=" overhead gemm mlp lenet lenet500 convnet fcf_eager transformer lstm "  # bench_torch's workloads

export TAPEFLOW_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
echo "compare: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $threads threads, $runs runs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- runs, interleaved; results[<lib>:<name>] collects one line per run
declare -A results
# run <lib> <name>: one run of one workload; prints and records its line.
run() {
  local lib=$1 name=$2 bin prefix line
  if [ "$lib" = tapeflow ]; then bin=$ours_bin prefix=bench; else bin=$theirs_bin prefix=libtorch; fi
  local lines
  if ! lines=$("$bin" --threads "$threads" --contended "$contended" "$name" |
               awk -v n="$name" '$2 == n || $2 == n "_contended" || $2 == n "_contended_1t"'); then
    echo "compare: $lib $name failed" >&2
    return
  fi
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    echo "$line" | sed "s/^bench:/$prefix:/"
    results[$lib:$(echo "$line" | awk '{print $2}')]+="$line"$'\n'
  done <<< "$lines"
}
for name in "${names[@]}"; do
  for ((r = 0; r < runs; ++r)); do
    run tapeflow "$name"
    if [ -n "$theirs_bin" ] && [[ "$torch_names" == *" $name "* ]]; then run libtorch "$name"; fi
  done
done

# ---- table of medians
# median <lib> <name> <field>: the median over the runs of the figure (field "figure") or of a
# key=value detail ("gemm_fraction", "peak_mb"); empty when there is none.
median() {
  printf '%s' "${results[$1:$2]:-}" | awk -v k="$3" '
    NF { if (k == "figure") print $(NF - 1)
         else for (i = 3; i < NF - 1; ++i) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' |
    sort -g | awk '{ x[NR] = $1 } END { if (NR) printf "%.10g", NR % 2 ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2 }'
}
unit_of() { printf '%s' "${results[$1:$2]:-}" | awk 'NF { u = $NF } END { print u }'; }
percent() { [ -n "$1" ] && awk -v f="$1" 'BEGIN { printf "%.0f%%", 100 * f }' || echo -; }

echo
printf '%-21s %18s %18s %7s %9s %9s %8s %8s\n' workload tapeflow libtorch ratio '%gemm tf' '%gemm lt' 'MB tf' 'MB lt'
rows=()
for name in "${names[@]}"; do rows+=("$name" "${name}_contended" "${name}_contended_1t"); done
for name in "${rows[@]}"; do
  ov=$(median tapeflow "$name" figure)
  [ -n "$ov" ] || continue
  unit=$(unit_of tapeflow "$name")
  tv=$(median libtorch "$name" figure)
  ratio=-
  if [ -n "$tv" ]; then
    case "$unit" in
      us/op|ms|s) ratio=$(awk -v a="$ov" -v b="$tv" 'BEGIN {printf "%.2fx", b / a}') ;;
      *) ratio=$(awk -v a="$ov" -v b="$tv" 'BEGIN {printf "%.2fx", a / b}') ;;
    esac
  fi
  theirs=${tv:+$tv $unit} their_mb=$(median libtorch "$name" peak_mb)
  printf '%-21s %18s %18s %7s %9s %9s %8s %8s\n' "$name" "$ov $unit" "${theirs:--}" "$ratio" \
    "$(percent "$(median tapeflow "$name" gemm_fraction)")" "$(percent "$(median libtorch "$name" gemm_fraction)")" \
    "$(median tapeflow "$name" peak_mb)" "${their_mb:--}"
done

# The share of its quiet figure each library keeps beside the competitors.
if [ "$contended" -gt 0 ]; then
  echo
  echo "beside $contended busy process(es): the share of the quiet figure kept (tapeflow, libtorch)"
  for name in "${names[@]}"; do
    for variant in contended contended_1t; do
      ours=$(median tapeflow "${name}_$variant" figure)
      [ -n "$ours" ] || continue
      theirs=$(median libtorch "${name}_$variant" figure)
      printf '%-27s %8s %8s\n' "${name}_$variant" \
        "$(awk -v c="$ours" -v q="$(median tapeflow "$name" figure)" 'BEGIN { printf "%.0f%%", 100 * c / q }')" \
        "$( [ -n "$theirs" ] && awk -v c="$theirs" -v q="$(median libtorch "$name" figure)" 'BEGIN { printf "%.0f%%", 100 * c / q }' || echo -)"
    done
  done
fi

graph=$(median tapeflow fully_connected_feed figure) eager=$(median tapeflow fcf_eager figure)
if [ -n "$graph" ] && [ -n "$eager" ]; then
  echo
  awk -v g="$graph" -v e="$eager" 'BEGIN {
    printf "graph/eager: %.2f (fully_connected_feed %g samples/s in graph mode, fcf_eager %g eager; 1 means no graph-mode cost)\n",
           g / e, g, e }'
fi
