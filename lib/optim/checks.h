#pragma once
// Internal: the argument checks and slot helpers shared by the eager optimizers (lib/optim), the
// schedules and graph mode's optimizers (lib/graph/train.cpp). Defined in optimizer.cpp.
#include <algorithm>
#include <cstdint>
#include <string>

#include "tapeflow/tensor.h"

namespace tapeflow::optim::detail {

/// ValueError "<who>: invalid learning rate: <lr> (must be a finite number >= 0)" unless so.
void check_lr(const std::string& who, double lr);
/// ValueError "<who>: invalid <what>: <value> (must be a finite number >= 0)" unless so.
void check_finite_non_negative(const std::string& who, const char* what, double value);
/// ValueError "<who>: invalid <what>: <value> (must be >= 0)" unless value >= 0.
void check_non_negative(const std::string& who, const char* what, double value);
/// ValueError "<who>: invalid <what>: <value> (must be in [0, 1))" unless 0 <= value < 1.
void check_unit_interval(const std::string& who, const char* what, double value);
/// ValueError "<who>: invalid <what>: <value> (must be > 0)" unless value > 0.
void check_positive(const std::string& who, const char* what, double value);
/// ValueError "<who>: invalid <what>: <value> (must be >= 0)" for a negative step or step count.
void check_step(const std::string& who, const char* what, std::int64_t value);

/// The argument checks of the schedules, shared by the eager functions (schedule.h) and graph
/// mode's schedule ops (train.h); `who` names the function in the messages.
void check_cosine_decay(const std::string& who, double learning_rate, double decay_steps, double alpha,
                        std::int64_t warmup_steps);
void check_polynomial_decay(const std::string& who, double learning_rate, double decay_steps,
                            double end_learning_rate, double power);

/// Begins an update function (`op` is its name): checks its arguments (var defined and floating
/// point, grad defined with var's shape, else ShapeError, and dtype, else DTypeError) and bumps
/// var's version, since the update changes it in place.
void begin_update(const char* op, const Tensor& var, const Tensor& grad);
/// grad + weight_decay * var as a new tensor (or grad itself when weight_decay is 0); no record.
Tensor decayed_grad(const Tensor& var, const Tensor& grad, double weight_decay);
/// Makes an undefined slot `value`-filled with var's shape and dtype; a defined one must match
/// var's shape (else ShapeError) and dtype (else DTypeError), and its version moves (the update
/// changes it in place).
void ensure_slot(const char* op, const char* slot_name, Tensor& slot, const Tensor& var, double value);

/// Calls f(b, n) for consecutive blocks [b, b + n) of [begin, begin + length), n <= 1024: small
/// enough for the arrays of an update (var, grad and the slots) to stay in the L1 cache across
/// its statements, so that the update makes one pass over memory, not one per statement.
template <class F>
void for_each_cache_block(std::int64_t begin, std::int64_t length, F&& f) {
  constexpr std::int64_t kBlock = 1024;
  for (std::int64_t b = begin; b < begin + length; b += kBlock) f(b, std::min(kBlock, begin + length - b));
}

}  // namespace tapeflow::optim::detail
