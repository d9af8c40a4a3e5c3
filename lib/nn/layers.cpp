// Eager modules over the functional CNN ops: Conv2d, pools, LocalResponseNorm, BatchNorm, Dropout,
// Flatten. Each checks its input against its configuration (so the message names the layer), then
// calls the functional op, whose own errors are prefixed with the layer as well.
#include "tapeflow/nn/layers.h"

#include <cmath>
#include <limits>

#include <fmt/ranges.h>

#include "nn/bias.h"
#include "nn/module_checks.h"
#include "tapeflow/nn/dropout.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/nn/init.h"
#include "tapeflow/nn/norm.h"
#include "tapeflow/nn/pool.h"

namespace tapeflow::nn {
namespace {

using detail::check_defined;
using detail::check_dtype;
using detail::check_float_dtype;
using detail::named;

constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();

/// Throws ValueError unless both entries of `s` are positive and fit the functional ops' int.
void check_size2(const std::string& where, const char* what, Size2 s) {
  if (s.height <= 0 || s.width <= 0)
    throw ValueError(fmt::format("{}: {} must be positive, got {}", where, what, s.str()));
  if (s.height > kIntMax || s.width > kIntMax)
    throw ValueError(fmt::format("{}: {} {} is too large (each entry must be at most {})", where, what, s.str(),
                                 kIntMax));
}

std::vector<int> to_vector(Size2 s) { return {static_cast<int>(s.height), static_cast<int>(s.width)}; }

/// A hint for an image input of the wrong layout, for a layer expecting `channels` channels
/// (0: any number of channels).
std::string image_hint(const Shape& s, std::int64_t channels) {
  const std::int64_t c = channels > 0 ? channels : 1;
  if (s.rank() == 2 && s[1] > 0 && s[1] % c == 0) {
    const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(s[1] / c))));
    if (side * side * c == s[1])
      return fmt::format("; images are NHWC: reshape flat images first, e.g. reshape(x, {{-1, {}, {}, {}}})", side,
                         side, c);
  }
  if (s.rank() == 3) {
    if (channels > 0 && s[2] == channels)
      return fmt::format("; a single image needs a batch dimension: reshape(x, {{1, {}, {}, {}}})", s[0], s[1], s[2]);
    return fmt::format("; add the channel dimension, e.g. reshape(x, {{-1, {}, {}, 1}})", s[1], s[2]);
  }
  if (s.rank() == 4 && channels > 0) {
    if (s[1] == channels)
      return "; images must be channels last (NHWC): for NCHW input use transpose(x, {0, 2, 3, 1})";
    return fmt::format("; the input has {} channels but the layer was built for {}", s[3], channels);
  }
  return "; images are [batch, height, width, channels] (NHWC)";
}

/// Throws unless `input` is a 4-D NHWC batch (with `channels` channels when > 0).
template <class Where>
void check_image(const Where& where, const Tensor& input, std::int64_t channels) {
  check_defined(where, input);
  const Shape& s = input.shape();
  if (s.rank() == 4 && (channels <= 0 || s[3] == channels || s[3] == Shape::kUnknown)) return;
  throw ShapeError(fmt::format("{}: expected an input [N,H,W,{}], got {}{}", where(),
                               channels > 0 ? fmt::format("{}", channels) : "C", s.str(), image_hint(s, channels)));
}

std::string pool_repr(Size2 kernel, Size2 strides, Padding padding) {
  return fmt::format("kernel_size={}, strides={}, padding={}", kernel.str(), strides.str(), padding_name(padding));
}

/// Validates a pool's kernel and strides; returns the strides in use (the kernel when unset).
Size2 pool_strides(const char* type, Size2 kernel, const Pool2dOptions& options) {
  const bool unset = options.strides == Size2{};
  const std::string where =
      fmt::format("{}(kernel_size={}, strides={})", type, kernel.str(), unset ? kernel.str() : options.strides.str());
  check_size2(where, "kernel_size", kernel);
  if (unset) return kernel;
  check_size2(where, "strides", options.strides);
  return options.strides;
}

}  // namespace

