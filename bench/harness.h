#pragma once
// What bench/bench.cpp (tapeflow) and bench/torch/bench_torch.cpp (libtorch) share: timing, the
// FLOP count and line of a training workload, and running each workload in a child process of its
// own (for its peak resident memory), the gemm figure first. Plain C++17 and POSIX, no fmt, so
// that the libtorch project (C++17, its own CMake project) compiles it too.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

/// What every workload gets: the threads to use and the gemm figure (0 when not measured).
struct Context {
  int threads = 0;
  double gemm_gflops = 0;
  /// With competitors > 0, each training workload runs again beside that many CPU-bound processes
  /// (`<name>_contended` at `threads`, `<name>_contended_1t` at one thread).
  int competitors = 0;
};

/// What a workload measured: `details` go before peak_mb, `figure` and `unit` end the line.
struct Result {
  std::string details;
  double figure = 0;
  int precision = 0;  // digits after the point when printing `figure`
  std::string unit;
};

struct Workload {
  std::string name;
  std::function<Result(const Context&)> run;
  bool training;  // reports gemm_fraction, so needs the gemm figure
};

/// printf into a std::string.
inline std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string format(const char* fmt, ...) {
  char buffer[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buffer, sizeof buffer, fmt, args);
  va_end(args);
  return buffer;
}

