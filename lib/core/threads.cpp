#include "tapeflow/threads.h"

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define TAPEFLOW_HAS_MXCSR 1
#endif

#include <fmt/format.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/float_mode.h"
#include "tapeflow/error.h"

namespace tapeflow {
namespace {

int initial_threads() {
  if (const char* env = std::getenv("TAPEFLOW_NUM_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1) return static_cast<int>(n);
    // Read when the library loads, where throwing would abort: warn and use all cores.
    fmt::print(stderr, "tapeflow: ignoring TAPEFLOW_NUM_THREADS='{}': it must be a positive integer\n", env);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

int& current() {
  static int n = [] {
    int t = initial_threads();
#ifdef _OPENMP
    omp_set_num_threads(t);
#endif
    return t;
  }();
  return n;
}

// Apply the default when the library loads, so the first kernel already uses it.
[[maybe_unused]] const int applied = current();

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw ValueError(fmt::format("set_num_threads: the number of threads must be >= 1, got {}", n));
  current() = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int get_num_threads() { return current(); }

namespace {

std::atomic<bool> flush_denormal_on{true};
// Bumped by each set_flush_denormal, so that each thread re-applies the mode once after a change.
std::atomic<int> float_mode_generation{0};

}  // namespace

bool set_flush_denormal(bool on) {
#ifdef TAPEFLOW_HAS_MXCSR
  flush_denormal_on = on;
  ++float_mode_generation;
  detail::apply_float_mode();
  return true;
#else
  (void)on;
  return false;
#endif
}

bool get_flush_denormal() {
#ifdef TAPEFLOW_HAS_MXCSR
  return flush_denormal_on;
#else
  return false;
#endif
}

void detail::apply_float_mode() {
#ifdef TAPEFLOW_HAS_MXCSR
  thread_local int applied = -1;
  const int generation = float_mode_generation.load(std::memory_order_relaxed);
  if (applied == generation) return;
  applied = generation;
  constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;  // MXCSR bits FTZ and DAZ
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(flush_denormal_on ? csr | kFlushToZero | kDenormalsAreZero : csr & ~(kFlushToZero | kDenormalsAreZero));
#endif
}

}  // namespace tapeflow
