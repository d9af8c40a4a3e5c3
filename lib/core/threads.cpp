#include "tapeflow/threads.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define TAPEFLOW_HAS_MXCSR 1
#endif

#include <fmt/format.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/float_mode.h"
#include "core/load.h"
#include "tapeflow/error.h"

namespace tapeflow {
namespace {

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

int initial_threads() {
  if (const char* env = std::getenv("TAPEFLOW_NUM_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1) return static_cast<int>(n);
    // Read when the library loads, where throwing would abort: warn and use all cores.
    fmt::print(stderr, "tapeflow: ignoring TAPEFLOW_NUM_THREADS='{}': it must be a positive integer\n", env);
  }
  return detail::usable_cpus();
}

bool initial_adaptive() {
  const char* env = std::getenv("TAPEFLOW_ADAPTIVE_THREADS");
  if (!env) return true;
  const std::string v = env;
  if (v == "1" || v == "on" || v == "true") return true;
  if (v == "0" || v == "off" || v == "false") return false;
  fmt::print(stderr, "tapeflow: ignoring TAPEFLOW_ADAPTIVE_THREADS='{}': it must be 0 or 1\n", env);
  return true;
}

// The most threads a team may have (set_num_threads); read by the monitor thread too.
std::atomic<int>& cap() {
  static std::atomic<int> n = [] {
    int t = initial_threads();
#ifdef _OPENMP
    omp_set_num_threads(t);
#endif
    return t;
  }();
  return n;
}

// Apply the default when the library loads, so the first kernel already uses it.
[[maybe_unused]] const int applied = cap().load();

// ---------------------------------------------------------------------- adaptive thread count
// A monitor thread measures, every kPeriod, how much CPU time other processes took on the CPUs
// this process may use (their busy time in /proc/stat minus this process's CPU time), and sets
// `adapted` from it (adapt_threads); every team opens with that many threads. Started by the
// first team, so a program that never runs a parallel kernel never has it.

std::atomic<bool> adaptive_on{initial_adaptive()};
std::atomic<int> adapted{0};  // 0: no reading yet (the cap)
std::atomic<bool> monitor_started{false};
constexpr auto kPeriod = std::chrono::milliseconds(100);

double seconds(clockid_t clock) {
  timespec t{};
  ::clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct LoadSample {
  std::int64_t busy = -1;  // ticks of the allowed CPUs
  std::int64_t running = -1;  // procs_running, machine-wide
  double wall = 0, own = 0;
};

/// `text`: the caller's buffer for /proc/stat, kept from one sample to the next.
LoadSample sample_load(const std::vector<int>& cpus, std::string& text) {
  LoadSample s;
  s.wall = seconds(CLOCK_MONOTONIC);
  s.own = seconds(CLOCK_PROCESS_CPUTIME_ID);
  // /proc/stat with read(2) into the buffer: no allocation per line, a few kilobytes for most machines.
  const int fd = ::open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return s;
  if (text.empty()) text.resize(std::size_t{1} << 16);
  std::size_t size = 0;
  for (ssize_t n; (n = ::read(fd, text.data() + size, text.size() - size)) > 0;) {
    size += static_cast<std::size_t>(n);
    if (size == text.size()) text.resize(2 * size);
  }
  ::close(fd);
  s.busy = detail::busy_ticks(std::string_view(text.data(), size), cpus);
  s.running = detail::procs_running(std::string_view(text.data(), size));
  return s;
}

/// This process's threads that are running or ready to run (state R in /proc/self/task/*/stat).
int own_running() {
  int running = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    const int fd = ::open((task.path() / "stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char text[512];
    const ssize_t n = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    if (n <= 0) continue;
    // "tid (name) S ...": the state follows the last ')' (a name may hold parentheses).
    const std::string_view stat(text, static_cast<std::size_t>(n));
    const std::size_t close = stat.rfind(')');
    if (close != std::string_view::npos && close + 2 < stat.size() && stat[close + 2] == 'R') ++running;
  }
  return running;
}

void monitor() {
  const std::vector<int> cpus = allowed_cpus();
  const double tick = 1.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::string text;
  LoadSample before = sample_load(cpus, text);
  if (cpus.size() < 2 || before.busy < 0 || tick <= 0) return;  // one CPU, or no /proc: the cap
  // A first estimate at once, from the tasks running now besides this process's own (the
  // monitor, counted among them, is one of this process's): CPU time needs a period to measure,
  // and a short run would spend it in teams too large for the load. On a machine with more CPUs
  // than the allowed ones, the other CPUs' tasks count too: the estimate is a guess, replaced
  // by the measurement after the first period.
  auto publish = [&](double others) {
    const int c = cap().load(std::memory_order_relaxed), in_use = adapted.load(std::memory_order_relaxed);
    adapted.store(detail::adapt_threads(in_use == 0 ? c : in_use, c, static_cast<int>(cpus.size()), others),
                  std::memory_order_relaxed);
  };
  double others = before.running >= 0 ? std::max(0.0, static_cast<double>(before.running - own_running())) : 0.0;
  publish(others);
  bool first = before.running < 0;
  for (;;) {
    std::this_thread::sleep_for(kPeriod);
    const LoadSample now = sample_load(cpus, text);
    if (now.busy < 0) return;
    const double wall = now.wall - before.wall;
    if (wall <= 0) continue;
    const double taken = (static_cast<double>(now.busy - before.busy) * tick - (now.own - before.own)) / wall;
    // Smoothed over about two periods: /proc/stat counts in ticks (10 ms), a period holds 10 per CPU.
    others = first ? taken : 0.5 * others + 0.5 * taken;
    first = false;
    before = now;
    publish(others);
  }
}

void start_monitor() {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  if (monitor_started.load()) return;
  // A forked child has no monitor thread: it starts its own with its first team.
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, [] {
      monitor_started.store(false);
      adapted.store(0);
    });
    return true;
  }();
  (void)registered;
  try {
    std::thread(monitor).detach();
  } catch (const std::system_error&) {
    // No thread to spare: the cap, as without adaptation.
  }
  monitor_started.store(true);
}

}  // namespace

int detail::usable_cpus() {
  static const int n = [] {
    const std::size_t allowed = allowed_cpus().size();
    if (allowed > 0) return static_cast<int>(allowed);
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(hw);
  }();
  return n;
}

void set_num_threads(int n) {
  if (n < 1) throw ValueError(fmt::format("set_num_threads: the number of threads must be >= 1, got {}", n));
  cap() = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int get_num_threads() { return cap().load(); }

void set_adaptive_threads(bool on) { adaptive_on = on; }

bool get_adaptive_threads() { return adaptive_on; }

int threads_in_use() {
  const int c = cap().load(std::memory_order_relaxed);
  if (c == 1 || !adaptive_on.load(std::memory_order_relaxed)) return c;
  if (!monitor_started.load(std::memory_order_acquire)) start_monitor();
  const int n = adapted.load(std::memory_order_relaxed);
  return n == 0 ? c : std::min(n, c);
}

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
