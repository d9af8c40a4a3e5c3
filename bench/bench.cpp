// tapeflow's benchmarks. Each workload runs in a child process of its own (so that its peak
// resident memory is its own, not an earlier workload's) and prints one line:
//
//   bench: <name> <key=value details> peak_mb=<MB> <figure> <unit>
//
// The last two fields are always the figure and its unit; peak_mb is the child's peak resident
// memory (ru_maxrss from wait4, in MiB), which includes what the process holds before the workload
// starts (the program and its libraries: a few MB here, about 80 MB for libtorch). The workloads
// and their lines:
//
//   bench: overhead ops=100000 peak_mb=<MB> <us> us/op
//       a chain of 100,000 tiny scalar ops recorded on the tape plus backward, microseconds per op
//   bench: gemm n=1024 peak_mb=<MB> <GFLOP/s> GFLOP/s
//       float32 1024x1024 GEMM through tapeflow::matmul (Eigen): the machine's roofline
//   bench: <training> batch=<B> steps=<S> gflops=<GFLOP/s> gemm_fraction=<f> peak_mb=<MB> <rate> samples/s
//       training steps on one fixed random batch (after one warm-up step; the best of three runs
//       of S steps), where <training> is one of
//         mlp                   the 784-128-32-10 MLP (nn::Linear with its ReLU fused) at batch 100, Adam
//         lenet, lenet500       the LeNet of samples/lenet_eager at batch 100 and 500, Adam
//         lenet200              the same at batch 200: the single-process peer of
//                               --distributed --batch 200 (100 examples per process)
//         convnet               the network of samples/convnet (seed 002) at batch 128, Adam: conv
//                               5x5x32 + batch norm + ReLU, max pool, conv 5x5x64 + batch norm +
//                               ReLU, max pool, conv 7x7x1024 VALID + ReLU, dropout 0.5, conv 1x1
//                               to 10, squeeze
//         fully_connected_feed  the 784-128-32-10 network of samples/fully_connected_feed in graph
//                               mode (placeholders, GradientDescentOptimizer(0.01).minimize with a
//                               global step, one Session::run({train_op, loss}) per step), batch 100
//         fcf_eager             the same network, ops and optimizer in eager mode: its figure over
//                               fully_connected_feed's is the cost of graph mode
//       gflops counts the multiply-adds of the convolutions and matrix products, forward and
//       backward (twice the forward, except for the first layer, whose input needs no gradient),
//       as 2 FLOPs each; gemm_fraction is gflops over the gemm figure, which is measured first
//       (and printed) whenever a training workload runs.
//   bench: <language model> batch=32x128 steps=<S> gflops=<GFLOP/s> gemm_fraction=<f> peak_mb=<MB> <rate> tokens/s
//       the training step of samples/char_transformer or samples/char_lstm (their model.h, and
//       char_model::train_step: the mean cross-entropy, backward, gradients clipped to norm 1,
//       AdamW on two parameter groups) on one fixed random batch of 32 windows of 128 bytes, as
//       the training workloads above; <language model> is one of
//         transformer           4 pre-norm blocks of width 128, 4 heads, causal, GELU MLP x4
//         lstm                  embedding 256, 2 LSTM layers of 256, a linear head
//       gflops counts the products (attention's two as if unmasked), 3 times the forward's.
//   bench: lenet_distributed processes=<N> batch=<N>x<B> threads=<T> allreduces_per_step=<A> ... <rate> samples/s
//       with --distributed, under `mpirun -np N`: lenet's step of --batch examples (default 100)
//       shared by the N processes (batch / N each), gradients averaged by DistributedOptimizer; run
//       in the process itself (MPI processes must not fork), the line printed by rank 0.
//       bench/mpi.sh compares 1 process x 2 threads with 2 processes x 1 thread, at 100 examples
//       per step (50 per process) and at 200 (100 per process, the per-process batch held fixed as
//       Horovod's and DistributedDataParallel's benchmarks do). With --no_allreduce, the same processes
//       step with plain Adam on their own gradients (allreduces_per_step=0): what the job would
//       reach if communication cost nothing (the line reads `lenet_no_allreduce`).
//   bench: <training>_contended ... and <training>_contended_1t ...
//       with --contended N: each training workload (and language model) again beside N
//       CPU-bound processes that the bench starts before and kills after (a busy neighbour), at
//       --threads and at one thread; the same fields as its quiet line.
//
// bench/compare.sh runs the same workloads in libtorch (bench/torch) and prints both side by side;
// bench/harness.h is what the two programs share (timing, the training line, the child processes).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "char_lstm/model.h"
#include "char_model.h"
#include "char_transformer/model.h"
#include "flags.h"
#include "harness.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn.h"
#include "tapeflow/optim.h"
#include "tapeflow/tapeflow.h"