std::string Size2::str() const { return fmt::format("[{},{}]", height, width); }

// ----------------------------------------------------------------------------------- Conv2d

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size, Conv2dOptions options)
    : in_(in_channels), out_(out_channels), kernel_(kernel_size), options_(options) {
  const std::string where = fmt::format("Conv2d({}, {}, kernel_size={})", in_, out_, kernel_.str());
  if (in_ <= 0 || out_ <= 0)
    throw ValueError(fmt::format("{}: in_channels and out_channels must be positive", where));
  check_size2(where, "kernel_size", kernel_);
  check_size2(where, "strides", options_.strides);
  check_float_dtype(where, options_.dtype);
  // tf.layers.conv2d's defaults: glorot uniform kernel (fans scaled by the receptive field
  // kh*kw, see init::compute_fans), zero bias.
  weight_ = register_parameter(
      "weight", init::glorot_uniform({kernel_.height, kernel_.width, in_, out_}, options_.dtype, options_.generator));
  if (options_.bias) bias_ = register_parameter("bias", tapeflow::zeros({out_}, options_.dtype));
}

std::string Conv2d::extra_repr() const {
  std::string s = fmt::format("{}, {}, kernel_size={}, strides={}, padding={}", in_, out_, kernel_.str(),
                              options_.strides.str(), padding_name(options_.padding));
  if (!options_.bias) s += ", bias=false";
  if (options_.relu) s += ", relu=true";
  if (options_.dtype != float32) s += fmt::format(", dtype={}", dtype_name(options_.dtype));
  return s;
}

Tensor Conv2d::forward(const Tensor& input) {
  const auto where = [this] { return str_line(); };
  check_image(where, input, in_);
  check_dtype(where, input, options_.dtype, "Conv2dOptions");
  return named(where, [&] {
    // [N,H',W',out], + [out] per position
    if (options_.bias)
      return detail::conv2d_fused(input, weight_, bias_, to_vector(options_.strides), options_.padding,
                                  options_.relu ? detail::Fused::bias_relu : detail::Fused::bias);
    Tensor y = conv2d(input, weight_, to_vector(options_.strides), options_.padding);
    return options_.relu ? tapeflow::relu(y) : y;
  });
}

// ------------------------------------------------------------------------------------ pools

MaxPool2d::MaxPool2d(Size2 kernel_size, MaxPool2dOptions options)
    : kernel_(kernel_size), strides_(pool_strides("MaxPool2d", kernel_size, options)), options_(options) {}

std::string MaxPool2d::extra_repr() const { return pool_repr(kernel_, strides_, options_.padding); }

Tensor MaxPool2d::forward(const Tensor& input) {
  const auto where = [this] { return str_line(); };
  check_image(where, input, 0);
  return named(where, [&] { return max_pool(input, to_vector(kernel_), to_vector(strides_), options_.padding); });
}

AvgPool2d::AvgPool2d(Size2 kernel_size, AvgPool2dOptions options)
    : kernel_(kernel_size), strides_(pool_strides("AvgPool2d", kernel_size, options)), options_(options) {}

std::string AvgPool2d::extra_repr() const { return pool_repr(kernel_, strides_, options_.padding); }

Tensor AvgPool2d::forward(const Tensor& input) {
  const auto where = [this] { return str_line(); };
  check_image(where, input, 0);
  return named(where, [&] { return avg_pool(input, to_vector(kernel_), to_vector(strides_), options_.padding); });
}

// ------------------------------------------------------------------------ LocalResponseNorm

LocalResponseNorm::LocalResponseNorm(LocalResponseNormOptions options) : options_(options) {
  if (options_.depth_radius < 0)
    throw ValueError(fmt::format("{}: depth_radius must be >= 0, got {}", str_line(), options_.depth_radius));
}

