#pragma once
// What the two character-level language models share (char_transformer, char_lstm): their flags,
// the data, AdamW and its schedule, the training loop with its progress bar, logs and
// checkpoints, the validation loss, the generated text and the last line. Each sample builds its
// own network and hands Run a function from input bytes to logits.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "flags.h"
#include "tapeflow/data/text.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/io/progress.h"
#include "tapeflow/summary/writer.h"
#include "tapeflow/tapeflow.h"

namespace char_model {

namespace tf = tapeflow;

/// The flags the two samples share, with their defaults (the setup: batch 32 windows of
/// 128 bytes, 2000 steps, AdamW at 1e-3 with weight decay 0.01, 100 warm-up steps, clipping at 1).
struct Config {
  std::string data_dir;
  int steps = 2000, batch_size = 32, context = 128, warmup = 100, threads = 0, sample_length = 400;
  double learning_rate = 1e-3, weight_decay = 0.01, clip_norm = 1.0;
  std::uint64_t seed = 1;
  std::string log_dir, checkpoint_dir;
};

inline void add_flags(CLI::App& app, Config& c) {
  app.add_option("--data_dir", c.data_dir, "the fortunes directory (default /usr/share/games/fortunes)");
  app.add_option("--steps", c.steps, "training steps")->check(flags::positive)->capture_default_str();
  app.add_option("--batch_size", c.batch_size, "windows per step")->check(flags::positive)->capture_default_str();
  app.add_option("--context", c.context, "bytes per window")->check(flags::positive)->capture_default_str();
  app.add_option("--learning_rate", c.learning_rate, "AdamW's peak learning rate")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--weight_decay", c.weight_decay, "AdamW's decoupled weight decay (matrices only)")
      ->check(flags::non_negative)
      ->capture_default_str();
  app.add_option("--warmup", c.warmup, "steps of linear warm-up before the cosine decay")
      ->check(flags::non_negative)
      ->capture_default_str();
  app.add_option("--clip_norm", c.clip_norm, "the gradients' global norm is clipped to this")
      ->check(flags::positive)
      ->capture_default_str();
  app.add_option("--seed", c.seed, "seed of the initial weights and of the windows")->capture_default_str();
  app.add_option("--sample_length", c.sample_length, "bytes of text generated at the end")
      ->check(flags::non_negative)
      ->capture_default_str();
  app.add_option("--log_dir", c.log_dir, "write TensorBoard logs here (loss and learning rate every 10 steps)");
  app.add_option("--checkpoint_dir", c.checkpoint_dir,
                 "save the model and optimizer state here every 500 steps and at the end");
  app.add_option("--threads", c.threads, "threads (default: $TAPEFLOW_NUM_THREADS, else all cores)")
      ->check(flags::positive);
}

/// Input bytes [B, T] -> logits [B, T, 256].
using Logits = std::function<tf::Tensor(const tf::Tensor& inputs)>;

/// (inputs [B, T], targets [B, T]) of a window [B, T + 1]: the targets are the inputs shifted by one.
inline std::pair<tf::Tensor, tf::Tensor> split_window(const tf::Tensor& window) {
  const std::int64_t t = window.dim(1) - 1;
  return {tf::slice(window, {0, 0}, {-1, t}), tf::slice(window, {0, 1}, {-1, t})};
}

/// The mean cross-entropy of the logits against the targets, in nats per byte.
inline tf::Tensor loss_of(const tf::Tensor& logits, const tf::Tensor& targets) {
  return tf::reduce_mean(tf::nn::sparse_softmax_cross_entropy_with_logits(targets, logits));
}

/// AdamW's two groups: the matrices (weights, embeddings) decayed, the biases and layer-norm
/// scales not, as in nanoGPT and most language models.
inline std::vector<tf::optim::ParamGroup> parameter_groups(const tf::nn::Module& model) {
  std::vector<tf::Tensor> decay, no_decay;
  for (const auto& [name, p] : model.named_parameters()) (p.rank() >= 2 ? decay : no_decay).push_back(p);
  return {{.params = decay}, {.params = no_decay, .weight_decay = 0.0}};
}

/// One training step on a window [B, T + 1]: the loss, its gradients clipped to a global norm of
/// `clip_norm`, the optimizer's step. Returns the loss.
inline tf::Tensor train_step(tf::optim::Optimizer& opt, const std::vector<tf::Tensor>& params, const Logits& logits_of,
                             const tf::Tensor& window, double clip_norm) {
  auto [inputs, targets] = split_window(window);
  const tf::Tensor loss = loss_of(logits_of(inputs), targets);
  opt.zero_grad();
  loss.backward();
  tf::optim::clip_grad_norm_(params, clip_norm);
  opt.step();
  return loss;
}

class Run {
 public:
  Run(std::string name, Config c) : name_(std::move(name)), c_(std::move(c)), gen_(c_.seed) {
    if (c_.threads > 0) tf::set_num_threads(c_.threads);
    data_ = tf::data::fortunes::read_data_sets(c_.data_dir);
    fmt::print("{}: {} train / {} validation bytes, {} steps of {} windows of {} bytes, {} threads\n", name_,
               data_.train.size(), data_.validation.size(), c_.steps, c_.batch_size, c_.context,
               tf::get_num_threads());
    if (!c_.log_dir.empty()) log_.emplace(c_.log_dir);
    if (!c_.checkpoint_dir.empty()) std::filesystem::create_directories(c_.checkpoint_dir);
  }

