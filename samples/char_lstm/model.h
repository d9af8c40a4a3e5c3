#pragma once
// samples/char_lstm's model (also trained by bench/bench.cpp's `lstm` workload).
#include <cstdint>
#include <memory>
#include <vector>

#include "tapeflow/nn.h"
#include "tapeflow/tapeflow.h"

namespace char_lstm {

namespace tf = tapeflow;
namespace nn = tapeflow::nn;

/// Bytes [B, T] -> an embedding -> a stacked LSTM -> the next bytes' logits [B, T, 256].
class CharLSTM : public nn::Module {
 public:
  CharLSTM(std::int64_t embedding, std::int64_t hidden, std::int64_t layers) {
    embed_ = register_module("embed", nn::Embedding(256, embedding));
    lstm_ = register_module("lstm", nn::LSTM(embedding, hidden, {.num_layers = layers}));
    head_ = register_module("head", nn::Linear(hidden, 256));
  }
  /// ids [B, T] -> logits [B, T, 256] from zero states.
  tf::Tensor forward(const tf::Tensor& ids) override { return (*head_)((*lstm_)((*embed_)(ids))); }
  /// From `states` (empty: zeros), which become the final states (detached: the next window's
  /// gradient stops there).
  tf::Tensor forward(const tf::Tensor& ids, std::vector<nn::LSTMState>& states) {
    nn::LSTMOutput out = lstm_->forward((*embed_)(ids), states);
    states.clear();
    for (const nn::LSTMState& s : out.states) states.push_back({s.h.detach(), s.c.detach()});
    return (*head_)(out.output);
  }

 private:
  std::shared_ptr<nn::Embedding> embed_;
  std::shared_ptr<nn::LSTM> lstm_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace char_lstm
