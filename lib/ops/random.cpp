#include "tapeflow/ops/random.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/dispatch.h"

namespace tapeflow {

namespace {

template <class Draw>
Tensor fill_random(const char* op, const Shape& shape, DType dtype, Draw draw) {
  if (!is_floating(dtype))
    throw DTypeError(fmt::format("{}: random values need a floating dtype (float32 or float64), got {}", op,
                                 dtype_name(dtype)));
  if (!shape.is_fully_known())
    throw ShapeError(fmt::format("{}: the shape {} has an unknown dimension; a tensor's shape must be fully known",
                                 op, shape.str()));
  Tensor t = Tensor::empty(shape, dtype);
  detail::visit_floating(op, t, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0, end = t.numel(); i < end; ++i) p[i] = static_cast<T>(draw());
  });
  return t;
}

void check_stddev(const char* op, double stddev) {
  if (!(stddev >= 0) || !std::isfinite(stddev))
    throw ValueError(fmt::format("{}: stddev must be a finite number >= 0, got {}", op, stddev));
}

}  // namespace

Tensor random_uniform(const Shape& shape, double minval, double maxval, DType dtype, Generator* gen) {
  if (!(minval < maxval) || !std::isfinite(minval) || !std::isfinite(maxval))
    throw ValueError(fmt::format("random_uniform: need finite minval < maxval, got minval {} and maxval {}", minval,
                                 maxval));
  auto& e = (gen ? *gen : default_generator()).engine();
  std::uniform_real_distribution<double> d(minval, maxval);
  return fill_random("random_uniform", shape, dtype, [&] { return d(e); });
}

Tensor random_normal(const Shape& shape, double mean, double stddev, DType dtype, Generator* gen) {
  check_stddev("random_normal", stddev);
  auto& e = (gen ? *gen : default_generator()).engine();
  std::normal_distribution<double> d(mean, stddev);
  return fill_random("random_normal", shape, dtype, [&] { return d(e); });
}

Tensor truncated_normal(const Shape& shape, double mean, double stddev, DType dtype, Generator* gen) {
  check_stddev("truncated_normal", stddev);
  auto& e = (gen ? *gen : default_generator()).engine();
  std::normal_distribution<double> d(0.0, 1.0);
  return fill_random("truncated_normal", shape, dtype, [&] {
    double z;
    do z = d(e);
    while (z < -2.0 || z > 2.0);
    return mean + stddev * z;
  });
}

Tensor random_permutation(std::int64_t n, Generator* gen) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  auto& e = (gen ? *gen : default_generator()).engine();
  std::shuffle(idx.begin(), idx.end(), e);
  return from_vector(idx);
}

}  // namespace tapeflow
