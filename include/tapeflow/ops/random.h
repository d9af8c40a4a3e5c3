#pragma once
/// Random tensors drawn from a Generator (tapeflow/generator.h; the default one when none is given).
#include <cstdint>

#include "tapeflow/generator.h"
#include "tapeflow/tensor.h"

namespace tapeflow {

/// Uniform in [minval, maxval).
Tensor random_uniform(const Shape& shape, double minval = 0.0, double maxval = 1.0, DType dtype = float32,
                      Generator* gen = nullptr);
/// Normal(mean, stddev).
Tensor random_normal(const Shape& shape, double mean = 0.0, double stddev = 1.0, DType dtype = float32,
                     Generator* gen = nullptr);
/// Normal(mean, stddev) redrawn until within two standard deviations of the mean (TensorFlow).
Tensor truncated_normal(const Shape& shape, double mean = 0.0, double stddev = 1.0, DType dtype = float32,
                        Generator* gen = nullptr);
/// A random permutation of 0..n-1 (int64).
Tensor random_permutation(std::int64_t n, Generator* gen = nullptr);

}  // namespace tapeflow
