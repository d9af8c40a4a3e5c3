#pragma once
/// Transformer modules (PyTorch C++ frontend shape, batch first, TensorFlow's [in, out] weight
/// layout): MultiheadAttention and TransformerEncoderLayer.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tapeflow/nn/layers.h"
#include "tapeflow/nn/linear.h"
#include "tapeflow/nn/module.h"
#include "tapeflow/ops/random.h"

namespace tapeflow::nn {

struct MultiheadAttentionOptions {
  /// Learn the biases of the input and output projections.
  bool bias = true;
  /// forward(x) attends causally: position t sees positions <= t (a language model's decoder).
  bool causal = false;
  /// The parameters' dtype: float32 or float64. Inputs must match.
  DType dtype = float32;
  /// The generator for the initial weights (nullptr: the default generator, see manual_seed()).
  Generator* generator = nullptr;
};

/// Multi-head attention (PyTorch's nn::MultiheadAttention with batch_first): the inputs are
/// projected to queries, keys and values, split into num_heads heads of embed_dim / num_heads,
/// each head attends (scaled_dot_product_attention, one fused op for all heads), and the heads'
/// outputs are concatenated and projected back:
///   query [B, T_q, E], key and value [B, T_k, E] -> [B, T_q, E].
/// Parameters: `in_proj_weight` [E, 3E] (queries, keys, values side by side; glorot uniform, the
/// distribution of PyTorch's xavier_uniform_ on its [3E, E]), `in_proj_bias` [3E] (zeros), and
/// `out_proj`, a Linear(E, E) with a zero bias. Unlike PyTorch's, forward returns the output only
/// (the fused op never forms the attention weights) and there is no dropout on the attention
/// weights (TransformerEncoderLayer drops out after the attention). Throws ValueError unless
/// num_heads divides embed_dim.
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads, MultiheadAttentionOptions options = {});

  /// Self-attention: x [B, T, E] -> [B, T, E] (causal when options.causal).
  Tensor forward(const Tensor& x) override;
  /// query [B, T_q, E] attends to key / value [B, T_k, E]; `mask` (optional) as
  /// scaled_dot_product_attention's, broadcast against [B, heads, T_q, T_k] (e.g. a bool
  /// [B, 1, 1, T_k] padding mask); causal as options.causal unless given.
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& mask = Tensor(),
                 std::optional<bool> causal = std::nullopt);

  std::int64_t embed_dim() const { return embed_dim_; }
  std::int64_t num_heads() const { return heads_; }
  const MultiheadAttentionOptions& options() const { return options_; }
  /// [E, 3E]
  const Tensor& in_proj_weight() const { return in_weight_; }
  /// [3E]; undefined without options.bias.
  const Tensor& in_proj_bias() const { return in_bias_; }
  const std::shared_ptr<Linear>& out_proj() const { return out_proj_; }

  std::string type_name() const override { return "MultiheadAttention"; }
  /// "128, num_heads=4, causal=true"
  std::string extra_repr() const override;

 private:
  /// x [B, T, E] -> [B, heads, T, E / heads]
  Tensor split_heads(const Tensor& x) const;

  std::int64_t embed_dim_, heads_;
  MultiheadAttentionOptions options_;
  Tensor in_weight_;
  Tensor in_bias_;
  std::shared_ptr<Linear> out_proj_;
};

enum class Activation { relu, gelu };

struct TransformerEncoderLayerOptions {
  /// The width of the feed-forward block.
  std::int64_t dim_feedforward = 2048;
  /// The probability of dropping an element (PyTorch's convention, not TensorFlow's keep_prob)
  /// after the attention, inside the feed-forward block and after it; in [0, 1).
  double dropout = 0.1;
  /// The feed-forward block's activation. GELU as in GPT and BERT (PyTorch's default is ReLU).
  Activation activation = Activation::gelu;
  /// Pre-norm (layer norm before each block, as GPT-2 and later; trains without warm-up tricks).
  /// false: post-norm, the original Transformer's and PyTorch's default.
  bool norm_first = true;
  double layer_norm_eps = 1e-5;
  /// Self-attention is causal (a decoder-only language model's block).
  bool causal = false;
  DType dtype = float32;
  Generator* generator = nullptr;
};

/// One Transformer encoder block (PyTorch's nn::TransformerEncoderLayer, batch first):
///   pre-norm:  x = x + dropout(self_attn(norm1(x)));  x = x + dropout(ff(norm2(x)))
///   post-norm: x = norm1(x + dropout(self_attn(x)));  x = norm2(x + dropout(ff(x)))
/// with ff(x) = linear2(dropout(activation(linear1(x)))). x [B, T, d_model] -> [B, T, d_model].
/// Submodules as PyTorch names them: self_attn, linear1, dropout, linear2, norm1, norm2, dropout1,
/// dropout2. Dropout acts in training mode only (train() / eval()).
class TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(std::int64_t d_model, std::int64_t nhead, TransformerEncoderLayerOptions options = {});

  /// x [B, T, d_model] -> [B, T, d_model]
  Tensor forward(const Tensor& x) override;

  const TransformerEncoderLayerOptions& options() const { return options_; }
  std::string type_name() const override { return "TransformerEncoderLayer"; }
  /// "128, nhead=4, dim_feedforward=512, dropout=0.1, activation=gelu, norm_first=true"
  std::string extra_repr() const override;

  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2;

 private:
  std::int64_t d_model_, nhead_;
  TransformerEncoderLayerOptions options_;
};

}  // namespace tapeflow::nn
