#!/usr/bin/env bash
# LeNet's training throughput on this machine as 1 process x 2 threads (bench `lenet`, `lenet200`)
# and as 2 processes x 1 thread, data-parallel over MPI (bench --distributed under mpirun), and the
# same two processes stepping without the allreduce (--no_allreduce: the figure if communication
# cost nothing), interleaved --runs times; prints the medians and their ratios to the first (issue
# target for the second: >= 0.85). Two configurations, of the same examples per step in both
# runs: 100 (the processes share lenet's batch, 50 each) and 200 (each process keeps a batch of
# 100, as Horovod's and DistributedDataParallel's scaling benchmarks hold the per-worker batch).
#
#   bash bench/mpi.sh [--runs N] [--build-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 build=build/release
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    *) echo "mpi.sh: unknown argument $1 (usage: bash bench/mpi.sh [--runs N] [--build-dir DIR])" >&2; exit 2 ;;
  esac
done
bench=$build/bench/tapeflow_bench
[ -x "$bench" ] || { echo "mpi.sh: $bench not found; build first (cmake --build --preset release)" >&2; exit 1; }
procs=2
mpirun=(mpirun -np "$procs" --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
figure() { awk '{print $(NF-1)}' <<<"$1"; }

# One configuration: $1 examples per step, $2 the single-process workload of that batch.
compare() {
  local batch=$1 single=$2 line one=() two=() free=()
  for ((i = 1; i <= runs; i++)); do
    line=$("$bench" --threads 2 "$single" | grep "^bench: $single ")
    echo "$line"; one+=("$(figure "$line")")
    line=$("${mpirun[@]}" "$bench" --threads 1 --distributed --batch "$batch" | grep '^bench: lenet_distributed ')
    echo "$line"; two+=("$(figure "$line")")
    line=$("${mpirun[@]}" "$bench" --threads 1 --distributed --batch "$batch" --no_allreduce |
      grep '^bench: lenet_no_allreduce ')
    echo "$line"; free+=("$(figure "$line")")
  done
  local m1 m2 m3
  m1=$(median "${one[@]}") m2=$(median "${two[@]}") m3=$(median "${free[@]}")
  summary+=("$(printf 'lenet, %s examples per step (%s per process): 1 process x 2 threads %s samples/s, 2 processes x 1 thread %s samples/s, ratio %s; without the allreduce (no communication) %s samples/s, ratio %s' \
    "$batch" $((batch / procs)) "$m1" "$m2" "$(ratio "$m2" "$m1")" "$m3" "$(ratio "$m3" "$m1")")")
}
summary=()
compare 100 lenet
compare 200 lenet200
printf '%s\n' "${summary[@]}"
