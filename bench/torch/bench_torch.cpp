// The workloads of bench/bench.cpp written with libtorch, printing the same `bench:` lines (see
// the top of bench/bench.cpp for their format): same names, batch sizes, steps, units and
// FLOP counts, each workload in a child process of its own for its peak resident memory.
// Images are in libtorch's own layout (NCHW). gemm_fraction is over libtorch's own gemm figure
// (torch::mm, i.e. its BLAS). fully_connected_feed (tapeflow's graph mode) has no counterpart.
//
//   bench_torch [--threads N] [--contended N] [names...]
#include <torch/torch.h>

#include "harness.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace nn = torch::nn;

namespace {

using bench::Context;
using bench::format;
using bench::Result;
using bench::best_of;
using bench::training_flops;
using bench::training_rate;
using bench::training_result;

// Examples per second of Adam training steps of `net` on one fixed random batch.
double adam_training_rate(nn::Sequential& net, const torch::Tensor& images, int steps) {
  const int64_t batch = images.size(0);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  torch::Tensor labels = torch::randint(0, 10, {batch}, torch::kLong);
  return training_rate(batch, steps, [&] {
    torch::Tensor loss = nn::functional::cross_entropy(net->forward(images), labels);
    opt.zero_grad();
    loss.backward();
    opt.step();
  });
}

// ---------------------------------------------------------------------------- workloads

Result bench_overhead(const Context&) {
  const int kOps = 100000;
  torch::Tensor c = torch::tensor(1.0001f);
  double secs = best_of(5, [&] {
    torch::Tensor x = torch::tensor(1.0f, torch::requires_grad());
    torch::Tensor y = x;
    for (int i = 0; i < kOps / 2; ++i) y = (y * c) + c;
    y.backward();
  });
  return {format("ops=%d", kOps), secs * 1e6 / kOps, 3, "us/op"};
}

Result bench_gemm(const Context&) {
  const int kN = 1024;
  torch::Tensor a = torch::rand({kN, kN}), b = torch::rand({kN, kN});
  torch::mm(a, b);
  double secs = best_of(5, [&] { torch::mm(a, b); });
  return {format("n=%d", kN), 2.0 * kN * kN * kN / secs * 1e-9, 1, "GFLOP/s"};
}

Result bench_mlp(const Context& ctx) {
  const int kBatch = 100, kSteps = 100;
  torch::manual_seed(1);
  nn::Sequential net(nn::Linear(784, 128), nn::ReLU(), nn::Linear(128, 32), nn::ReLU(), nn::Linear(32, 10));
  const double rate = adam_training_rate(net, torch::rand({kBatch, 784}), kSteps);
  return training_result(ctx, kBatch, kSteps, rate, training_flops(784.0 * 128, 128.0 * 32 + 32.0 * 10));
}

// SAME padding is 2 for 5x5 and 1 for 3x3. torch's LocalResponseNorm(size 11) averages the
// squares over the window, TensorFlow's depth_radius 5 sums them: the cost is the same.
Result lenet(const Context& ctx, int64_t batch, int steps) {
  torch::manual_seed(1);
  nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 20, 5).padding(2)), nn::ReLU(), nn::MaxPool2d(2),
                     nn::LocalResponseNorm(nn::LocalResponseNormOptions(11).alpha(11).beta(0.5).k(1)),
                     nn::Conv2d(nn::Conv2dOptions(20, 50, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                     nn::LocalResponseNorm(nn::LocalResponseNormOptions(11).alpha(11).beta(0.5).k(1)), nn::Flatten(),
                     nn::Dropout(0.5), nn::Linear(7 * 7 * 50, 1200), nn::ReLU(), nn::Dropout(0.5),
                     nn::Linear(1200, 1200), nn::ReLU(), nn::Dropout(0.5), nn::Linear(1200, 10));
  const double rate = adam_training_rate(net, torch::rand({batch, 1, 28, 28}), steps);
  const double conv1 = 28.0 * 28 * 20 * 5 * 5 * 1, conv2 = 14.0 * 14 * 50 * 3 * 3 * 20;
  const double fc = 2450.0 * 1200 + 1200.0 * 1200 + 1200.0 * 10;
  return training_result(ctx, batch, steps, rate, training_flops(conv1, conv2 + fc));
}

Result bench_lenet(const Context& ctx) { return lenet(ctx, 100, 10); }
Result bench_lenet500(const Context& ctx) { return lenet(ctx, 500, 2); }

// Batch norm: momentum 0.1 is tapeflow's decay 0.9, eps 1e-3 as TensorFlow's. torch's affine batch
// norm learns a scale as well as the offset (tapeflow's, as tf.contrib.layers', only the offset).
nn::BatchNorm2d batch_norm(int64_t channels) {
  return nn::BatchNorm2d(nn::BatchNorm2dOptions(channels).eps(1e-3).momentum(0.1));
}