namespace tf = tapeflow;
namespace nn = tapeflow::nn;

namespace {

using bench::Context;
using bench::Result;
using bench::best_of;
using bench::training_flops;
using bench::training_rate;
using bench::training_result;

/// One training step of `net` with `opt` (an optimizer, or one wrapped by DistributedOptimizer)
/// on `images`, a fixed batch, against random labels.
template <class Optimizer>
std::function<void()> training_step(nn::Module& net, Optimizer& opt, const tf::Tensor& images) {
  tf::Tensor labels = tf::cast(tf::random_uniform({images.dim(0)}, 0, 10), tf::int64);
  return [&net, &opt, images, labels] {
    auto loss = tf::reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(labels, net(images)));
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
}

/// Examples per second of Adam training steps of `net` on one fixed random batch.
double adam_training_rate(nn::Module& net, const tf::Tensor& images, int steps) {
  tf::optim::Adam opt(net.parameters(), {.lr = 1e-3});
  return training_rate(images.dim(0), steps, training_step(net, opt, images));
}

/// The LeNet of samples/lenet_eager, from seed 1.
nn::Sequential make_lenet() {
  tf::manual_seed(1);
  // The ReLUs fused into the layers' products (_FusedConv2D, _FusedMatMul with Relu), as the
  // sample's model does; libtorch's model applies them as separate ops.
  return nn::Sequential(nn::Conv2d(1, 20, 5, {.relu = true}), nn::MaxPool2d(2), nn::LocalResponseNorm(),
                        nn::Conv2d(20, 50, 3, {.relu = true}), nn::MaxPool2d(2), nn::LocalResponseNorm(), nn::Flatten(),
                        nn::Dropout(0.5), nn::Linear(7 * 7 * 50, 1200, {.relu = true}), nn::Dropout(0.5),
                        nn::Linear(1200, 1200, {.relu = true}), nn::Dropout(0.5), nn::Linear(1200, 10));
}

// ---------------------------------------------------------------------------- workloads

Result bench_overhead(const Context&) {
  constexpr int kOps = 100'000;
  tf::Tensor c = tf::scalar(1.0001f);
  double secs = best_of(5, [&] {
    tf::Tensor x = tf::scalar(1.0f);
    x.requires_grad_();
    tf::Tensor y = x;
    for (int i = 0; i < kOps / 2; ++i) y = (y * c) + c;
    y.backward();
  });
  return {fmt::format("ops={}", kOps), secs * 1e6 / kOps, 3, "us/op"};
}

Result bench_gemm(const Context&) {
  constexpr int kN = 1024;
  tf::Tensor a = tf::random_uniform({kN, kN}), b = tf::random_uniform({kN, kN});
  tf::matmul(a, b);
  double secs = best_of(5, [&] { tf::matmul(a, b); });
  return {fmt::format("n={}", kN), 2.0 * kN * kN * kN / secs * 1e-9, 1, "GFLOP/s"};
}

Result bench_mlp(const Context& ctx) {
  constexpr int kBatch = 100, kSteps = 100;
  tf::manual_seed(1);
  nn::Sequential net(nn::Linear(784, 128, {.relu = true}), nn::Linear(128, 32, {.relu = true}), nn::Linear(32, 10));
  const double rate = adam_training_rate(net, tf::random_uniform({kBatch, 784}), kSteps);
  return training_result(ctx, kBatch, kSteps, rate, training_flops(784.0 * 128, 128.0 * 32 + 32.0 * 10));
}

/// LeNet at batch `batch`, `steps` steps per timing.
Result lenet(const Context& ctx, std::int64_t batch, int steps) {
  nn::Sequential net = make_lenet();
  const double rate = adam_training_rate(net, tf::random_uniform({batch, 28, 28, 1}), steps);
  const double conv1 = 28.0 * 28 * 20 * 5 * 5 * 1, conv2 = 14.0 * 14 * 50 * 3 * 3 * 20;
  const double fc = 2450.0 * 1200 + 1200.0 * 1200 + 1200.0 * 10;
  return training_result(ctx, batch, steps, rate, training_flops(conv1, conv2 + fc));
}

Result bench_lenet(const Context& ctx) { return lenet(ctx, 100, 10); }

Result bench_lenet200(const Context& ctx) { return lenet(ctx, 200, 5); }

Result bench_lenet500(const Context& ctx) { return lenet(ctx, 500, 2); }

/// LeNet data-parallel (--distributed, under mpirun -np N): each of the N processes trains on
/// batch / N examples per step and DistributedOptimizer averages the gradients, so a step is the
/// same batch as `lenet`'s (batch 100) or `lenet200`'s. The figure is the job's samples/s,
/// measured on rank 0.
Result bench_lenet_distributed(const Context&, std::int64_t batch, bool allreduce) {
  const int n = tf::distributed::size();
  if (batch % n != 0)
    throw tf::ValueError(
        fmt::format("lenet_distributed: {} examples per step (--batch) do not split into {} processes", batch, n));
  const std::int64_t local = batch / n;
  constexpr int kSteps = 10;
  nn::Sequential net = make_lenet();
  tf::distributed::broadcast(net.parameters());
  tf::distributed::DistributedOptimizer opt(
      std::make_unique<tf::optim::Adam>(net.parameters(), tf::optim::AdamOptions{.lr = 1e-3}));
  const tf::Tensor images = tf::random_uniform({local, 28, 28, 1});
  const std::function<void()> step =
      allreduce ? training_step(net, opt, images) : training_step(net, opt.inner(), images);
  // Every rank times the same steps; the barrier lines the ranks up before the timing starts.
  tf::distributed::barrier();
  const double rate = training_rate(batch, kSteps, step);
  const std::int64_t calls = opt.allreduce_calls();
  step();
  const std::int64_t per_step = opt.allreduce_calls() - calls;
  return {bench::format("processes=%d batch=%dx%lld threads=%d allreduces_per_step=%lld", n, n,
                        static_cast<long long>(local), tf::get_num_threads(), static_cast<long long>(per_step)),
          rate, 0, "samples/s"};
}

/// The seed's spatial squeeze: [N,1,1,C] -> [N,C].
class SpatialSqueeze : public nn::Module {
 public:
  tf::Tensor forward(const tf::Tensor& x) override { return tf::squeeze(x, {1, 2}); }
  std::string type_name() const override { return "SpatialSqueeze"; }
};

Result bench_convnet(const Context& ctx) {
  constexpr int kBatch = 128, kSteps = 4;
  tf::manual_seed(1);
  // The convolutions followed by batch norm have no bias (tf.contrib.layers.conv2d with a
  // normalizer_fn); batch norm's moving averages decay by 0.9, as in the sample.
  nn::Sequential net(nn::Conv2d(1, 32, 5, {.bias = false}), nn::BatchNorm(32, {.decay = 0.9}), nn::ReLU(),
                     nn::MaxPool2d(2), nn::Conv2d(32, 64, 5, {.bias = false}), nn::BatchNorm(64, {.decay = 0.9}),
                     nn::ReLU(), nn::MaxPool2d(2), nn::Conv2d(64, 1024, 7, {.padding = nn::Padding::Valid}),
                     nn::ReLU(), nn::Dropout(0.5), nn::Conv2d(1024, 10, 1), SpatialSqueeze());
  const double rate = adam_training_rate(net, tf::random_uniform({kBatch, 28, 28, 1}), kSteps);
  const double conv1 = 28.0 * 28 * 32 * 5 * 5 * 1, conv2 = 14.0 * 14 * 64 * 5 * 5 * 32;
  const double fc3 = 1024.0 * 7 * 7 * 64, fc4 = 1024.0 * 10;
  return training_result(ctx, kBatch, kSteps, rate, training_flops(conv1, conv2 + fc3 + fc4));
}

// The network of samples/fully_connected_feed, written once for both modes: `parameter` turns an
// initial value into a graph Variable or an eager leaf that requires grad.
constexpr std::int64_t kFcfBatch = 100;
constexpr int kFcfSteps = 100;
const double kFcfFlops = training_flops(784.0 * 128, 128.0 * 32 + 32.0 * 10);

/// Weights (truncated normal, stddev 1/sqrt(fan_in)) and zero biases of 784-128-32-10.
std::vector<tf::Tensor> fcf_parameters(const std::function<tf::Tensor(tf::Tensor, const std::string&)>& parameter) {
  std::vector<tf::Tensor> params;
  const std::int64_t sizes[] = {784, 128, 32, 10};
  for (int i = 0; i < 3; ++i) {
    const auto fan_in = sizes[i], units = sizes[i + 1];
    params.push_back(parameter(tf::truncated_normal({fan_in, units}, 0.0, 1.0 / std::sqrt(static_cast<double>(fan_in))), "weights"));
    params.push_back(parameter(tf::zeros({units}), "biases"));
  }
  return params;
}

/// images [batch,784], labels [batch] (int64) -> the mean cross-entropy (a scalar).
tf::Tensor fcf_loss(const std::vector<tf::Tensor>& p, const tf::Tensor& images, const tf::Tensor& labels) {
  tf::Tensor hidden1 = tf::relu(tf::matmul(images, p[0]) + p[1]);
  tf::Tensor hidden2 = tf::relu(tf::matmul(hidden1, p[2]) + p[3]);
  tf::Tensor logits = tf::matmul(hidden2, p[4]) + p[5];
  return tf::reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(labels, logits));
}

