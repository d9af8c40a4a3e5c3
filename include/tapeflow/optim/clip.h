#pragma once
/// Gradient clipping by global norm (tf.clip_by_global_norm, torch.nn.utils.clip_grad_norm_).
#include <utility>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow::optim {

/// The global norm of a list of tensors: sqrt(sum of every element squared), in float64.
/// Undefined entries are skipped.
double global_norm(const std::vector<Tensor>& t_list);

/// TF's clip_by_global_norm: returns (t * clip_norm / max(global_norm, clip_norm) for each t, the
/// global norm before clipping). The results are new tensors (the inputs are untouched) with the
/// inputs' shapes and dtypes; undefined entries stay undefined. As in TF, when the global norm is
/// not finite every result is NaN. Recorded (differentiable, through the norm too) when an input
/// requires grad and grad mode is on. Throws ValueError unless clip_norm > 0.
std::pair<std::vector<Tensor>, double> clip_by_global_norm(const std::vector<Tensor>& t_list, double clip_norm);

/// torch's clip_grad_norm_: the global norm of the parameters' gradients (undefined ones skipped);
/// when max_norm / (norm + 1e-6) < 1, the gradients are scaled in place by that factor.
/// Returns the norm before clipping. Throws ValueError unless max_norm > 0.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);

}  // namespace tapeflow::optim
