#pragma once
/// Generator: a seedable source of random bits (a 64-bit Mersenne Twister), used by the random
/// ops, dropout, the initializers and the data sets' shuffles.
#include <cstdint>
#include <random>

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

}  // namespace tapeflow