Result bench_fully_connected_feed(const Context& ctx) {
  tf::manual_seed(1);
  tf::Tensor images_feed = tf::random_uniform({kFcfBatch, 784});
  tf::Tensor labels_feed = tf::cast(tf::random_uniform({kFcfBatch}, 0, 10), tf::int64);

  tf::Graph graph;
  auto default_graph = graph.as_default();
  tf::Tensor images = tf::placeholder(tf::float32, {kFcfBatch, 784}, "images");
  tf::Tensor labels = tf::placeholder(tf::int64, {kFcfBatch}, "labels");
  auto params = fcf_parameters([](tf::Tensor init, const std::string& name) { return tf::Variable(init, name); });
  tf::Tensor loss = fcf_loss(params, images, labels);
  tf::Tensor train_op =
      tf::train::GradientDescentOptimizer(0.01).minimize(loss, tf::train::get_or_create_global_step());
  tf::Session sess(graph);
  sess.run(tf::global_variables_initializer());

  const tf::FeedDict feed = {{images, images_feed}, {labels, labels_feed}};
  const double rate = training_rate(kFcfBatch, kFcfSteps, [&] { sess.run({train_op, loss}, feed); });
  return training_result(ctx, kFcfBatch, kFcfSteps, rate, kFcfFlops);
}

