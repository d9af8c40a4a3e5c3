#include "tapeflow/nn/init.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "tapeflow/autograd.h"
#include "tapeflow/ops/elementwise.h"

namespace tapeflow::nn::init {

namespace {

// The standard deviation of a unit normal truncated to [-2, 2] (TensorFlow's constant).
constexpr double kTruncatedStddev = .87962566103423978;

void check_known(const char* fn, const Shape& shape) {
  if (!shape.is_fully_known())
    throw ShapeError(fmt::format("nn::init::{}: the shape {} has an unknown dimension; initializers need a "
                                 "fully known shape",
                                 fn, shape.str()));
  for (std::int64_t d : shape)
    if (d < 0) throw ShapeError(fmt::format("nn::init::{}: negative dimension in shape {}", fn, shape.str()));
}

void check_floating(const char* fn, DType dtype) {
  if (!is_floating(dtype))
    throw DTypeError(fmt::format("nn::init::{}: random initializers need a floating dtype (float32 or "
                                 "float64), got {}",
                                 fn, dtype_name(dtype)));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const char* mode_name(FanMode mode) {
  switch (mode) {
    case FanMode::FanIn: return "fan_in";
    case FanMode::FanOut: return "fan_out";
    case FanMode::FanAvg: return "fan_avg";
  }
  return "unknown";
}

// max(1, fan) for the mode (TensorFlow: scale /= max(1., n)).
double fan_for(const char* fn, const Shape& shape, FanMode mode) {
  Fans f = compute_fans(shape);
  double n = 0;
  switch (mode) {
    case FanMode::FanIn: n = static_cast<double>(f.fan_in); break;
    case FanMode::FanOut: n = static_cast<double>(f.fan_out); break;
    case FanMode::FanAvg: n = (static_cast<double>(f.fan_in) + static_cast<double>(f.fan_out)) / 2.0; break;
    default:
      throw ValueError(fmt::format("nn::init::{}: unknown fan mode {}; use FanMode::FanIn, FanOut or FanAvg", fn,
                                   static_cast<int>(mode)));
  }
  return std::max(1.0, n);
}

// Overwrites the data of `t` with `values` (same shape and dtype), off the tape.
void assign(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  Tensor handle = t;
  copy_(handle, values);
}

void check_defined(const char* fn, const Tensor& t) {
  if (!t.defined()) throw ValueError(fmt::format("nn::init::{}: the tensor is undefined", fn));
}

}  // namespace

Fans compute_fans(const Shape& shape) {
  check_known("compute_fans", shape);
  const int r = shape.rank();
  if (r == 0) return {1, 1};
  if (r == 1) return {shape[0], shape[0]};
  std::int64_t receptive_field = 1;
  for (int i = 0; i < r - 2; ++i) receptive_field *= shape[i];
  return {shape[r - 2] * receptive_field, shape[r - 1] * receptive_field};
}

FanMode parse_fan_mode(std::string_view mode) {
  std::string m = lower(mode);
  if (m == "fan_in") return FanMode::FanIn;
  if (m == "fan_out") return FanMode::FanOut;
  if (m == "fan_avg") return FanMode::FanAvg;
  throw ValueError(fmt::format("nn::init: unknown fan mode '{}'; expected one of 'fan_in', 'fan_out', 'fan_avg'",
                               mode));
}

Distribution parse_distribution(std::string_view distribution) {
  std::string d = lower(distribution);
  if (d == "truncated_normal" || d == "normal") return Distribution::TruncatedNormal;
  if (d == "untruncated_normal") return Distribution::UntruncatedNormal;
  if (d == "uniform") return Distribution::Uniform;
  throw ValueError(fmt::format("nn::init: unknown distribution '{}'; expected one of 'truncated_normal', "
                               "'normal', 'untruncated_normal', 'uniform'",
                               distribution));
}

// -------------------------------------------------------------------------- variance scaling

namespace {
// variance_scaling, with `fn` (the initializer the user called) in its messages.
Tensor scaled(const char* fn, const Shape& shape, VarianceScalingOptions options, DType dtype, Generator* gen) {
  check_known(fn, shape);
  check_floating(fn, dtype);
  if (!(options.scale > 0) || !std::isfinite(options.scale))
    throw ValueError(fmt::format("nn::init::{}: scale must be a positive number, got {}", fn, options.scale));
  const double n = fan_for(fn, shape, options.mode);
  const double scale = options.scale / n;
  switch (options.distribution) {
    case Distribution::TruncatedNormal:
      return tapeflow::truncated_normal(shape, 0.0, std::sqrt(scale) / kTruncatedStddev, dtype, gen);
    case Distribution::UntruncatedNormal:
      return tapeflow::random_normal(shape, 0.0, std::sqrt(scale), dtype, gen);
    case Distribution::Uniform: {
      const double limit = std::sqrt(3.0 * scale);
      return tapeflow::random_uniform(shape, -limit, limit, dtype, gen);
    }
  }
  throw ValueError(fmt::format("nn::init::{}: unknown distribution {}; use Distribution::TruncatedNormal, "
                               "UntruncatedNormal or Uniform (mode {})",
                               fn, static_cast<int>(options.distribution), mode_name(options.mode)));
}
}  // namespace

Tensor variance_scaling(const Shape& shape, VarianceScalingOptions options, DType dtype, Generator* gen) {
  return scaled("variance_scaling", shape, options, dtype, gen);
}

Tensor variance_scaling(const Shape& shape, double scale, std::string_view mode, std::string_view distribution,
                        DType dtype, Generator* gen) {
  return variance_scaling(shape, {scale, parse_fan_mode(mode), parse_distribution(distribution)}, dtype, gen);
}

Tensor contrib_variance_scaling(const Shape& shape, ContribVarianceScalingOptions options, DType dtype,
                                Generator* gen) {
  check_known("contrib_variance_scaling", shape);
  check_floating("contrib_variance_scaling", dtype);
  if (!(options.factor > 0) || !std::isfinite(options.factor))
    throw ValueError(fmt::format("nn::init::contrib_variance_scaling: factor must be a positive number, got {}",
                                 options.factor));
  const double n = fan_for("contrib_variance_scaling", shape, options.mode);
  if (options.uniform) {
    const double limit = std::sqrt(3.0 * options.factor / n);
    return tapeflow::random_uniform(shape, -limit, limit, dtype, gen);
  }
  return tapeflow::truncated_normal(shape, 0.0, std::sqrt(1.3 * options.factor / n), dtype, gen);
}

Tensor glorot_uniform(const Shape& shape, DType dtype, Generator* gen) {
  return scaled("glorot_uniform", shape, {1.0, FanMode::FanAvg, Distribution::Uniform}, dtype, gen);
}
Tensor glorot_normal(const Shape& shape, DType dtype, Generator* gen) {
  return scaled("glorot_normal", shape, {1.0, FanMode::FanAvg, Distribution::TruncatedNormal}, dtype, gen);
}
Tensor he_normal(const Shape& shape, DType dtype, Generator* gen) {
  return scaled("he_normal", shape, {2.0, FanMode::FanIn, Distribution::TruncatedNormal}, dtype, gen);
}
Tensor he_uniform(const Shape& shape, DType dtype, Generator* gen) {
  return scaled("he_uniform", shape, {2.0, FanMode::FanIn, Distribution::Uniform}, dtype, gen);
}
Tensor lecun_normal(const Shape& shape, DType dtype, Generator* gen) {
  return scaled("lecun_normal", shape, {1.0, FanMode::FanIn, Distribution::TruncatedNormal}, dtype, gen);
}
Tensor lecun_uniform(const Shape& shape, DType dtype, Generator* gen) {
  return scaled("lecun_uniform", shape, {1.0, FanMode::FanIn, Distribution::Uniform}, dtype, gen);
}

// ---------------------------------------------------------------------------------- in place

void zeros_(const Tensor& t) {
  check_defined("zeros_", t);
  assign(t, tapeflow::zeros(t.shape(), t.dtype()));
}
void ones_(const Tensor& t) {
  check_defined("ones_", t);
  assign(t, tapeflow::ones(t.shape(), t.dtype()));
}
void constant_(const Tensor& t, double value) {
  check_defined("constant_", t);
  assign(t, tapeflow::full(t.shape(), value, t.dtype()));
}
void random_normal_(const Tensor& t, double mean, double stddev, Generator* gen) {
  check_defined("random_normal_", t);
  assign(t, tapeflow::random_normal(t.shape(), mean, stddev, t.dtype(), gen));
}
void random_uniform_(const Tensor& t, double minval, double maxval, Generator* gen) {
  check_defined("random_uniform_", t);
  assign(t, tapeflow::random_uniform(t.shape(), minval, maxval, t.dtype(), gen));
}
void truncated_normal_(const Tensor& t, double mean, double stddev, Generator* gen) {
  check_defined("truncated_normal_", t);
  assign(t, tapeflow::truncated_normal(t.shape(), mean, stddev, t.dtype(), gen));
}
void variance_scaling_(const Tensor& t, VarianceScalingOptions options, Generator* gen) {
  check_defined("variance_scaling_", t);
  assign(t, init::variance_scaling(t.shape(), options, t.dtype(), gen));
}
void contrib_variance_scaling_(const Tensor& t, ContribVarianceScalingOptions options, Generator* gen) {
  check_defined("contrib_variance_scaling_", t);
  assign(t, init::contrib_variance_scaling(t.shape(), options, t.dtype(), gen));
}
void glorot_uniform_(const Tensor& t, Generator* gen) {
  check_defined("glorot_uniform_", t);
  assign(t, init::glorot_uniform(t.shape(), t.dtype(), gen));
}
void glorot_normal_(const Tensor& t, Generator* gen) {
  check_defined("glorot_normal_", t);
  assign(t, init::glorot_normal(t.shape(), t.dtype(), gen));
}
void he_normal_(const Tensor& t, Generator* gen) {
  check_defined("he_normal_", t);
  assign(t, init::he_normal(t.shape(), t.dtype(), gen));
}
void he_uniform_(const Tensor& t, Generator* gen) {
  check_defined("he_uniform_", t);
  assign(t, init::he_uniform(t.shape(), t.dtype(), gen));
}
void lecun_normal_(const Tensor& t, Generator* gen) {
  check_defined("lecun_normal_", t);
  assign(t, init::lecun_normal(t.shape(), t.dtype(), gen));
}
void lecun_uniform_(const Tensor& t, Generator* gen) {
  check_defined("lecun_uniform_", t);
  assign(t, init::lecun_uniform(t.shape(), t.dtype(), gen));
}

}  // namespace tapeflow::nn::init
