#pragma once
/// Normalisation: local response normalisation (tf.nn.lrn), tf.nn.moments,
/// tf.nn.batch_normalization and the higher-level batch_norm with moving statistics
/// (tf.contrib.layers.batch_norm). Images are NHWC (channels last), as in TensorFlow.
#include <cstdint>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow::nn {

/// tf.nn.local_response_normalization: input [N,H,W,C] (float) -> [N,H,W,C].
///   sqr_sum[n,h,w,c] = sum(input[n,h,w, c-depth_radius : c+depth_radius+1] ^ 2)
///   output           = input / (bias + alpha * sqr_sum) ^ beta
/// The window is clipped at the channel edges; alpha is *not* divided by the window size
/// (TensorFlow's convention, unlike Caffe's). depth_radius must be >= 0. Graph mode: an "LRN" node.
Tensor local_response_normalization(const Tensor& input, std::int64_t depth_radius = 5, double bias = 1.0,
                                    double alpha = 1.0, double beta = 0.5);
/// Same as local_response_normalization (tf.nn.lrn).
inline Tensor lrn(const Tensor& input, std::int64_t depth_radius = 5, double bias = 1.0, double alpha = 1.0,
                  double beta = 0.5) {
  return local_response_normalization(input, depth_radius, bias, alpha, beta);
}

/// The mean and (biased) variance of tf.nn.moments.
struct Moments {
  Tensor mean;
  Tensor variance;
};
/// tf.nn.moments: mean and biased variance (divided by the count, not count - 1) of x over
/// `axes` (all axes when empty). Output shape: x's without the reduced axes (kept as 1 when
/// `keep_dims`). Differentiable. Composed of reductions and element-wise ops (graph mode: "Mean",
/// "StopGradient", "Sub", "Square" nodes, and a second "Mean" for the mean without `keep_dims`).
Moments moments(const Tensor& x, const std::vector<int>& axes = {}, bool keep_dims = false);

/// tf.nn.batch_normalization: scale * (x - mean) / sqrt(variance + variance_epsilon) + offset.
/// mean, variance, offset and scale broadcast against x (e.g. [C] against [N,H,W,C]); offset and
/// scale may be undefined Tensors (absent: 0 and 1). Output: the broadcast shape (x's shape in
/// the usual case). Differentiable in every input. Composed of element-wise ops (graph mode:
/// "Rsqrt", "Mul", "Sub", "Add" nodes, as TensorFlow's).
Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& offset,
                           const Tensor& scale, double variance_epsilon);

/// tf.contrib.layers.batch_norm: x [..., C] (rank >= 2, e.g. NHWC [N,H,W,C] or [N,C]) normalised
/// per channel over all axes but the last -> same shape.
///   training: uses the batch mean and biased variance (tf.nn.moments over all axes but the last),
///             and updates moving_mean / moving_variance in place (they are shared handles), not
///             recorded on the tape:  moving = moving * decay + batch * (1 - decay).
///             Gradients flow through the batch statistics (one fused kernel each way).
///   inference: uses moving_mean / moving_variance (batch_normalization with them).
/// scale (gamma) and offset (beta) are [C] or undefined (absent: 1 and 0; TF's center/scale
/// flags). moving_mean and moving_variance are [C], of x's dtype. decay in [0, 1], epsilon >= 0.
///
/// Graph mode (any input a graph tensor): a "FusedBatchNorm" node [?,...,C] that only normalises,
/// with the batch statistics when training and the moving ones otherwise: it does NOT update
/// moving_mean / moving_variance (in a graph those are variables, and their moving-average
/// updates are separate assign ops). Gradients flow as in eager mode.
Tensor batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& moving_mean,
                  const Tensor& moving_variance, bool training, double decay = 0.999, double epsilon = 0.001);

/// batch_norm with `training` a bool scalar tensor [] (TensorFlow's is_training tensor; in graph
/// mode a placeholder, fed per run, chooses batch or moving statistics). Eager: the same as the
/// bool overload with training.item<bool>() (including the moving-statistics update). Graph mode:
/// as above (no update). DTypeError when training is not a bool scalar.
Tensor batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& moving_mean,
                  const Tensor& moving_variance, const Tensor& training, double decay = 0.999,
                  double epsilon = 0.001);

}  // namespace tapeflow::nn
