// MultiheadAttention and TransformerEncoderLayer: modules composed of Linear, LayerNorm, Dropout
// and the fused scaled_dot_product_attention.
#include "tapeflow/nn/transformer.h"

#include "nn/module_checks.h"
#include "tapeflow/nn/attention.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/nn/init.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/linalg.h"

namespace tapeflow::nn {

using detail::check_defined;
using detail::check_dtype;
using detail::check_float_dtype;
using detail::named;

// ------------------------------------------------------------------------ MultiheadAttention

MultiheadAttention::MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads,
                                       MultiheadAttentionOptions options)
    : embed_dim_(embed_dim), heads_(num_heads), options_(options) {
  const std::string where = str_line();
  if (embed_dim_ <= 0 || heads_ <= 0)
    throw ValueError(fmt::format("{}: embed_dim and num_heads must be positive", where));
  if (embed_dim_ % heads_ != 0)
    throw ValueError(fmt::format("{}: num_heads {} must divide embed_dim {} (each head gets embed_dim / num_heads)",
                                 where, heads_, embed_dim_));
  check_float_dtype(where, options_.dtype);
  in_weight_ = register_parameter(
      "in_proj_weight", init::glorot_uniform({embed_dim_, 3 * embed_dim_}, options_.dtype, options_.generator));
  if (options_.bias) in_bias_ = register_parameter("in_proj_bias", tapeflow::zeros({3 * embed_dim_}, options_.dtype));
  out_proj_ = register_module(
      "out_proj", Linear(embed_dim_, embed_dim_,
                         {.bias = options_.bias, .dtype = options_.dtype, .generator = options_.generator}));
}

std::string MultiheadAttention::extra_repr() const {
  std::string s = fmt::format("{}, num_heads={}", embed_dim_, heads_);
  if (!options_.bias) s += ", bias=false";
  if (options_.causal) s += ", causal=true";
  if (options_.dtype != float32) s += fmt::format(", dtype={}", dtype_name(options_.dtype));
  return s;
}

Tensor MultiheadAttention::split_heads(const Tensor& x) const {
  return transpose(reshape(x, Shape{x.dim(0), x.dim(1), heads_, embed_dim_ / heads_}), {0, 2, 1, 3});
}

Tensor MultiheadAttention::forward(const Tensor& x) { return forward(x, x, x, Tensor(), std::nullopt); }

Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& mask,
                                   std::optional<bool> causal) {
  const auto where = [this] { return str_line(); };
  for (const Tensor* t : {&query, &key, &value}) {
    check_defined(where, *t);
    const Shape& s = t->shape();
    if (s.rank() != 3 || (s[2] != embed_dim_ && s[2] != Shape::kUnknown))
      throw ShapeError(fmt::format("{}: expected query, key and value [batch, time, {}], got {}", where(), embed_dim_,
                                   s.str()));
    check_dtype(where, *t, options_.dtype, "MultiheadAttentionOptions");
  }
  // x [B, T, E] · w [E, n] (+ b) -> [B, T, n]
  auto project = [](const Tensor& x, const Tensor& w, const Tensor& b) {
    return b.defined() ? xw_plus_b(x, w, b) : matmul(x, w);
  };
  return named(where, [&] {
    Tensor q, k, v;
    if (query.is_same(key) && key.is_same(value)) {  // self-attention: one projection for all three
      const Tensor qkv = project(query, in_weight_, in_bias_);
      const std::vector<Tensor> parts = split(qkv, {embed_dim_, embed_dim_, embed_dim_}, -1);
      q = parts[0];
      k = parts[1];
      v = parts[2];
    } else {
      const std::vector<Tensor> w = split(in_weight_, {embed_dim_, embed_dim_, embed_dim_}, 1);
      const std::vector<Tensor> b = options_.bias ? split(in_bias_, {embed_dim_, embed_dim_, embed_dim_}, 0)
                                                  : std::vector<Tensor>(3);
      q = project(query, w[0], b[0]);
      k = project(key, w[1], b[1]);
      v = project(value, w[2], b[2]);
    }
    const Tensor heads = scaled_dot_product_attention(split_heads(q), split_heads(k), split_heads(v), mask,
                                                      causal.value_or(options_.causal));
    // [B, heads, T, E / heads] -> [B, T, E]
    const Tensor merged = reshape(transpose(heads, {0, 2, 1, 3}), Shape{query.dim(0), query.dim(1), embed_dim_});
    return (*out_proj_)(merged);
  });
}

// ------------------------------------------------------------------ TransformerEncoderLayer

namespace {
const char* activation_name(Activation a) { return a == Activation::gelu ? "gelu" : "relu"; }
}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(std::int64_t d_model, std::int64_t nhead,
                                                 TransformerEncoderLayerOptions options)
    : d_model_(d_model), nhead_(nhead), options_(options) {
  const std::string where = str_line();
  if (options_.dim_feedforward <= 0)
    throw ValueError(fmt::format("{}: dim_feedforward must be positive", where));
  if (!(options_.dropout >= 0.0 && options_.dropout < 1.0))
    throw ValueError(fmt::format("{}: dropout must be in [0, 1) (the probability of dropping an element), got {}",
                                 where, options_.dropout));
  const LinearOptions lin{.dtype = options_.dtype, .generator = options_.generator};
  self_attn = register_module("self_attn", MultiheadAttention(d_model_, nhead_,
                                                              {.causal = options_.causal,
                                                               .dtype = options_.dtype,
                                                               .generator = options_.generator}));
  linear1 = register_module("linear1", Linear(d_model_, options_.dim_feedforward, lin));
  dropout = register_module("dropout", Dropout(1.0 - options_.dropout));
  linear2 = register_module("linear2", Linear(options_.dim_feedforward, d_model_, lin));
  const LayerNormOptions norm{.eps = options_.layer_norm_eps, .dtype = options_.dtype};
  norm1 = register_module("norm1", LayerNorm({d_model_}, norm));
  norm2 = register_module("norm2", LayerNorm({d_model_}, norm));
  dropout1 = register_module("dropout1", Dropout(1.0 - options_.dropout));
  dropout2 = register_module("dropout2", Dropout(1.0 - options_.dropout));
}

std::string TransformerEncoderLayer::extra_repr() const {
  std::string s = fmt::format("{}, nhead={}, dim_feedforward={}, dropout={}, activation={}, norm_first={}", d_model_,
                              nhead_, options_.dim_feedforward, options_.dropout,
                              activation_name(options_.activation), options_.norm_first);
  if (options_.causal) s += ", causal=true";
  return s;
}

Tensor TransformerEncoderLayer::forward(const Tensor& x) {
  auto feed_forward = [&](const Tensor& h) {
    const Tensor a = (*linear1)(h);
    return (*linear2)((*dropout)(options_.activation == Activation::gelu ? gelu(a) : relu(a)));
  };
  if (options_.norm_first) {
    const Tensor h = x + (*dropout1)((*self_attn)((*norm1)(x)));
    return h + (*dropout2)(feed_forward((*norm2)(h)));
  }
  const Tensor h = (*norm1)(x + (*dropout1)((*self_attn)(x)));
  return (*norm2)(h + (*dropout2)(feed_forward(h)));
}

}  // namespace tapeflow::nn
