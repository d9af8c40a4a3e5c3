#pragma once
// samples/char_transformer's model (also trained by bench/bench.cpp's `transformer` workload).
#include <cstdint>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "tapeflow/nn.h"
#include "tapeflow/tapeflow.h"

namespace char_transformer {

namespace tf = tapeflow;
namespace nn = tapeflow::nn;

/// The model: ids [B, T] (T <= context) -> logits [B, T, 256].
class CharTransformer : public nn::Module {
 public:
  CharTransformer(std::int64_t context, std::int64_t width, std::int64_t layers, std::int64_t heads, double dropout)
      : context_(context) {
    tok_ = register_module("tok", nn::Embedding(256, width));
    pos_ = register_module("pos", nn::Embedding(context, width));
    for (std::int64_t i = 0; i < layers; ++i)
      blocks_.push_back(register_module(
          fmt::format("block_{}", i),
          nn::TransformerEncoderLayer(width, heads, {.dim_feedforward = 4 * width, .dropout = dropout, .causal = true})));
    norm_ = register_module("norm", nn::LayerNorm({width}));
    head_ = register_module("head", nn::Linear(width, 256));
    // GPT-2's initialisation: N(0, 0.02) weights and embeddings, zero biases (LayerNorm: 1 and 0).
    tf::NoGradGuard no_grad;
    for (const auto& [name, p] : named_parameters())
      if (p.rank() >= 2) tf::nn::init::random_normal_(p, 0.0, 0.02);
  }

  tf::Tensor forward(const tf::Tensor& ids) override {
    const std::int64_t t = ids.dim(1);
    tf::Tensor x = (*tok_)(ids) + (*pos_)(tf::arange(0, static_cast<double>(t), 1, tf::int64));
    for (auto& block : blocks_) x = (*block)(x);
    return (*head_)((*norm_)(x));
  }
  std::int64_t context() const { return context_; }

 private:
  std::int64_t context_;
  std::shared_ptr<nn::Embedding> tok_, pos_;
  std::vector<std::shared_ptr<nn::TransformerEncoderLayer>> blocks_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace char_transformer
