#pragma once
/// Eager modules over the functional CNN ops (nn/conv.h, pool.h, norm.h, dropout.h): Conv2d,
/// MaxPool2d, AvgPool2d, LocalResponseNorm, BatchNorm, Dropout, Flatten. PyTorch C++ frontend
/// shape (constructor arguments plus an options struct with defaults, validated in the
/// constructor), TensorFlow 1.x semantics and layout: images are NHWC [batch, height, width,
/// channels], convolution filters HWIO [height, width, in, out].
///
///   nn::Sequential net(nn::Conv2d(1, 32, 5), nn::ReLU(), nn::MaxPool2d(2),
///                      nn::Conv2d(32, 64, 5), nn::ReLU(), nn::MaxPool2d(2),
///                      nn::Flatten(), nn::Linear(7 * 7 * 64, 1024), nn::ReLU(),
///                      nn::Dropout(0.5), nn::Linear(1024, 10));
///
/// Dropout and BatchNorm behave differently in training mode (the default) and after eval(); see
/// Module::train().
///
/// An input of the wrong rank, channel count or dtype is a ShapeError / DTypeError whose message
/// starts with the module as printed ("Conv2d(1, 20, kernel_size=[5,5], ...): expected an input
/// [N,H,W,1], got [2,28,28]"); errors raised by the functional op underneath are prefixed the same
/// way, so an error inside a Sequential names the layer.
#include <cstdint>
#include <string>
#include <vector>

#include "tapeflow/dtype.h"
#include "tapeflow/nn/conv.h"  // Padding
#include "tapeflow/nn/module.h"
#include "tapeflow/ops/random.h"

namespace tapeflow::nn {

/// A 2-D window size or stride: one number for both dimensions (`5`) or `{height, width}`.
/// Default-constructed it is {0, 0}, which the pools read as "not given" (see Pool2dOptions).
struct Size2 {
  Size2() = default;
  Size2(std::int64_t both) : height(both), width(both) {}  // NOLINT: implicit on purpose (`5`)
  Size2(std::int64_t h, std::int64_t w) : height(h), width(w) {}
  std::int64_t height = 0;
  std::int64_t width = 0;
  bool operator==(const Size2&) const = default;
  /// "[5,5]"
  std::string str() const;
};

// ----------------------------------------------------------------------------------- Conv2d

struct Conv2dOptions {
  /// {stride_height, stride_width} (or one number for both); positive.
  Size2 strides = {1, 1};
  /// SAME (the default here, as tf.contrib.layers.conv2d and the TensorFlow MNIST tutorials) keeps
  /// ceil(in / stride) positions; VALID uses only full windows (tf.layers.conv2d's default).
  Padding padding = Padding::Same;
  /// Add a learned bias per output channel.
  bool bias = true;
  /// Apply a ReLU to the output (tf.layers.conv2d(activation=tf.nn.relu)): with a bias, fused
  /// into the convolution's products (TensorFlow's _FusedConv2D with BiasAdd and Relu), each
  /// chunk of the output rectified while it is in cache; without one, relu(conv2d(x, W)).
  bool relu = false;
  /// The parameters' dtype: float32, or float64 (e.g. for gradient checks). Inputs must match.
  DType dtype = float32;
  /// The generator for the initial weight (nullptr: the default generator, see manual_seed()).
  Generator* generator = nullptr;
};

/// 2-D convolution (tf.layers.conv2d without the activation): conv2d(x, weight) + bias.
///   input [N, H, W, in_channels] -> output [N, H', W', out_channels], with H', W' as conv.h's
///   padding arithmetic gives (SAME: ceil(H / stride_h); VALID: ceil((H - kh + 1) / stride_h)).
///
/// Parameters (TensorFlow's layout):
///   `weight` [kh, kw, in_channels, out_channels] (HWIO), initialised glorot uniform:
///            U(-l, l), l = sqrt(6 / (fan_in + fan_out)), fan_in = kh*kw*in, fan_out = kh*kw*out;
///   `bias`   [out_channels], initialised to zeros (when options.bias).
/// These are tf.layers.conv2d's defaults. To initialise differently, overwrite the values in
/// place with nn/init.h, e.g. `nn::init::truncated_normal_(conv.weight(), 0, 0.1)`.
///
/// Throws ValueError when a channel count, a kernel size or a stride is not positive, DTypeError
/// for a non-float dtype.
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size, Conv2dOptions options = {});

  /// [N, H, W, in_channels] -> [N, H', W', out_channels]
  Tensor forward(const Tensor& input) override;

  std::int64_t in_channels() const { return in_; }
  std::int64_t out_channels() const { return out_; }
  Size2 kernel_size() const { return kernel_; }
  const Conv2dOptions& options() const { return options_; }
  /// [kh, kw, in_channels, out_channels]
  const Tensor& weight() const { return weight_; }
  /// [out_channels]; undefined when options.bias is false.
  const Tensor& bias() const { return bias_; }

  std::string type_name() const override { return "Conv2d"; }
  /// "1, 20, kernel_size=[5,5], strides=[1,1], padding=SAME", plus ", bias=false" and
  /// ", dtype=float64" when not the defaults.
  std::string extra_repr() const override;

 private:
  std::int64_t in_;
  std::int64_t out_;
  Size2 kernel_;
  Conv2dOptions options_;
  Tensor weight_;
  Tensor bias_;
};