Result bench_convnet(const Context& ctx) {
  const int kBatch = 128, kSteps = 4;
  torch::manual_seed(1);
  nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(1, 32, 5).padding(2).bias(false)), batch_norm(32), nn::ReLU(),
                     nn::MaxPool2d(2), nn::Conv2d(nn::Conv2dOptions(32, 64, 5).padding(2).bias(false)), batch_norm(64),
                     nn::ReLU(), nn::MaxPool2d(2), nn::Conv2d(nn::Conv2dOptions(64, 1024, 7)), nn::ReLU(),
                     nn::Dropout(0.5), nn::Conv2d(nn::Conv2dOptions(1024, 10, 1)), nn::Flatten());
  const double rate = adam_training_rate(net, torch::rand({kBatch, 1, 28, 28}), kSteps);
  const double conv1 = 28.0 * 28 * 32 * 5 * 5 * 1, conv2 = 14.0 * 14 * 64 * 5 * 5 * 32;
  const double fc3 = 1024.0 * 7 * 7 * 64, fc4 = 1024.0 * 10;
  return training_result(ctx, kBatch, kSteps, rate, training_flops(conv1, conv2 + fc3 + fc4));
}

// The network of tapeflow's fully_connected_feed in eager form: the same ops and plain SGD.
Result bench_fcf_eager(const Context& ctx) {
  const int64_t kBatch = 100;
  const int kSteps = 100;
  torch::manual_seed(1);
  torch::Tensor images = torch::rand({kBatch, 784});
  torch::Tensor labels = torch::randint(0, 10, {kBatch}, torch::kLong);
  std::vector<torch::Tensor> p;
  const int64_t sizes[] = {784, 128, 32, 10};
  for (int i = 0; i < 3; ++i) {
    const double stddev = 1.0 / std::sqrt(static_cast<double>(sizes[i]));
    // Normal rather than truncated normal (libtorch 1.13 has none): the cost is the same.
    p.push_back((torch::randn({sizes[i], sizes[i + 1]}) * stddev).requires_grad_());
    p.push_back(torch::zeros({sizes[i + 1]}, torch::requires_grad()));
  }
  torch::optim::SGD opt(p, torch::optim::SGDOptions(0.01));
  const double rate = training_rate(kBatch, kSteps, [&] {
    torch::Tensor hidden1 = torch::relu(torch::matmul(images, p[0]) + p[1]);
    torch::Tensor hidden2 = torch::relu(torch::matmul(hidden1, p[2]) + p[3]);
    torch::Tensor logits = torch::matmul(hidden2, p[4]) + p[5];
    torch::Tensor loss = nn::functional::cross_entropy(logits, labels);
    opt.zero_grad();
    loss.backward();
    opt.step();
  });
  return training_result(ctx, kBatch, kSteps, rate, training_flops(784.0 * 128, 128.0 * 32 + 32.0 * 10));
}

// ---------------------------------------------------------------- language models
// tapeflow's `transformer` and `lstm` (samples/char_transformer, samples/char_lstm): the same
// models, batch, loss, clipping and AdamW groups (sizes and FLOPs: harness.h's bench::lm).
using namespace bench::lm;

// Tokens/s of AdamW training steps (matrices decayed by 0.01, the rest not; gradients clipped to
// norm 1) of `logits_of` (ids [B, T] -> logits [B, T, 256]) on one fixed random batch.
Result language_model(const Context& ctx, nn::Module& model, double lr, double macs_per_token,
                      const std::function<torch::Tensor(const torch::Tensor&)>& logits_of) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const torch::Tensor& p : model.parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups{torch::optim::OptimizerParamGroup(decay)};
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr).weight_decay(0)));
  torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(lr).weight_decay(0.01));
  const std::vector<torch::Tensor> params = model.parameters();
  const torch::Tensor window = torch::randint(0, 256, {kWindows, kContext + 1}, torch::kLong);
  const torch::Tensor inputs = window.slice(1, 0, kContext), targets = window.slice(1, 1, kContext + 1);
  const double rate = training_rate(kWindows * kContext, kSteps, [&] {
    torch::Tensor loss = nn::functional::cross_entropy(logits_of(inputs).reshape({-1, 256}), targets.reshape({-1}));
    opt.zero_grad();
    loss.backward();
    nn::utils::clip_grad_norm_(params, 1.0);
    opt.step();
  });
  return token_training_result(ctx, rate, macs_per_token);
}