Result bench_fcf_eager(const Context& ctx) {
  tf::manual_seed(1);
  tf::Tensor images = tf::random_uniform({kFcfBatch, 784});
  tf::Tensor labels = tf::cast(tf::random_uniform({kFcfBatch}, 0, 10), tf::int64);
  auto params = fcf_parameters([](tf::Tensor init, const std::string&) { return init.requires_grad_(); });
  tf::optim::GradientDescent opt(params, {.lr = 0.01});
  const double rate = training_rate(kFcfBatch, kFcfSteps, [&] {
    tf::Tensor loss = fcf_loss(params, images, labels);
    opt.zero_grad();
    loss.backward();
    opt.step();
  });
  return training_result(ctx, kFcfBatch, kFcfSteps, rate, kFcfFlops);
}

/// Tokens/s of char_model::train_step (AdamW at `lr`, weight decay 0.01) of `model`, whose
/// forward makes `macs_per_token` multiply-adds per token, on one fixed random batch.
Result language_model(const Context& ctx, nn::Module& model, double lr, double macs_per_token) {
  using namespace bench::lm;
  tf::optim::AdamW opt(char_model::parameter_groups(model), {.lr = lr, .weight_decay = 0.01});
  const std::vector<tf::Tensor> params = model.parameters();
  const tf::Tensor window = tf::cast(tf::random_uniform({kWindows, kContext + 1}, 0, 256), tf::int64);
  const char_model::Logits logits = [&](const tf::Tensor& ids) { return model(ids); };
  const double rate =
      training_rate(kWindows * kContext, kSteps, [&] { char_model::train_step(opt, params, logits, window, 1.0); });
  return token_training_result(ctx, rate, macs_per_token);
}