// ------------------------------------------------------------------------------------ pools

struct Pool2dOptions {
  /// {stride_height, stride_width} (or one number for both), positive. Left at {} (0x0, the
  /// default) it equals the kernel size: non-overlapping windows, as tf.keras.layers.MaxPool2D
  /// (tf.layers.max_pooling2d has no default and the tutorials pass the pool size) and torch.
  Size2 strides = {};
  /// VALID (tf.layers.max_pooling2d's and average_pooling2d's default) uses only full windows;
  /// SAME keeps ceil(in / stride) positions.
  Padding padding = Padding::Valid;
};
using MaxPool2dOptions = Pool2dOptions;
using AvgPool2dOptions = Pool2dOptions;

/// Max pooling (tf.layers.max_pooling2d): max_pool over each window, per channel.
///   input [N, H, W, C] -> [N, H', W', C] (VALID: ceil((H - kh + 1) / stride_h); SAME: ceil(H / stride_h)).
/// No parameters. ValueError when a kernel size or stride is not positive.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, MaxPool2dOptions options = {});

  /// [N, H, W, C] -> [N, H', W', C]
  Tensor forward(const Tensor& input) override;

  Size2 kernel_size() const { return kernel_; }
  /// The strides in use (the kernel size when options.strides was left at {}).
  Size2 strides() const { return strides_; }
  Padding padding() const { return options_.padding; }
  const MaxPool2dOptions& options() const { return options_; }

  std::string type_name() const override { return "MaxPool2d"; }
  /// "kernel_size=[2,2], strides=[2,2], padding=VALID"
  std::string extra_repr() const override;

 private:
  Size2 kernel_;
  Size2 strides_;
  MaxPool2dOptions options_;
};

/// Average pooling (tf.layers.average_pooling2d): the mean of each window, per channel, over the
/// positions inside the input (see pool.h). Shapes, options and errors as MaxPool2d.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, AvgPool2dOptions options = {});

  /// [N, H, W, C] -> [N, H', W', C]
  Tensor forward(const Tensor& input) override;

  Size2 kernel_size() const { return kernel_; }
  /// The strides in use (the kernel size when options.strides was left at {}).
  Size2 strides() const { return strides_; }
  Padding padding() const { return options_.padding; }
  const AvgPool2dOptions& options() const { return options_; }

  std::string type_name() const override { return "AvgPool2d"; }
  /// "kernel_size=[2,2], strides=[2,2], padding=VALID"
  std::string extra_repr() const override;

 private:
  Size2 kernel_;
  Size2 strides_;
  AvgPool2dOptions options_;
};

// ------------------------------------------------------------------------ LocalResponseNorm

