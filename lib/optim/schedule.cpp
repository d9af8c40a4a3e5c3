#include "tapeflow/optim/schedule.h"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "optim/checks.h"
#include "tapeflow/error.h"

namespace tapeflow::optim {

double exponential_decay(double learning_rate, std::int64_t global_step, double decay_steps, double decay_rate,
                         bool staircase) {
  const std::string who = "exponential_decay";
  detail::check_lr(who, learning_rate);
  if (global_step < 0)
    throw ValueError(fmt::format("exponential_decay: invalid global_step: {} (must be >= 0)", global_step));
  detail::check_positive(who, "decay_steps", decay_steps);
  detail::check_non_negative(who, "decay_rate", decay_rate);
  double p = static_cast<double>(global_step) / decay_steps;
  if (staircase) p = std::floor(p);
  return learning_rate * std::pow(decay_rate, p);
}

double piecewise_constant(std::int64_t step, const std::vector<std::int64_t>& boundaries,
                          const std::vector<double>& values) {
  if (values.size() != boundaries.size() + 1)
    throw ValueError(fmt::format("piecewise_constant: got {} boundaries {} and {} values {}; there must be one "
                                 "value more than boundaries",
                                 boundaries.size(), boundaries, values.size(), values));
  for (std::size_t i = 1; i < boundaries.size(); ++i)
    if (boundaries[i] <= boundaries[i - 1])
      throw ValueError(fmt::format("piecewise_constant: boundaries {} must increase strictly, but boundaries[{}] = "
                                   "{} follows {}",
                                   boundaries, i, boundaries[i], boundaries[i - 1]));
  for (std::size_t i = 0; i < boundaries.size(); ++i)
    if (step <= boundaries[i]) return values[i];
  return values.back();
}

}  // namespace tapeflow::optim
