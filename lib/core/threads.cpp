#include "tapeflow/threads.h"

#include <cstdlib>
#include <string>
#include <thread>

#include <Eigen/Core>
#include <fmt/format.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "tapeflow/error.h"
#include <cstdio>

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
    Eigen::setNbThreads(t);
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
  Eigen::setNbThreads(n);
}

int get_num_threads() { return current(); }

}  // namespace tapeflow