/// tf.nn.local_response_normalization's arguments and defaults.
struct LocalResponseNormOptions {
  /// Half-width of the channel window; >= 0.
  std::int64_t depth_radius = 5;
  double bias = 1.0;
  /// Not divided by the window size (TensorFlow's convention).
  double alpha = 1.0;
  double beta = 0.5;
};

/// Local response normalisation across channels (tf.nn.lrn), see norm.h:
///   input [N, H, W, C] -> [N, H, W, C], out = x / (bias + alpha * sum_window(x^2)) ^ beta.
/// No parameters. ValueError when depth_radius < 0.
class LocalResponseNorm : public Module {
 public:
  explicit LocalResponseNorm(LocalResponseNormOptions options = {});

  /// [N, H, W, C] -> [N, H, W, C]
  Tensor forward(const Tensor& input) override;

  const LocalResponseNormOptions& options() const { return options_; }

  std::string type_name() const override { return "LocalResponseNorm"; }
  /// "depth_radius=5, bias=1, alpha=1, beta=0.5"
  std::string extra_repr() const override;

 private:
  LocalResponseNormOptions options_;
};

// -------------------------------------------------------------------------------- BatchNorm

/// tf.contrib.layers.batch_norm's defaults (TF 1.x): decay 0.999, epsilon 0.001, center=True,
/// scale=False. scale=False (no gamma) is contrib's choice because a following linear layer or
/// ReLU makes a per-channel scale redundant; set `.scale = true` for tf.layers.batch_normalization's
/// learned gamma.
struct BatchNormOptions {
  /// Moving average decay: moving = moving * decay + batch * (1 - decay); in [0, 1].
  double decay = 0.999;
  /// Added to the variance before the square root; >= 0.
  double epsilon = 0.001;
  /// Learn an offset `beta` [C] (initialised to zeros).
  bool center = true;
  /// Learn a scale `gamma` [C] (initialised to ones).
  bool scale = false;
  /// The parameters' and moving statistics' dtype: float32 or float64. Inputs must match.
  DType dtype = float32;
};

/// Batch normalisation (tf.contrib.layers.batch_norm) per channel, the last dimension:
///   input [N, C] or [N, H, W, C] (any rank >= 2, channels last) -> same shape, normalised over
///   every axis but the last.
///   training mode (is_training(), the default): y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta
///     with the batch's mean and biased variance; gradients flow through them; and the moving
///     buffers are updated in place (not on the tape): moving = moving * decay + batch * (1 - decay).
///   eval mode: the same with moving_mean / moving_variance in place of the batch statistics;
///     the buffers are left alone.
///
/// Parameters: `beta` [C] (when center), `gamma` [C] (when scale). Buffers (state saved with the
/// parameters, never trained): `moving_mean` [C] (zeros) and `moving_variance` [C] (ones).
/// Throws ValueError when num_features <= 0, decay is outside [0, 1] or epsilon < 0; DTypeError
/// for a non-float dtype.
class BatchNorm : public Module {
 public:
  BatchNorm(std::int64_t num_features, BatchNormOptions options = {});

  /// [..., C] -> [..., C]
  Tensor forward(const Tensor& input) override;

  std::int64_t num_features() const { return features_; }
  const BatchNormOptions& options() const { return options_; }
  /// [C]; undefined when options.center is false.
  const Tensor& beta() const { return beta_; }
  /// [C]; undefined when options.scale is false.
  const Tensor& gamma() const { return gamma_; }
  /// [C]
  const Tensor& moving_mean() const { return moving_mean_; }
  /// [C]
  const Tensor& moving_variance() const { return moving_variance_; }

  std::string type_name() const override { return "BatchNorm"; }
  /// "20, decay=0.999, epsilon=0.001, center=true, scale=false", plus ", dtype=float64" when not
  /// the default.
  std::string extra_repr() const override;

 private:
  std::int64_t features_;
  BatchNormOptions options_;
  Tensor beta_;
  Tensor gamma_;
  Tensor moving_mean_;
  Tensor moving_variance_;
};

// ---------------------------------------------------------------------------------- LayerNorm