Result bench_transformer(const Context& ctx) {
  using namespace bench::lm;
  tf::manual_seed(1);
  char_transformer::CharTransformer model(kContext, kWidth, kBlocks, kHeads, 0.0);
  return language_model(ctx, model, 1e-3, transformer_macs());
}

Result bench_lstm(const Context& ctx) {
  using namespace bench::lm;
  tf::manual_seed(1);
  char_lstm::CharLSTM model(kHidden, kHidden, kLayers);
  return language_model(ctx, model, 3e-3, lstm_macs());
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<bench::Workload> all = {
      {"overhead", bench_overhead, false},
      {"gemm", bench_gemm, false},
      {"mlp", bench_mlp, true},
      {"lenet", bench_lenet, true},
      {"lenet200", bench_lenet200, true},
      {"lenet500", bench_lenet500, true},
      {"convnet", bench_convnet, true},
      {"fully_connected_feed", bench_fully_connected_feed, true},
      {"fcf_eager", bench_fcf_eager, true},
      {"transformer", bench_transformer, true},
      {"lstm", bench_lstm, true},
  };
  CLI::App app{"tapeflow benchmarks"};
  std::vector<std::string> only;
  Context ctx;
  app.add_option("names", only, "workloads to run (default: all)")->check(CLI::IsMember([&] {
    std::vector<std::string> names;
    for (const auto& w : all) names.push_back(w.name);
    return names;
  }()));
  app.add_option("--threads", ctx.threads, "threads (default: $TAPEFLOW_NUM_THREADS, else the CPUs the process may run on)")
      ->check(flags::positive);
  app.add_option("--contended", ctx.competitors,
                 "also run each training workload beside this many CPU-bound processes that the bench starts "
                 "and stops (<name>_contended at --threads, <name>_contended_1t at one thread)")
      ->check(CLI::NonNegativeNumber);
  bool distributed = false, no_allreduce = false;
  std::int64_t batch = 100;
  app.add_flag("--distributed", distributed,
               "run lenet_distributed in this process: LeNet data-parallel over the processes of "
               "`mpirun -np N` (rank 0 prints the bench line)");
  app.add_flag("--no_allreduce", no_allreduce,
               "with --distributed: each process steps on its own gradients, with no communication (the "
               "figure the job would reach if the allreduces cost nothing)")
      ->needs("--distributed");
  app.add_option("--batch", batch, "with --distributed: examples per step over all the processes (default 100)")
      ->check(flags::positive)
      ->needs("--distributed");
  CLI11_PARSE(app, argc, argv);

  if (distributed) {  // in this process (an MPI process must not fork its workloads), then finalized at exit
    tf::distributed::init();
    if (ctx.threads > 0) tf::set_num_threads(ctx.threads);
    const Result r = bench_lenet_distributed(ctx, batch, !no_allreduce);
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    if (tf::distributed::is_root())
      std::printf("bench: %s %s peak_mb=%.0f %.0f %s\n", no_allreduce ? "lenet_no_allreduce" : "lenet_distributed",
                  r.details.c_str(),
                  static_cast<double>(usage.ru_maxrss) / 1024.0, r.figure, r.unit.c_str());
    return 0;
  }

  return bench::run_workloads(all, only, ctx, tf::set_num_threads);
}
