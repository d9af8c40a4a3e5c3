#pragma once
/// Learning-rate schedules as plain functions of the step (tf.train.exponential_decay,
/// tf.train.piecewise_constant). Use with Optimizer::set_lr:
///   opt.set_lr(optim::exponential_decay(0.1, step, 1000, 0.96, /*staircase=*/true));
#include <cstdint>
#include <vector>

namespace tapeflow::optim {

/// learning_rate * decay_rate ^ (global_step / decay_steps); with staircase the exponent is
/// floored, so the rate drops every decay_steps steps. Throws ValueError when learning_rate < 0,
/// global_step < 0, decay_steps <= 0 or decay_rate < 0.
double exponential_decay(double learning_rate, std::int64_t global_step, double decay_steps, double decay_rate,
                         bool staircase = false);

/// values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i],
/// values.back() after the last boundary. Throws ValueError unless values.size() ==
/// boundaries.size() + 1 and the boundaries increase strictly.
double piecewise_constant(std::int64_t step, const std::vector<std::int64_t>& boundaries,
                          const std::vector<double>& values);

}  // namespace tapeflow::optim