// A pre-norm block, as PyTorch's TransformerEncoderLayer(norm_first=True, activation="gelu"),
// which the C++ API lacks (it has no norm_first); x is [T, B, W], as MultiheadAttention wants.
struct BlockImpl : nn::Module {
  BlockImpl(int64_t width, int64_t heads)
      : norm1(register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({width})))),
        norm2(register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({width})))),
        attn(register_module("attn", nn::MultiheadAttention(nn::MultiheadAttentionOptions(width, heads)))),
        fc1(register_module("fc1", nn::Linear(width, 4 * width))),
        fc2(register_module("fc2", nn::Linear(4 * width, width))) {}
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask) {
    const torch::Tensor h = norm1(x);
    x = x + std::get<0>(attn->forward(h, h, h, {}, /*need_weights=*/false, mask));
    return x + fc2(torch::gelu(fc1(norm2(x))));
  }
  nn::LayerNorm norm1, norm2;
  nn::MultiheadAttention attn;
  nn::Linear fc1, fc2;
};
TORCH_MODULE(Block);

struct CharTransformerImpl : nn::Module {
  CharTransformerImpl(int64_t context, int64_t width, int64_t blocks, int64_t heads)
      : tok(register_module("tok", nn::Embedding(256, width))),
        pos(register_module("pos", nn::Embedding(context, width))),
        norm(register_module("norm", nn::LayerNorm(nn::LayerNormOptions({width})))),
        head(register_module("head", nn::Linear(width, 256))) {
    for (int64_t i = 0; i < blocks; ++i) layers.push_back(register_module("block" + std::to_string(i), Block(width, heads)));
  }
  torch::Tensor forward(const torch::Tensor& ids) {
    const int64_t t = ids.size(1);
    torch::Tensor x = (tok(ids) + pos(torch::arange(t))).transpose(0, 1);
    const torch::Tensor mask = torch::triu(torch::full({t, t}, -INFINITY), 1);
    for (Block& b : layers) x = b->forward(x, mask);
    return head(norm(x).transpose(0, 1));
  }
  nn::Embedding tok, pos;
  std::vector<Block> layers;
  nn::LayerNorm norm;
  nn::Linear head;
};
TORCH_MODULE(CharTransformer);

Result bench_transformer(const Context& ctx) {
  torch::manual_seed(1);
  CharTransformer model(kContext, kWidth, kBlocks, kHeads);
  return language_model(ctx, *model, 1e-3, transformer_macs(),
                        [&](const torch::Tensor& ids) { return model->forward(ids); });
}

struct CharLSTMImpl : nn::Module {
  CharLSTMImpl()
      : embed(register_module("embed", nn::Embedding(256, kHidden))),
        lstm(register_module("lstm", nn::LSTM(nn::LSTMOptions(kHidden, kHidden).num_layers(kLayers).batch_first(true)))),
        head(register_module("head", nn::Linear(kHidden, 256))) {}
  torch::Tensor forward(const torch::Tensor& ids) { return head(std::get<0>(lstm(embed(ids)))); }
  nn::Embedding embed;
  nn::LSTM lstm;
  nn::Linear head;
};
TORCH_MODULE(CharLSTM);

Result bench_lstm(const Context& ctx) {
  torch::manual_seed(1);
  CharLSTM model;
  return language_model(ctx, *model, 3e-3, lstm_macs(),
                        [&](const torch::Tensor& ids) { return model->forward(ids); });
}

// ---------------------------------------------------------------------------- running

}  // namespace

int main(int argc, char** argv) {
  const std::vector<bench::Workload> all = {
      {"overhead", bench_overhead, false}, {"gemm", bench_gemm, false},         {"mlp", bench_mlp, true},
      {"lenet", bench_lenet, true},        {"lenet500", bench_lenet500, true}, {"convnet", bench_convnet, true},
      {"fcf_eager", bench_fcf_eager, true},  {"transformer", bench_transformer, true},
      {"lstm", bench_lstm, true},
  };
  Context ctx;
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) {
      ctx.threads = std::atoi(argv[++i]);
      if (ctx.threads < 1) {
        std::fprintf(stderr, "bench_torch: --threads must be a positive number, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (arg == "--contended" && i + 1 < argc) {
      ctx.competitors = std::atoi(argv[++i]);
      if (ctx.competitors < 0) {
        std::fprintf(stderr, "bench_torch: --contended must be >= 0, got '%s'\n", argv[i]);
        return 2;
      }
    } else if (std::any_of(all.begin(), all.end(), [&](const bench::Workload& w) { return w.name == arg; })) {
      only.push_back(arg);
    } else {
      std::fprintf(stderr, "bench_torch: unknown workload or option '%s'; workloads:", arg.c_str());
      for (const auto& w : all) std::fprintf(stderr, " %s", w.name.c_str());
      std::fprintf(stderr, "\n");
      return 2;
    }
  }
  return bench::run_workloads(all, only, ctx, [](int n) { torch::set_num_threads(n); });
}
