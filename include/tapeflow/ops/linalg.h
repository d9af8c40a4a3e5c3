#pragma once
#include "tapeflow/tensor.h"

namespace tapeflow {

/// [M,K] x [K,N] -> [M,N]; batched [...,M,K] x [...,K,N] -> [...,M,N] with equal batch dims.
/// transpose_a / transpose_b use the transposes of the last two dims.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

}  // namespace tapeflow
