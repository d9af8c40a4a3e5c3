#pragma once
/// Attention: scaled dot-product attention as one fused op (PyTorch's
/// F.scaled_dot_product_attention), the building block of nn::MultiheadAttention.
#include <optional>

#include "tapeflow/tensor.h"

namespace tapeflow::nn {

/// softmax(query · keyᵀ · scale + mask) · value, over the last two axes:
///   query [..., T_q, D], key [..., T_k, D], value [..., T_k, D_v] (the same leading dimensions,
///   e.g. [batch, heads]) -> [..., T_q, D_v].
/// - mask (optional): bool, true where a query may attend to a key, or floating (the query's
///   dtype), added to the scores (-inf blocks); broadcast against [..., T_q, T_k] (e.g. [T_q, T_k]
///   for every batch and head, [batch, 1, 1, T_k] for padding). A floating mask that requires
///   grad gets its gradient (learned position biases).
/// - causal: query i attends to keys j <= i only (PyTorch's is_causal: aligned at the top left).
/// - scale: 1 / sqrt(D) unless given.
/// A query with no key to attend to gets zeros (and no gradient), where the unfused softmax would
/// give NaN.
///
/// One op ("ScaledDotProductAttention") in both modes. The forward and backward walk the keys in
/// blocks (FlashAttention's online softmax), so that besides q, k, v and the output they hold the
/// scores of one block of 64 queries x 256 keys per thread, never the [T_q, T_k] matrix; they save
/// one log-sum-exp per query. Differentiable to any order in query, key, value and a floating
/// mask (a create_graph backward writes the gradients in matmul and softmax ops).
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& mask = Tensor(), bool causal = false,
                                    std::optional<double> scale = std::nullopt);

}  // namespace tapeflow::nn