std::string LocalResponseNorm::extra_repr() const {
  return fmt::format("depth_radius={}, bias={}, alpha={}, beta={}", options_.depth_radius, options_.bias,
                     options_.alpha, options_.beta);
}

Tensor LocalResponseNorm::forward(const Tensor& input) {
  const auto where = [this] { return str_line(); };
  check_image(where, input, 0);
  return named(where, [&] {
    return local_response_normalization(input, options_.depth_radius, options_.bias, options_.alpha, options_.beta);
  });
}

// -------------------------------------------------------------------------------- BatchNorm

BatchNorm::BatchNorm(std::int64_t num_features, BatchNormOptions options) : features_(num_features), options_(options) {
  const std::string where = str_line();
  if (features_ <= 0) throw ValueError(fmt::format("{}: num_features must be positive", where));
  if (!(options_.decay >= 0.0 && options_.decay <= 1.0))
    throw ValueError(fmt::format("{}: decay must be in [0, 1], got {} (the moving averages keep this fraction of "
                                 "their value at each training step)",
                                 where, options_.decay));
  if (!(options_.epsilon >= 0.0))
    throw ValueError(fmt::format("{}: epsilon must be >= 0, got {}", where, options_.epsilon));
  check_float_dtype(where, options_.dtype);
  // tf.contrib.layers.batch_norm creates beta, then gamma, then the moving statistics.
  if (options_.center) beta_ = register_parameter("beta", tapeflow::zeros({features_}, options_.dtype));
  if (options_.scale) gamma_ = register_parameter("gamma", tapeflow::ones({features_}, options_.dtype));
  moving_mean_ = register_buffer("moving_mean", tapeflow::zeros({features_}, options_.dtype));
  moving_variance_ = register_buffer("moving_variance", tapeflow::ones({features_}, options_.dtype));
}

std::string BatchNorm::extra_repr() const {
  std::string s = fmt::format("{}, decay={}, epsilon={}, center={}, scale={}", features_, options_.decay,
                              options_.epsilon, options_.center, options_.scale);
  if (options_.dtype != float32) s += fmt::format(", dtype={}", dtype_name(options_.dtype));
  return s;
}

Tensor BatchNorm::forward(const Tensor& input) {
  const auto where = [this] { return str_line(); };
  check_defined(where, input);
  const Shape& s = input.shape();
  if (s.rank() < 2 || (s[s.rank() - 1] != features_ && s[s.rank() - 1] != Shape::kUnknown))
    throw ShapeError(fmt::format("{}: expected an input [N,{}] or [N,H,W,{}] (channels last), got {}{}", where(),
                                 features_, features_, s.str(),
                                 s.rank() == 4 && s[1] == features_
                                     ? "; images must be channels last (NHWC): for NCHW input use "
                                       "transpose(x, {0, 2, 3, 1})"
                                     : ""));
  check_dtype(where, input, options_.dtype, "BatchNormOptions");
  return named(where, [&] {
    return batch_norm(input, gamma_, beta_, moving_mean_, moving_variance_, is_training(), options_.decay,
                      options_.epsilon);
  });
}

// ---------------------------------------------------------------------------------- Dropout

Dropout::Dropout(double keep_prob, DropoutOptions options) : keep_prob_(keep_prob), options_(options) {
  if (!(keep_prob_ > 0.0 && keep_prob_ <= 1.0))
    throw ValueError(fmt::format("{}: keep_prob must be in (0, 1], got {}; it is the probability of keeping an "
                                 "element (TensorFlow 1.x), not of dropping it",
                                 str_line(), keep_prob_));
}

std::string Dropout::extra_repr() const { return fmt::format("keep_prob={}", keep_prob_); }

