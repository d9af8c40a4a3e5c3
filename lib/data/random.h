#pragma once
// Internal: the random draws of the data sets (shuffles, text windows), independent of the
// standard library's distributions, so that a seed gives the same draws on every platform.
#include <cstdint>
#include <random>

namespace tapeflow::detail {

/// A uniform draw from [0, bound) (bound >= 1), unbiased.
inline std::uint64_t uniform_below(std::mt19937_64& engine, std::uint64_t bound) {
  const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound: reject the short last stretch
  std::uint64_t r;
  do r = engine();
  while (r < threshold);
  return r % bound;
}

}  // namespace tapeflow::detail
