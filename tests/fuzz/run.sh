#!/usr/bin/env bash
# Fuzzes every target of a TAPEFLOW_BUILD_FUZZ build (the asan preset) for SECONDS each, all at
# once (libFuzzer's -max_total_time is wall time; the machine's cores are shared between them):
#
#   bash tests/fuzz/run.sh [BUILD_DIR (build/asan)] [SECONDS (60)]
#
# Each target starts from the seeds the build wrote and keeps what it finds interesting in
# BUILD_DIR/tests/fuzz/corpus/<target> (a second run goes on from there). Exits non-zero when a
# target reports anything: a crash, a sanitizer error, an uncaught exception (anything but a
# tapeflow::Error, see fuzz.h), a timeout, a malloc beyond the limit. The input that did it is
# saved as BUILD_DIR/tests/fuzz/findings/<target>-{crash,leak,timeout,oom}-<sha1>; replay it with
# `BUILD_DIR/tests/fuzz/<target> <file>`.
set -euo pipefail
build=${1:-build/asan}
seconds=${2:-60}
fuzz=$build/tests/fuzz
targets=(fuzz_idx:idx fuzz_checkpoint:checkpoint fuzz_events:events fuzz_saver:saver)

# As the asan test preset: an allocation the machine refuses is a MemoryError (checked.h), not an
# abort. libFuzzer's -rss_limit_mb (also its limit for one malloc): 2.5 GB each, 10 GB for all
# four on the 24 GB CI machine; the inputs are a few KB, a reader needs a few MB.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
mkdir -p "$fuzz/findings" "$fuzz/logs"
pids=()
for entry in "${targets[@]}"; do
  target=${entry%%:*} kind=${entry#*:}
  mkdir -p "$fuzz/corpus/$target"
  "$fuzz/$target" "$fuzz/corpus/$target" "$fuzz/seeds/$kind" -max_total_time="$seconds" -rss_limit_mb=2560 \
    -timeout=20 -print_final_stats=1 -artifact_prefix="$fuzz/findings/$target-" >"$fuzz/logs/$target.log" 2>&1 &
  pids+=($!)
done

failed=0
for i in "${!targets[@]}"; do
  target=${targets[$i]%%:*}
  if wait "${pids[$i]}"; then
    echo "fuzz: $target: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$fuzz/logs/$target.log" | tail -1)"
  else
    failed=1
    echo "fuzz: $target FAILED; the end of $fuzz/logs/$target.log:"
    tail -n 60 "$fuzz/logs/$target.log"
  fi
done
exit $failed
