#pragma once
/// nn::init: the initializers of TensorFlow 1.x (tf.*_initializer, tf.initializers.*, and
/// tf.contrib.layers.variance_scaling_initializer), with TensorFlow's defaults and formulas.
///
/// Each returns a new tensor of the given shape (a leaf that does not require grad); random ones
/// draw from `gen` (nullptr: the default generator, see manual_seed()), so the same seed gives the
/// same values. Each has an in-place variant with a trailing '_' that overwrites an existing
/// tensor (shape and dtype kept; not recorded on the tape), e.g. to re-initialise a Linear; so do
/// zeros_, ones_, constant_, random_normal_, random_uniform_ and truncated_normal_, the in-place
/// forms of tapeflow's factories:
///
///   tapeflow::nn::init::he_normal_(linear.weight());
///
/// Fans follow TensorFlow's _compute_fans (see compute_fans). Random initializers need a floating
/// dtype; invalid arguments (a negative stddev, minval >= maxval, a non-positive scale, an unknown
/// mode or distribution) are ValueErrors naming the initializer.
#include <cstdint>
#include <string_view>

#include "tapeflow/dtype.h"
#include "tapeflow/ops/random.h"
#include "tapeflow/shape.h"
#include "tapeflow/tensor.h"

namespace tapeflow::nn::init {

// ------------------------------------------------------------------------------------- fans

struct Fans {
  std::int64_t fan_in;
  std::int64_t fan_out;
};

/// TensorFlow's _compute_fans:
///   scalar []                -> fan_in = fan_out = 1
///   [n]                      -> fan_in = fan_out = n
///   [in, out] (dense)        -> fan_in = in, fan_out = out
///   [..., in, out] (conv)    -> the receptive field (product of the leading dims, h*w for a
///                               [h, w, in, out] kernel) multiplies both: in*h*w, out*h*w.
/// ShapeError when a dimension is unknown.
Fans compute_fans(const Shape& shape);

/// Which fan scales the variance: fan_in, fan_out, or their mean.
enum class FanMode { FanIn, FanOut, FanAvg };
/// How variance_scaling draws: a normal truncated at two standard deviations (TensorFlow's
/// "truncated_normal", also its "normal" in 1.x), a plain normal, or a uniform.
enum class Distribution { TruncatedNormal, UntruncatedNormal, Uniform };

/// "fan_in" / "fan_out" / "fan_avg", any case ("FAN_IN" as tf.contrib writes it); ValueError
/// listing the accepted names otherwise.
FanMode parse_fan_mode(std::string_view mode);
/// "truncated_normal", "normal" (= truncated_normal, as TF 1.x), "untruncated_normal", "uniform";
/// ValueError otherwise.
Distribution parse_distribution(std::string_view distribution);

// Constant and plain random values: tapeflow's factories (tapeflow::zeros, ones, full,
// random_normal, random_uniform, truncated_normal in tapeflow/ops/random.h) are TensorFlow's
// zeros, ones, constant, random_normal, random_uniform and truncated_normal initializers; the
// in-place forms below use them.

// ------------------------------------------------------------------------ variance scaling

struct VarianceScalingOptions {
  /// > 0
  double scale = 1.0;
  FanMode mode = FanMode::FanIn;
  Distribution distribution = Distribution::TruncatedNormal;
};

/// tf.variance_scaling_initializer (TF 1.x): with n = max(1, fan) for the chosen mode
/// (fan_avg = (fan_in + fan_out) / 2),
///   truncated_normal:   truncated normal, stddev = sqrt(scale / n) / 0.87962566103423978
///                       (so the drawn values have standard deviation sqrt(scale / n));
///   untruncated_normal: normal, stddev = sqrt(scale / n);
///   uniform:            U(-limit, limit), limit = sqrt(3 * scale / n).
Tensor variance_scaling(const Shape& shape, VarianceScalingOptions options = {}, DType dtype = float32,
                        Generator* gen = nullptr);
/// The same with TensorFlow's string arguments: variance_scaling(shape, 2.0, "fan_in", "uniform").
Tensor variance_scaling(const Shape& shape, double scale, std::string_view mode, std::string_view distribution,
                        DType dtype = float32, Generator* gen = nullptr);

struct ContribVarianceScalingOptions {
  /// > 0
  double factor = 2.0;
  FanMode mode = FanMode::FanIn;
  bool uniform = false;
};

/// tf.contrib.layers.variance_scaling_initializer(factor=2.0, mode='FAN_IN', uniform=False), the
/// He et al. initializer of TF 1.x's contrib layers: with n = max(1, fan) for the mode,
///   uniform:   U(-limit, limit), limit = sqrt(3 * factor / n);
///   otherwise: truncated normal with stddev = sqrt(1.3 * factor / n) (contrib's constant 1.3).
Tensor contrib_variance_scaling(const Shape& shape, ContribVarianceScalingOptions options = {},
                                DType dtype = float32, Generator* gen = nullptr);

/// tf.glorot_uniform_initializer (Glorot & Bengio): U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
/// variance_scaling with scale 1, fan_avg, uniform.
Tensor glorot_uniform(const Shape& shape, DType dtype = float32, Generator* gen = nullptr);
/// tf.glorot_normal_initializer: truncated normal, stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796...
/// variance_scaling with scale 1, fan_avg, truncated_normal.
Tensor glorot_normal(const Shape& shape, DType dtype = float32, Generator* gen = nullptr);
/// Aliases of glorot_uniform / glorot_normal (tf.contrib.layers.xavier_initializer's names).
inline Tensor xavier_uniform(const Shape& shape, DType dtype = float32, Generator* gen = nullptr) {
  return glorot_uniform(shape, dtype, gen);
}
inline Tensor xavier_normal(const Shape& shape, DType dtype = float32, Generator* gen = nullptr) {
  return glorot_normal(shape, dtype, gen);
}
/// tf.initializers.he_normal (He et al.): truncated normal, stddev = sqrt(2 / fan_in) / 0.8796...
/// variance_scaling with scale 2, fan_in, truncated_normal.
Tensor he_normal(const Shape& shape, DType dtype = float32, Generator* gen = nullptr);
/// tf.initializers.he_uniform: U(-l, l), l = sqrt(6 / fan_in). Scale 2, fan_in, uniform.
Tensor he_uniform(const Shape& shape, DType dtype = float32, Generator* gen = nullptr);
/// tf.initializers.lecun_normal: truncated normal, stddev = sqrt(1 / fan_in) / 0.8796...
Tensor lecun_normal(const Shape& shape, DType dtype = float32, Generator* gen = nullptr);
/// tf.initializers.lecun_uniform: U(-l, l), l = sqrt(3 / fan_in).
Tensor lecun_uniform(const Shape& shape, DType dtype = float32, Generator* gen = nullptr);

// ------------------------------------------------------------------------------ in place
// Each overwrites the data of `t` (a handle: every copy of it sees the new values; shape and dtype
// kept) with what the function above returns for t.shape() and t.dtype(). Not recorded on the
// tape: do it before using t in a computation.

void zeros_(const Tensor& t);
void ones_(const Tensor& t);
void constant_(const Tensor& t, double value);
void random_normal_(const Tensor& t, double mean = 0.0, double stddev = 1.0, Generator* gen = nullptr);
void random_uniform_(const Tensor& t, double minval = 0.0, double maxval = 1.0, Generator* gen = nullptr);
void truncated_normal_(const Tensor& t, double mean = 0.0, double stddev = 1.0, Generator* gen = nullptr);
void variance_scaling_(const Tensor& t, VarianceScalingOptions options = {}, Generator* gen = nullptr);
void contrib_variance_scaling_(const Tensor& t, ContribVarianceScalingOptions options = {}, Generator* gen = nullptr);
void glorot_uniform_(const Tensor& t, Generator* gen = nullptr);
void glorot_normal_(const Tensor& t, Generator* gen = nullptr);
inline void xavier_uniform_(const Tensor& t, Generator* gen = nullptr) { glorot_uniform_(t, gen); }
inline void xavier_normal_(const Tensor& t, Generator* gen = nullptr) { glorot_normal_(t, gen); }
void he_normal_(const Tensor& t, Generator* gen = nullptr);
void he_uniform_(const Tensor& t, Generator* gen = nullptr);
void lecun_normal_(const Tensor& t, Generator* gen = nullptr);
void lecun_uniform_(const Tensor& t, Generator* gen = nullptr);

}  // namespace tapeflow::nn::init