Tensor Dropout::forward(const Tensor& input) {
  const auto where = [this] { return str_line(); };
  check_defined(where, input);
  if (!is_training()) return input;
  return named(where, [&] { return dropout(input, keep_prob_, options_.generator); });
}

// ---------------------------------------------------------------------------------- LayerNorm

LayerNorm::LayerNorm(std::vector<std::int64_t> normalized_shape, LayerNormOptions options)
    : shape_(std::move(normalized_shape)), options_(options) {
  const std::string where = str_line();
  if (shape_.empty()) throw ValueError(fmt::format("{}: normalized_shape must name at least one axis", where));
  for (std::int64_t d : shape_)
    if (d <= 0) throw ValueError(fmt::format("{}: normalized_shape must be positive, got {}", where, Shape(shape_).str()));
  if (!(options_.eps >= 0.0)) throw ValueError(fmt::format("{}: eps must be >= 0, got {}", where, options_.eps));
  check_float_dtype(where, options_.dtype);
  if (options_.elementwise_affine) {
    weight_ = register_parameter("weight", tapeflow::ones(Shape(shape_), options_.dtype));
    bias_ = register_parameter("bias", tapeflow::zeros(Shape(shape_), options_.dtype));
  }
}

std::string LayerNorm::extra_repr() const {
  std::string s = fmt::format("{}, eps={}", Shape(shape_).str(), options_.eps);
  if (!options_.elementwise_affine) s += ", elementwise_affine=false";
  if (options_.dtype != float32) s += fmt::format(", dtype={}", dtype_name(options_.dtype));
  return s;
}

Tensor LayerNorm::forward(const Tensor& input) {
  const auto where = [this] { return str_line(); };
  check_defined(where, input);
  const Shape& s = input.shape();
  const int n = static_cast<int>(shape_.size());
  bool ok = s.rank() >= n;
  for (int i = 0; ok && i < n; ++i) ok = s[s.rank() - n + i] == shape_[static_cast<std::size_t>(i)] ||
                                        s[s.rank() - n + i] == Shape::kUnknown;
  if (!ok)
    throw ShapeError(fmt::format("{}: expected an input [..., {}] ending in the normalised shape, got {}", where(),
                                 fmt::join(shape_, ", "), s.str()));
  check_dtype(where, input, options_.dtype, "LayerNormOptions");
  return named(where, [&] { return layer_norm(input, weight_, bias_, options_.eps, s.rank() - n); });
}

// ---------------------------------------------------------------------------------- Embedding

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, EmbeddingOptions options)
    : rows_(num_embeddings), dim_(embedding_dim), options_(options) {
  const std::string where = str_line();
  if (rows_ <= 0 || dim_ <= 0)
    throw ValueError(fmt::format("{}: num_embeddings and embedding_dim must be positive", where));
  check_float_dtype(where, options_.dtype);
  weight_ = register_parameter("weight", random_normal({rows_, dim_}, 0.0, 1.0, options_.dtype, options_.generator));
}

std::string Embedding::extra_repr() const {
  std::string s = fmt::format("{}, {}", rows_, dim_);
  if (options_.dtype != float32) s += fmt::format(", dtype={}", dtype_name(options_.dtype));
  return s;
}

Tensor Embedding::forward(const Tensor& ids) {
  const auto where = [this] { return str_line(); };
  check_defined(where, ids);
  if (ids.dtype() != int32 && ids.dtype() != int64)
    throw DTypeError(fmt::format("{}: the ids are {} {}; they must be int32 or int64 (cast(ids, int64))", where(),
                                 dtype_name(ids.dtype()), ids.shape().str()));
  return named(where, [&] { return embedding_lookup(weight_, ids); });
}

// ---------------------------------------------------------------------------------- Flatten

Tensor Flatten::forward(const Tensor& input) {
  const auto where = [this] { return str_line(); };
  check_defined(where, input);
  return named(where, [&] { return flatten(input); });
}

}  // namespace tapeflow::nn