  /// c.steps steps of AdamW on random windows (parameter_groups: the matrices decayed).
  void train(tf::nn::Module& model, const Logits& logits_of) {
    tf::optim::AdamW opt(parameter_groups(model), {.lr = c_.learning_rate, .weight_decay = c_.weight_decay});
    const std::vector<tf::Tensor> params = model.parameters();
    std::int64_t parameters = 0;
    for (const tf::Tensor& p : params) parameters += p.numel();
    fmt::print("{}: {} parameters\n", name_, parameters);
    tf::io::ProgressBar bar({.total = c_.steps, .label = "train", .samples_per_step = c_.batch_size * c_.context});
    const auto start = std::chrono::steady_clock::now();
    for (int step = 0; step < c_.steps; ++step) {
      // Warm-up to the peak, then a cosine decay to zero over the remaining steps.
      const double lr = tf::optim::cosine_decay(c_.learning_rate, step, std::max(1, c_.steps - c_.warmup), 0.0,
                                                c_.warmup);
      opt.set_lr(lr);
      const tf::Tensor loss = train_step(opt, params, logits_of,
                                         data_.train.random_windows(c_.batch_size, c_.context, &gen_), c_.clip_norm);
      const double value = loss.item<double>();
      bar.update(step + 1, value);
      if (log_ && (step + 1) % 10 == 0) {
        log_->scalar("loss", value, step + 1);
        log_->scalar("learning_rate", lr, step + 1);
      }
      if (!c_.checkpoint_dir.empty() && ((step + 1) % 500 == 0 || step + 1 == c_.steps)) save(model, opt, step + 1);
    }
    bar.finish();
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  /// The mean loss over the validation bytes, in nats per byte: every byte of the held-out 10%
  /// (but each row's first) predicted once, in consecutive windows (sequential_windows), in eval
  /// mode. `logits_of` may carry state from a window to the next (an LSTM's).
  double validation_loss(tf::nn::Module& model, const Logits& logits_of) {
    tf::NoGradGuard no_grad;
    model.eval();
    double total = 0;
    std::int64_t count = 0;
    for (const tf::Tensor& window : data_.validation.sequential_windows(c_.batch_size, c_.context)) {
      auto [inputs, targets] = split_window(window);
      total += tf::reduce_sum(tf::nn::sparse_softmax_cross_entropy_with_logits(targets, logits_of(inputs))).item<double>();
      count += targets.numel();
    }
    model.train();
    val_loss_ = total / static_cast<double>(count);
    if (log_) log_->scalar("val_loss", val_loss_, c_.steps);
    return val_loss_;
  }

  /// Prints c.sample_length bytes drawn from softmax(logits / 0.8) one at a time, after a prompt.
  /// `next(context [1, T])` gives the logits [256] of the byte after the context.
  void print_sample(tf::nn::Module& model, const std::function<tf::Tensor(const tf::Tensor&)>& next) {
    tf::NoGradGuard no_grad;
    model.eval();
    std::vector<std::int64_t> ids;
    std::string text = "Q: ";
    for (unsigned char ch : text) ids.push_back(ch);
    for (int i = 0; i < c_.sample_length; ++i) {
      const tf::Tensor context = tf::from_vector(ids, tf::Shape{1, static_cast<std::int64_t>(ids.size())});
      const std::vector<double> p = tf::nn::softmax(tf::cast(next(context), tf::float64) / 0.8).to_vector<double>();
      double u = tf::random_uniform({}, 0.0, 1.0, tf::float64, &gen_).item<double>();
      std::size_t token = 0;
      while (token + 1 < p.size() && u >= p[token]) u -= p[token++];
      ids.push_back(static_cast<std::int64_t>(token));
      text += data_.vocabulary.token(static_cast<std::int64_t>(token));
    }
    model.train();
    fmt::print("--- generated text ---\n{}\n---\n", text);
  }

  /// The last line.
  void finish() const {
    const double tokens = static_cast<double>(c_.steps) * c_.batch_size * c_.context;
    fmt::print("final: val_loss={:.4f} steps={} seconds={:.1f} tokens_per_s={:.0f}\n", val_loss_, c_.steps, seconds_,
               tokens / seconds_);
  }

  const Config& config() const { return c_; }

 private:
  void save(const tf::nn::Module& model, const tf::optim::Optimizer& opt, int step) {
    const std::map<std::string, std::string> meta{{"step", std::to_string(step)}};
    tf::io::save(c_.checkpoint_dir + "/model.safetensors", model.state_dict(), meta);
    tf::io::save(c_.checkpoint_dir + "/optimizer.safetensors", opt.state_dict(), meta);
  }

  std::string name_;
  Config c_;
  tf::Generator gen_;
  tf::data::TextData data_;
  std::optional<tf::summary::Writer> log_;
  double seconds_ = 0, val_loss_ = 0;
};

}  // namespace char_model
