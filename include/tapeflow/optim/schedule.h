#pragma once
/// Learning-rate schedules as plain functions of the step (tf.train.exponential_decay,
/// piecewise_constant, cosine_decay, polynomial_decay), and a linear warm-up in front of any of
/// them. Use with Optimizer::set_lr:
///   opt.set_lr(optim::exponential_decay(0.1, step, 1000, 0.96, /*staircase=*/true));
///   opt.set_lr(optim::cosine_decay(3e-4, step, 100000, /*alpha=*/0.1, /*warmup_steps=*/2000));
/// Graph mode has the same schedules as ops of the global step (tapeflow/graph/train.h).
#include <cstdint>
#include <functional>
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

/// tf.train.cosine_decay, after a linear warm-up of warmup_steps steps (tf.keras's CosineDecay
/// with warmup_steps and warmup_target = learning_rate, from zero):
///   step < warmup_steps:  learning_rate * step / warmup_steps             (0 up to the peak)
///   otherwise, with s = min(step - warmup_steps, decay_steps):
///     learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)
/// so the rate falls from learning_rate to alpha * learning_rate over the decay_steps steps after
/// the warm-up, then stays there. Without warm-up it is tf.train.cosine_decay exactly. Throws
/// ValueError when learning_rate is negative or not finite, global_step < 0, decay_steps <= 0,
/// alpha is outside [0, 1] or warmup_steps < 0.
double cosine_decay(double learning_rate, std::int64_t global_step, double decay_steps, double alpha = 0.0,
                    std::int64_t warmup_steps = 0);

/// tf.train.polynomial_decay (same defaults):
///   without cycle:  s = min(global_step, decay_steps), d = decay_steps
///   with cycle:     s = global_step, d = decay_steps * ceil(global_step / decay_steps) (at step 0,
///                   d = decay_steps): each cycle decays again, from a lower start, over a longer d
///   (learning_rate - end_learning_rate) * (1 - s / d) ^ power + end_learning_rate
/// power 1 is a linear decay to end_learning_rate, reached at decay_steps. Throws ValueError when
/// learning_rate or end_learning_rate is negative or not finite, global_step < 0, decay_steps <= 0
/// or power is not a finite number > 0.
double polynomial_decay(double learning_rate, std::int64_t global_step, double decay_steps,
                        double end_learning_rate = 0.0001, double power = 1.0, bool cycle = false);

/// A linear warm-up in front of any schedule of the step:
///   schedule(max(step - warmup_steps, 0)) * min(step / warmup_steps, 1)
/// so the rate climbs linearly from 0 to schedule(0) over warmup_steps steps, then follows the
/// schedule, started when the warm-up ends (with warmup_steps 0, the schedule itself):
///   opt.set_lr(optim::linear_warmup(step, 500, [](std::int64_t s) {
///     return optim::polynomial_decay(1e-3, s, 10000, 0.0);
///   }));
/// Throws ValueError when step < 0 or warmup_steps < 0 (and what the schedule throws).
double linear_warmup(std::int64_t step, std::int64_t warmup_steps,
                     const std::function<double(std::int64_t)>& schedule);

}  // namespace tapeflow::optim
