#pragma once
// Internal: what the ops that fuse a bias (and maybe a ReLU) into their GEMM share with bias_add
// and relu (conv2d with a bias, xw_plus_b, relu_layer): the bias gradient, and the fused ops.
#include <cstdint>
#include <span>
#include <vector>

#include "ops/grads.h"
#include "ops/kernels.h"
#include "tapeflow/autograd.h"
#include "tapeflow/nn/conv.h"
#include "tapeflow/tensor.h"

namespace tapeflow::nn::detail {

/// d_bias [channels] = the sum of g, viewed as [rows, channels], over its rows. Summed in blocks
/// of rows in an order that does not depend on the number of threads.
Tensor bias_grad(const Tensor& g, std::int64_t channels);

/// The element-wise ops a GEMM's epilogue applies after its product (TensorFlow's fused_ops
/// attribute of _FusedMatMul and _FusedConv2D): a bias, or a bias then a ReLU.
enum class Fused { bias, bias_relu };

/// The fused_ops attribute.
inline std::span<const char* const> fused_ops(Fused fused) {
  static constexpr const char* kBias[] = {"BiasAdd"};
  static constexpr const char* kBiasRelu[] = {"BiasAdd", "Relu"};
  if (fused == Fused::bias_relu) return kBiasRelu;
  return kBias;
}

inline tapeflow::detail::Epilogue epilogue(Fused fused) {
  return fused == Fused::bias_relu ? tapeflow::detail::Epilogue::relu : tapeflow::detail::Epilogue::none;
}

/// What the backward of an op with these fused ops keeps of its output y: y with a fused ReLU
/// (whose gradient reads it), nothing without one.
inline autograd::SavedTensor save_for_fused(Fused fused, const Tensor& y) {
  return fused == Fused::bias_relu ? autograd::save_output(y) : autograd::SavedTensor();
}

/// The gradient at the op's output taken back through its fused ReLU (where the output `saved`
/// by save_for_fused is > 0), to where the bias was added; dout itself without one.
inline Tensor through_fused(const autograd::SavedTensor& saved, const Tensor& dout) {
  return saved.defined() ? tapeflow::detail::relu_grad(dout, autograd::saved_output(saved)) : dout;
}

/// conv2d(input, filter, bias, strides, padding) with the fused ops given (_FusedConv2D): with
/// Fused::bias_relu, relu of it as one op (Conv2dOptions::relu).
Tensor conv2d_fused(const Tensor& input, const Tensor& filter, const Tensor& bias, const std::vector<int>& strides,
                    Padding padding, Fused fused);

}  // namespace tapeflow::nn::detail
