#pragma once
// Internal: the bias gradient shared by bias_add and the ops that fuse a bias into their GEMM
// (conv2d with a bias, xw_plus_b).
#include <cstdint>

#include "tapeflow/tensor.h"

namespace tapeflow::nn::detail {

/// d_bias [channels] = the sum of g, viewed as [rows, channels], over its rows. Summed in blocks
/// of rows in an order that does not depend on the number of threads.
Tensor bias_grad(const Tensor& g, std::int64_t channels);

}  // namespace tapeflow::nn::detail