struct LayerNormOptions {
  /// Added to the variance before the square root; >= 0 (PyTorch's default).
  double eps = 1e-5;
  /// Learn `weight` (gamma, ones) and `bias` (beta, zeros) of the normalised shape.
  bool elementwise_affine = true;
  /// The parameters' dtype: float32 or float64. Inputs must match.
  DType dtype = float32;
};

/// Layer normalisation (PyTorch's nn::LayerNorm): input [..., *normalized_shape] normalised over
/// its last normalized_shape.size() axes (layer_norm in nn/norm.h), then scaled by `weight` and
/// shifted by `bias`, both of normalized_shape. Throws ValueError for an empty or non-positive
/// normalized_shape or eps < 0.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(std::vector<std::int64_t> normalized_shape, LayerNormOptions options = {});

  /// [..., *normalized_shape] -> the same shape
  Tensor forward(const Tensor& input) override;

  const std::vector<std::int64_t>& normalized_shape() const { return shape_; }
  const LayerNormOptions& options() const { return options_; }
  /// normalized_shape; undefined without elementwise_affine.
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

  std::string type_name() const override { return "LayerNorm"; }
  /// "[128], eps=1e-05"
  std::string extra_repr() const override;

 private:
  std::vector<std::int64_t> shape_;
  LayerNormOptions options_;
  Tensor weight_;
  Tensor bias_;
};

// ---------------------------------------------------------------------------------- Embedding

struct EmbeddingOptions {
  /// The table's dtype: float32 or float64.
  DType dtype = float32;
  /// The generator for the initial table (nullptr: the default generator, see manual_seed()).
  Generator* generator = nullptr;
};

/// A lookup table (PyTorch's nn::Embedding): ids [...] (int32/int64, each in [0, num_embeddings))
/// -> [..., embedding_dim], the rows of `weight` [num_embeddings, embedding_dim] (initialised
/// N(0, 1), as PyTorch's). Its gradient adds each output row's gradient into the row it came
/// from (embedding_lookup). An id out of range is a ValueError naming it and its position.
class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, EmbeddingOptions options = {});

  /// ids [...] -> [..., embedding_dim]
  Tensor forward(const Tensor& ids) override;

  std::int64_t num_embeddings() const { return rows_; }
  std::int64_t embedding_dim() const { return dim_; }
  /// [num_embeddings, embedding_dim]
  const Tensor& weight() const { return weight_; }

  std::string type_name() const override { return "Embedding"; }
  /// "256, 128"
  std::string extra_repr() const override;

 private:
  std::int64_t rows_, dim_;
  EmbeddingOptions options_;
  Tensor weight_;
};

// ---------------------------------------------------------------------------------- Dropout

struct DropoutOptions {
  /// The generator for the masks (nullptr: the default generator, see manual_seed()).
  Generator* generator = nullptr;
};

/// tf.nn.dropout with TensorFlow 1.x's keep_prob (the probability of *keeping* an element):
///   training mode: each element kept with probability keep_prob and scaled by 1 / keep_prob,
///                  the others zeroed (a new mask on every call);
///   eval mode:     the identity (returns the input itself).
/// x (float, any shape) -> same shape. No parameters. ValueError unless 0 < keep_prob <= 1.
class Dropout : public Module {
 public:
  explicit Dropout(double keep_prob, DropoutOptions options = {});

  /// x -> x's shape
  Tensor forward(const Tensor& input) override;

  double keep_prob() const { return keep_prob_; }
  const DropoutOptions& options() const { return options_; }

  std::string type_name() const override { return "Dropout"; }
  /// "keep_prob=0.5"
  std::string extra_repr() const override;

 private:
  double keep_prob_;
  DropoutOptions options_;
};

// ---------------------------------------------------------------------------------- Flatten

/// tf.layers.flatten: [N, d1, d2, ...] -> [N, d1*d2*...] (shares the input's data). No parameters.
class Flatten : public Module {
 public:
  /// [N, ...] -> [N, prod(...)]
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Flatten"; }
};

}  // namespace tapeflow::nn
