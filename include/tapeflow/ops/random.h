#pragma once
/// Random numbers from a seedable Generator (a 64-bit Mersenne Twister).
#include <cstdint>
#include <memory>
#include <random>

#include "tapeflow/tensor.h"

namespace tapeflow {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 5489u) : engine_(seed) {}
  void manual_seed(std::uint64_t seed) { engine_.seed(seed); }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

/// The process-wide generator used when none is given.
Generator& default_generator();
/// Reseeds the default generator (torch.manual_seed / tf.set_random_seed).
void manual_seed(std::uint64_t seed);

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