/// The best of `reps` timings of f (seconds).
inline double best_of(int reps, const std::function<void()>& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

/// Examples per second of `step` (one training step on `batch` examples): one warm-up step, then
/// the best of three runs of `steps` steps.
inline double training_rate(std::int64_t batch, int steps, const std::function<void()>& step) {
  step();
  const double secs = best_of(3, [&] {
    for (int i = 0; i < steps; ++i) step();
  });
  return static_cast<double>(batch) * steps / secs;
}

/// FLOPs of one training step per example, from the forward multiply-adds of the first layer
/// (backward: only the weights' gradient, one more product) and of the others (two more).
inline double training_flops(double first_layer_macs, double other_macs) {
  return 2 * (2 * first_layer_macs + 3 * other_macs);
}

/// The line of a training workload.
inline Result training_result(const Context& ctx, std::int64_t batch, int steps, double rate,
                              double flops_per_example) {
  const double gflops = flops_per_example * rate * 1e-9;
  std::string details = format("batch=%lld steps=%d gflops=%.1f", static_cast<long long>(batch), steps, gflops);
  if (ctx.gemm_gflops > 0) details += format(" gemm_fraction=%.3f", gflops / ctx.gemm_gflops);
  return {details, rate, 0, "samples/s"};
}

/// The language-model workloads (`transformer`, `lstm`: samples/char_transformer and
/// samples/char_lstm), the same in both programs: their sizes, steps per timing and FLOPs.
namespace lm {

constexpr std::int64_t kWindows = 32, kContext = 128;  // a step's batch: 32 windows of 128 bytes
constexpr int kSteps = 4;
constexpr std::int64_t kWidth = 128, kBlocks = 4, kHeads = 4;  // the transformer
constexpr std::int64_t kHidden = 256, kLayers = 2;             // the LSTM (embedding of 256 too)

/// The transformer's forward multiply-adds per token. Per block: q, k, v and the output
/// projection, the MLP's two products, attention's two (counted as if unmasked); the head.
constexpr double transformer_macs() {
  const double block = 4.0 * kWidth * kWidth + 2.0 * kWidth * 4 * kWidth + 2.0 * kContext * kWidth;
  return kBlocks * block + kWidth * 256.0;
}

/// The LSTM's: per layer the input's and the state's products with the 4 gates; the head.
constexpr double lstm_macs() { return kLayers * (2.0 * kHidden * 4 * kHidden) + kHidden * 256.0; }

/// The line of one of them: the figure in tokens/s, FLOPs 3 times the forward's (every product's
/// input needs its gradient, the first one's for the embeddings).
inline Result token_training_result(const Context& ctx, double tokens_per_s, double macs_per_token) {
  Result r = training_result(ctx, kWindows * kContext, kSteps, tokens_per_s, training_flops(0, macs_per_token));
  r.details = format("batch=%lldx%lld", static_cast<long long>(kWindows), static_cast<long long>(kContext)) +
              r.details.substr(r.details.find(' '));
  r.unit = "tokens/s";
  return r;
}

}  // namespace lm

/// CPU-bound competitors while it lives: `n` child processes that spin (a busy neighbour: another
/// job, a build), killed by the destructor. A quarter of a second passes before the measurement,
/// so that the scheduler has spread them.
class Competitors {
 public:
  explicit Competitors(int n) {
    std::fflush(stdout);
    std::fflush(stderr);
    for (int i = 0; i < n; ++i) {
      const pid_t pid = ::fork();
      if (pid < 0) throw std::runtime_error("bench: fork() failed");
      if (pid == 0) {
        volatile double x = 1;
        for (;;) x = x * 1.0000001 + 1e-9;
      }
      pids_.push_back(pid);
    }
    ::usleep(250000);
  }
  ~Competitors() {
    for (pid_t pid : pids_) ::kill(pid, SIGKILL);
    for (pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
  }
  Competitors(const Competitors&) = delete;
  Competitors& operator=(const Competitors&) = delete;

 private:
  std::vector<pid_t> pids_;
};

namespace detail {

inline void write_all(int fd, const std::string& text) {
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

inline std::string read_all(int fd) {
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  return text;
}

/// Runs `w` in a child process (which first calls set_threads(ctx.threads) when that is > 0, so
/// that the parent never starts a thread pool) and prints its `bench:` line with the child's peak
/// resident memory. Returns the figure, or a negative number when the workload failed (its error
/// is on stderr).
inline double run_in_child(const Workload& w, const Context& ctx, void (*set_threads)(int), const char* suffix = "") {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("bench: pipe() failed");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("bench: fork() failed");
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    try {
      if (ctx.threads > 0) set_threads(ctx.threads);
      const Result r = w.run(ctx);
      write_all(fds[1], format("%.*f\n%s\n%s", r.precision, r.figure, r.unit.c_str(), r.details.c_str()));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench: %s failed: %s\n", w.name.c_str(), e.what());
      code = 1;
    }
    std::fflush(stderr);
    ::_exit(code);
  }
  ::close(fds[1]);
  const std::string text = read_all(fds[0]);
  ::close(fds[0]);
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (WIFSIGNALED(status)) std::fprintf(stderr, "bench: %s killed by signal %d\n", w.name.c_str(), WTERMSIG(status));
    return -1;
  }
  // text: "<figure>\n<unit>\n<details>"
  const auto first = text.find('\n'), second = text.find('\n', first + 1);
  const std::string figure = text.substr(0, first), unit = text.substr(first + 1, second - first - 1);
  const double peak_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
  std::printf("bench: %s%s %s peak_mb=%.0f %s %s\n", w.name.c_str(), suffix, text.substr(second + 1).c_str(),
              peak_mb, figure.c_str(), unit.c_str());
  std::fflush(stdout);
  return std::stod(figure);
}

}  // namespace detail

/// Runs the workloads of `all` named in `only` (all when empty), each in a child process, the
/// gemm figure first when a training workload needs it. Returns the exit code: 1 when one failed.
inline int run_workloads(const std::vector<Workload>& all, const std::vector<std::string>& only, Context ctx,
                         void (*set_threads)(int)) {
  auto wanted = [&](const Workload& w) {
    return only.empty() || std::find(only.begin(), only.end(), w.name) != only.end();
  };
  bool failed = false;
  const bool need_gemm = std::any_of(all.begin(), all.end(), [&](const Workload& w) {
    return wanted(w) && (w.training || w.name == "gemm");
  });
  if (need_gemm) {
    const auto gemm = std::find_if(all.begin(), all.end(), [](const Workload& w) { return w.name == "gemm"; });
    const double figure = detail::run_in_child(*gemm, ctx, set_threads);
    failed = figure < 0;
    ctx.gemm_gflops = std::max(figure, 0.0);
  }
  for (const auto& w : all) {
    if (!wanted(w) || w.name == "gemm") continue;
    failed = detail::run_in_child(w, ctx, set_threads) < 0 || failed;
    if (ctx.competitors > 0 && w.training) {
      Competitors busy(ctx.competitors);
      failed = detail::run_in_child(w, ctx, set_threads, "_contended") < 0 || failed;
      Context one = ctx;
      one.threads = 1;
      failed = detail::run_in_child(w, one, set_threads, "_contended_1t") < 0 || failed;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace bench
