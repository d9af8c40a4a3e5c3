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
/// `keepdims`). Differentiable. Composed of reductions and element-wise ops, as TensorFlow's
/// (graph mode: "Mean", "StopGradient", "Sub", "Square" nodes, and a "Squeeze" of the mean
/// without `keepdims`).
Moments moments(const Tensor& x, const std::vector<int>& axes = {}, bool keepdims = false);

/// tf.nn.batch_normalization: scale * (x - mean) / sqrt(variance + variance_epsilon) + offset.
/// mean, variance, offset and scale broadcast against x (e.g. [C] against [N,H,W,C]); offset and
/// scale may be undefined Tensors (absent: 0 and 1). Output: the broadcast shape (x's shape in
/// the usual case). Differentiable in every input. Composed of element-wise ops (graph mode:
/// "Rsqrt", "Mul", "Sub", "Add" nodes, as TensorFlow's).
Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& offset,
                           const Tensor& scale, double variance_epsilon);

/// Layer normalisation (Ba et al. 2016; PyTorch's layer_norm, tf.contrib.layers.layer_norm):
/// each slice of x over its axes from `begin_norm_axis` on (the last one by default) normalised
/// to zero mean and unit (biased) variance, then scaled by gamma and shifted by beta, both of
/// that slice's shape ([C] for the default) or undefined (absent: 1 and 0):
///   y = (x - mean) / sqrt(var + epsilon) * gamma + beta
/// One fused op ("LayerNorm") each way in both modes; differentiable to any order in x, gamma and
/// beta. epsilon 1e-5 as PyTorch's.
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon = 1e-5,
                  int begin_norm_axis = -1);

/// What fused_batch_norm returns (tf.nn.fused_batch_norm's three outputs).
struct BatchNormOutput {
  Tensor y;               // x normalised: x's shape
  Tensor batch_mean;      // [C]
  Tensor batch_variance;  // [C]
};

/// tf.nn.fused_batch_norm: x [..., C] (rank >= 2, e.g. NHWC [N,H,W,C] or [N,C]) normalised per
/// channel over all axes but the last; one op ("FusedBatchNorm", three outputs) in both modes.
/// scale (gamma) and offset (beta) are [C] or undefined (absent: 1 and 0); mean and variance are
/// the population (moving) statistics, [C] of x's dtype.
///   training true:  y uses the batch mean and the *biased* batch variance (divided by the count,
///                   as tf.nn.moments), which batch_mean / batch_variance return. One fused kernel
///                   each way; gradients flow through the batch statistics (and from gradients
///                   of batch_mean / batch_variance, if any).
///   training false: y uses mean and variance (batch_normalization); batch_mean / batch_variance
///                   are copies of them, and they get no gradient.
/// `training` is a bool scalar tensor [] (in graph mode a placeholder, fed per run) or a bool.
/// Which variance feeds the moving average is a TensorFlow choice: TF's fused kernel hands out
/// the Bessel-corrected batch variance (n / (n - 1) times the biased one), while the unfused path
/// of tf.contrib.layers.batch_norm (fused=False, the default of TF 1.0-1.3, the version of this
/// project's seed tutorials) feeds the moving average tf.nn.moments' biased variance. tapeflow
/// follows the seeds: batch_variance is the biased variance, in eager and graph mode alike.
BatchNormOutput fused_batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& mean,
                                 const Tensor& variance, double epsilon, const Tensor& training);
BatchNormOutput fused_batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& mean,
                                 const Tensor& variance, double epsilon = 0.001, bool training = true);

/// TensorFlow's assign_moving_average (without zero debiasing), in place and unrecorded, when the
/// bool scalar `training` is true:  moving -= (moving - value) * (1 - decay).  Returns moving.
/// An op ("AssignSub"): in graph mode a node that updates the variable `moving` when it runs
/// (layers::batch_norm puts two in the update_ops collection); eagerly it updates at once.
Tensor assign_moving_average(const Tensor& moving, const Tensor& value, double decay, const Tensor& training);

/// tf.contrib.layers.batch_norm's computation as one function: fused_batch_norm with the moving
/// statistics, then assign_moving_average of each with the batch's (decay in [0, 1], epsilon
/// >= 0):
///   training: the batch statistics normalise, and moving_mean / moving_variance move towards
///             them in place (they are shared handles): the module nn::BatchNorm's step.
///   inference: the moving statistics normalise.
/// In graph mode the same two ops are built, but nothing runs the update nodes unless they are
/// fetched: layers::batch_norm is the graph-mode layer, with its update ops in a collection.
/// moving_mean and moving_variance are required ([C], x's dtype).
Tensor batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& moving_mean,
                  const Tensor& moving_variance, bool training, double decay = 0.999, double epsilon = 0.001);

/// batch_norm with `training` a bool scalar tensor [] (TensorFlow's is_training tensor; in graph
/// mode a placeholder, fed per run, chooses batch or moving statistics).
Tensor batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& moving_mean,
                  const Tensor& moving_variance, const Tensor& training, double decay = 0.999,
                  double epsilon = 0.001);

}  // namespace tapeflow::nn
