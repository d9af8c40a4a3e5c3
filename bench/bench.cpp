// tapeflow's benchmarks. Each result is one line: `bench: <name> <details> <figure> <unit>`.
//
//   overhead  a chain of 100,000 tiny ops recorded on the tape plus backward, microseconds per op
//   mlp       training steps of the 784-128-32-10 MLP at batch 100 (Adam), samples/s
//   lenet     training steps of the LeNet of samples/lenet_eager at batch 100 (Adam), samples/s,
//             and the GFLOP/s that reaches (forward + backward multiply-adds of its convolutions
//             and fully connected layers)
//   gemm      float32 GEMM throughput of this machine through Eigen, GFLOP/s
//
// bench/compare.sh runs the same workloads in libtorch (when installed) and prints both.
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tapeflow/nn.h"
#include "tapeflow/optim.h"
#include "tapeflow/tapeflow.h"

namespace tf = tapeflow;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// The best of `reps` timings of f (seconds).
double best_of(int reps, const std::function<void()>& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    f();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

/// Examples per second of Adam training steps of `net` on one fixed batch (after a warm-up).
double training_rate(tf::nn::Module& net, const tf::Tensor& images, int steps) {
  const std::int64_t batch = images.dim(0);
  tf::optim::Adam opt(net.parameters(), {.lr = 1e-3});
  tf::Tensor labels = tf::cast(tf::random_uniform({batch}, 0, 10), tf::int64);
  auto step = [&] {
    auto loss = tf::reduce_mean(tf::nn::sparse_softmax_cross_entropy_with_logits(labels, net(images)));
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 5; ++i) step();  // warm-up
  double secs = best_of(3, [&] {
    for (int i = 0; i < steps; ++i) step();
  });
  return static_cast<double>(batch) * steps / secs;
}

void bench_overhead() {
  constexpr int kOps = 100'000;
  tf::Tensor c = tf::scalar(1.0001f);
  double secs = best_of(5, [&] {
    tf::Tensor x = tf::scalar(1.0f);
    x.requires_grad_();
    tf::Tensor y = x;
    for (int i = 0; i < kOps / 2; ++i) y = (y * c) + c;
    y.backward();
  });
  fmt::print("bench: overhead ops={} {:.3f} us/op\n", kOps, secs * 1e6 / kOps);
}

void bench_mlp() {
  constexpr int kBatch = 100, kSteps = 200;
  tf::manual_seed(1);
  tf::nn::Sequential net(tf::nn::Linear(784, 128), tf::nn::ReLU(), tf::nn::Linear(128, 32), tf::nn::ReLU(),
                         tf::nn::Linear(32, 10));
  const double rate = training_rate(net, tf::random_uniform({kBatch, 784}), kSteps);
  fmt::print("bench: mlp batch={} steps={} {:.0f} samples/s\n", kBatch, kSteps, rate);
}

void bench_lenet() {
  constexpr int kBatch = 100, kSteps = 30;
  namespace nn = tf::nn;
  tf::manual_seed(1);
  nn::Sequential net(nn::Conv2d(1, 20, 5), nn::ReLU(), nn::MaxPool2d(2), nn::LocalResponseNorm(),
                     nn::Conv2d(20, 50, 3), nn::ReLU(), nn::MaxPool2d(2), nn::LocalResponseNorm(), nn::Flatten(),
                     nn::Dropout(0.5), nn::Linear(7 * 7 * 50, 1200), nn::ReLU(), nn::Dropout(0.5),
                     nn::Linear(1200, 1200), nn::ReLU(), nn::Dropout(0.5), nn::Linear(1200, 10));
  const double rate = training_rate(net, tf::random_uniform({kBatch, 28, 28, 1}), kSteps);
  // Multiply-adds per example, forward: conv1, conv2, fc1, fc2, logits. Backward costs twice the
  // forward except for conv1, whose input needs no gradient.
  const double conv1 = 28.0 * 28 * 20 * 5 * 5 * 1, conv2 = 14.0 * 14 * 50 * 3 * 3 * 20;
  const double fc = 2450.0 * 1200 + 1200.0 * 1200 + 1200.0 * 10;
  const double flops = 2 * (conv1 * 2 + (conv2 + fc) * 3);
  fmt::print("bench: lenet batch={} steps={} {:.1f} GFLOP/s {:.0f} samples/s\n", kBatch, kSteps, flops * rate * 1e-9,
             rate);
}

void bench_gemm() {
  constexpr int kN = 1024;
  tf::Tensor a = tf::random_uniform({kN, kN}), b = tf::random_uniform({kN, kN});
  tf::matmul(a, b);
  double secs = best_of(5, [&] { tf::matmul(a, b); });
  fmt::print("bench: gemm n={} {:.1f} GFLOP/s\n", kN, 2.0 * kN * kN * kN / secs * 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tapeflow benchmarks"};
  std::vector<std::string> only;
  int threads = 0;
  app.add_option("names", only, "benchmarks to run (default: all): overhead mlp lenet gemm");
  app.add_option("--threads", threads, "threads (default: all cores)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) tf::set_num_threads(threads);
  const std::vector<std::pair<std::string, std::function<void()>>> all = {
      {"overhead", bench_overhead}, {"mlp", bench_mlp}, {"lenet", bench_lenet}, {"gemm", bench_gemm}};
  for (const auto& [name, run] : all)
    if (only.empty() || std::find(only.begin(), only.end(), name) != only.end()) run();
  return 0;
}
