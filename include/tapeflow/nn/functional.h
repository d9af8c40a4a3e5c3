#pragma once
/// tf.nn: activations, softmax and the losses (functional forms).
#include <cstdint>

#include "tapeflow/ops/elementwise.h"
#include "tapeflow/tensor.h"

namespace tapeflow::nn {

using tapeflow::elu;
using tapeflow::leaky_relu;
using tapeflow::relu;
using tapeflow::relu6;
using tapeflow::sigmoid;
using tapeflow::softplus;
using tapeflow::tanh;

/// GELU, x * Phi(x) with Phi the standard normal CDF: 0.5 x (1 + erf(x / sqrt(2))) exactly, or
/// with `approximate` the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (tf.nn.gelu,
/// PyTorch's gelu(approximate="tanh")). Graph mode: a "Gelu" node.
Tensor gelu(const Tensor& features, bool approximate = false);
/// SiLU (swish), x * sigmoid(x) (tf.nn.swish, PyTorch's silu). Graph mode: a "Silu" node.
Tensor silu(const Tensor& features);
inline Tensor swish(const Tensor& features) { return silu(features); }

/// tf.nn.embedding_lookup: the rows of params [V, ...] at ids [...] (int32/int64, each in
/// [0, V)) -> [..., ...] (gather along axis 0). The gradient adds each output row's gradient into
/// its row of params (TensorFlow's UnsortedSegmentSum), never a dense one-hot product. Graph
/// mode: a "GatherV2" node.
Tensor embedding_lookup(const Tensor& params, const Tensor& ids);

/// exp(x) / sum(exp(x)) along `axis`; same shape as x. Graph mode: a "Softmax" node.
Tensor softmax(const Tensor& logits, int axis = -1);
/// x - logsumexp(x) along `axis`, computed stably; same shape as x. Graph mode: a "LogSoftmax" node.
Tensor log_softmax(const Tensor& logits, int axis = -1);

/// Cross-entropy between a probability distribution `labels` and `logits`, both [..., classes]:
/// -sum(labels * log_softmax(logits)) along the last axis -> [...]. Stable for large logits.
/// Graph mode: a "SoftmaxCrossEntropyWithLogits" node.
Tensor softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits);

/// Cross-entropy of integer class labels [...] (int32/int64, each in [0, classes)) against
/// logits [..., classes] -> [...]. Stable for large logits. Not differentiable in labels.
/// Graph mode: a "SparseSoftmaxCrossEntropyWithLogits" node; the label range is checked at run time.
Tensor sparse_softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits);

/// sum(t^2) / 2 -> scalar (tf.nn.l2_loss). Graph mode: an "L2Loss" node.
Tensor l2_loss(const Tensor& t);

/// Whether targets[i] is among the k largest of predictions[i] ([batch, classes], [batch] ->
/// bool [batch]). Ties at the boundary count as inside; a non-finite row gives false (TensorFlow).
/// Graph mode: an "InTopKV2" node.
Tensor in_top_k(const Tensor& predictions, const Tensor& targets, std::int64_t k);

}  // namespace tapeflow::nn
