#include "tapeflow/ops/random.h"

#include <algorithm>
#include <numeric>

#include "core/dispatch.h"

namespace tapeflow {

namespace {
template <class Draw>
Tensor fill_random(const char* op, const Shape& shape, DType dtype, Draw draw) {
  Tensor t = Tensor::empty(shape, dtype);
  detail::visit_floating(op, t, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0, end = t.numel(); i < end; ++i) p[i] = static_cast<T>(draw());
  });
  return t;
}
}  // namespace

Tensor random_uniform(const Shape& shape, double minval, double maxval, DType dtype, Generator* gen) {
  if (!(minval < maxval))
    throw ValueError(fmt::format("random_uniform: minval {} must be less than maxval {}", minval, maxval));
  auto& e = (gen ? *gen : default_generator()).engine();
  std::uniform_real_distribution<double> d(minval, maxval);
  return fill_random("random_uniform", shape, dtype, [&] { return d(e); });
}

Tensor random_normal(const Shape& shape, double mean, double stddev, DType dtype, Generator* gen) {
  if (!(stddev >= 0)) throw ValueError(fmt::format("random_normal: stddev must be >= 0, got {}", stddev));
  auto& e = (gen ? *gen : default_generator()).engine();
  std::normal_distribution<double> d(mean, stddev);
  return fill_random("random_normal", shape, dtype, [&] { return d(e); });
}

Tensor truncated_normal(const Shape& shape, double mean, double stddev, DType dtype, Generator* gen) {
  if (!(stddev >= 0)) throw ValueError(fmt::format("truncated_normal: stddev must be >= 0, got {}", stddev));
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
