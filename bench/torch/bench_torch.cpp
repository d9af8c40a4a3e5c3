// The workloads of bench/bench.cpp written with libtorch, printing the same `bench:` lines.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

using Clock = std::chrono::steady_clock;

static double best_of(int reps, const std::function<void()>& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// Examples per second of Adam training steps of `net` on one fixed batch (after a warm-up).
static double training_rate(torch::nn::Sequential& net, const torch::Tensor& images, int steps) {
  const int64_t batch = images.size(0);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  torch::Tensor labels = torch::randint(0, 10, {batch}, torch::kLong);
  auto step = [&] {
    torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(images), labels);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 5; ++i) step();
  double secs = best_of(3, [&] {
    for (int i = 0; i < steps; ++i) step();
  });
  return static_cast<double>(batch) * steps / secs;
}

static void bench_overhead() {
  const int kOps = 100000;
  torch::Tensor c = torch::tensor(1.0001f);
  double secs = best_of(5, [&] {
    torch::Tensor x = torch::tensor(1.0f, torch::requires_grad());
    torch::Tensor y = x;
    for (int i = 0; i < kOps / 2; ++i) y = (y * c) + c;
    y.backward();
  });
  std::printf("bench: overhead ops=%d %.3f us/op\n", kOps, secs * 1e6 / kOps);
}

static void bench_mlp() {
  const int kBatch = 100, kSteps = 200;
  torch::manual_seed(1);
  torch::nn::Sequential net(torch::nn::Linear(784, 128), torch::nn::ReLU(), torch::nn::Linear(128, 32),
                            torch::nn::ReLU(), torch::nn::Linear(32, 10));
  const double rate = training_rate(net, torch::rand({kBatch, 784}), kSteps);
  std::printf("bench: mlp batch=%d steps=%d %.0f samples/s\n", kBatch, kSteps, rate);
}

// The same LeNet in libtorch's own layout (NCHW); SAME padding is 2 for 5x5 and 1 for 3x3.
// torch's LocalResponseNorm(size 11) averages the squares over the window, TensorFlow's
// depth_radius 5 sums them: the cost is the same.
static void bench_lenet() {
  const int kBatch = 100, kSteps = 30;
  namespace nn = torch::nn;
  torch::manual_seed(1);
  nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 20, 5).padding(2)), nn::ReLU(), nn::MaxPool2d(2),
                     nn::LocalResponseNorm(nn::LocalResponseNormOptions(11).alpha(11).beta(0.5).k(1)),
                     nn::Conv2d(nn::Conv2dOptions(20, 50, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                     nn::LocalResponseNorm(nn::LocalResponseNormOptions(11).alpha(11).beta(0.5).k(1)), nn::Flatten(),
                     nn::Dropout(0.5), nn::Linear(7 * 7 * 50, 1200), nn::ReLU(), nn::Dropout(0.5),
                     nn::Linear(1200, 1200), nn::ReLU(), nn::Dropout(0.5), nn::Linear(1200, 10));
  const double rate = training_rate(net, torch::rand({kBatch, 1, 28, 28}), kSteps);
  const double conv1 = 28.0 * 28 * 20 * 5 * 5 * 1, conv2 = 14.0 * 14 * 50 * 3 * 3 * 20;
  const double fc = 2450.0 * 1200 + 1200.0 * 1200 + 1200.0 * 10;
  const double flops = 2 * (conv1 * 2 + (conv2 + fc) * 3);
  std::printf("bench: lenet batch=%d steps=%d %.1f GFLOP/s %.0f samples/s\n", kBatch, kSteps, flops * rate * 1e-9, rate);
}

static void bench_gemm() {
  const int kN = 1024;
  torch::Tensor a = torch::rand({kN, kN}), b = torch::rand({kN, kN});
  torch::mm(a, b);
  double secs = best_of(5, [&] { torch::mm(a, b); });
  std::printf("bench: gemm n=%d %.1f GFLOP/s\n", kN, 2.0 * kN * kN * kN / secs * 1e-9);
}

int main(int argc, char** argv) {
  auto wanted = [&](const char* name) {
    if (argc < 2) return true;
    for (int i = 1; i < argc; ++i)
      if (std::strcmp(argv[i], name) == 0) return true;
    return false;
  };
  if (wanted("overhead")) bench_overhead();
  if (wanted("mlp")) bench_mlp();
  if (wanted("lenet")) bench_lenet();
  if (wanted("gemm")) bench_gemm();
  return 0;
}
