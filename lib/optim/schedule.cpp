#include "tapeflow/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "optim/checks.h"
#include "tapeflow/error.h"

namespace tapeflow::optim {

namespace detail {

void check_cosine_decay(const std::string& who, double learning_rate, double decay_steps, double alpha,
                        std::int64_t warmup_steps) {
  check_lr(who, learning_rate);
  check_positive(who, "decay_steps", decay_steps);
  if (!(alpha >= 0.0 && alpha <= 1.0))
    throw ValueError(fmt::format("{}: invalid alpha: {} (must be in [0, 1]: the final rate as a fraction of "
                                 "learning_rate)",
                                 who, alpha));
  check_step(who, "warmup_steps", warmup_steps);
}

void check_polynomial_decay(const std::string& who, double learning_rate, double decay_steps,
                            double end_learning_rate, double power) {
  check_lr(who, learning_rate);
  check_positive(who, "decay_steps", decay_steps);
  check_finite_non_negative(who, "end_learning_rate", end_learning_rate);
  if (!(power > 0.0) || !std::isfinite(power))
    throw ValueError(fmt::format("{}: invalid power: {} (must be a finite number > 0; 1 decays linearly)", who,
                                 power));
}

}  // namespace detail

double exponential_decay(double learning_rate, std::int64_t global_step, double decay_steps, double decay_rate,
                         bool staircase) {
  const std::string who = "exponential_decay";
  detail::check_lr(who, learning_rate);
  detail::check_step(who, "global_step", global_step);
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

double cosine_decay(double learning_rate, std::int64_t global_step, double decay_steps, double alpha,
                    std::int64_t warmup_steps) {
  const std::string who = "cosine_decay";
  detail::check_cosine_decay(who, learning_rate, decay_steps, alpha, warmup_steps);
  detail::check_step(who, "global_step", global_step);
  return linear_warmup(global_step, warmup_steps, [&](std::int64_t step) {
    // tf.train.cosine_decay
    const double completed_fraction = std::min(static_cast<double>(step), decay_steps) / decay_steps;
    const double cosine_decayed = 0.5 * (1.0 + std::cos(std::numbers::pi * completed_fraction));
    return learning_rate * ((1.0 - alpha) * cosine_decayed + alpha);
  });
}

double polynomial_decay(double learning_rate, std::int64_t global_step, double decay_steps, double end_learning_rate,
                        double power, bool cycle) {
  const std::string who = "polynomial_decay";
  detail::check_polynomial_decay(who, learning_rate, decay_steps, end_learning_rate, power);
  detail::check_step(who, "global_step", global_step);
  double step = static_cast<double>(global_step);
  if (cycle) {
    // The first multiple of decay_steps at or above the step (one at step 0), as TensorFlow.
    if (global_step > 0) decay_steps *= std::ceil(step / decay_steps);
  } else {
    step = std::min(step, decay_steps);
  }
  return (learning_rate - end_learning_rate) * std::pow(1.0 - step / decay_steps, power) + end_learning_rate;
}

double linear_warmup(std::int64_t step, std::int64_t warmup_steps,
                     const std::function<double(std::int64_t)>& schedule) {
  const std::string who = "linear_warmup";
  detail::check_step(who, "step", step);
  detail::check_step(who, "warmup_steps", warmup_steps);
  if (!schedule) throw ValueError("linear_warmup: the schedule is empty; pass a function of the step");
  if (step >= warmup_steps) return schedule(step - warmup_steps);
  return schedule(0) * (static_cast<double>(step) / static_cast<double>(warmup_steps));
}

}  // namespace tapeflow::optim
