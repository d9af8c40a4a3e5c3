#pragma once
/// tf.nn.conv2d and tf.nn.bias_add (functional forms), NHWC layout, filters HWIO.
///
/// Strides (and the pools' window sizes, see pool.h) are given as `{h, w}`, or in TensorFlow's
/// 4-element form `{1, h, w, 1}` (the batch and channel entries must then be 1).
///
/// Padding follows TensorFlow's arithmetic along each spatial dimension, for an input of size
/// `in`, a window of size `k` and a stride `s`:
///   VALID: out = ceil((in - k + 1) / s), no padding (a window larger than the input is an error);
///   SAME:  out = ceil(in / s), pad_total = max((out - 1) * s + k - in, 0), of which
///          pad_total / 2 goes before (top/left) and the rest (one more when odd) after.
#include <array>
#include <cstdint>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow::nn {

/// TensorFlow's padding schemes for convolution and pooling ("SAME", "VALID").
enum class Padding { Same, Valid };

/// "SAME" or "VALID".
const char* padding_name(Padding padding);

/// Output length of a window op along one dimension (see the formulas above); -1 when `in` is
/// unknown (-1), or with VALID padding when `window` is (a graph-mode filter of unknown size).
/// `stride` must be positive, and `window` too when known.
std::int64_t window_output_size(std::int64_t in, std::int64_t window, std::int64_t stride, Padding padding);

/// 2-D convolution (cross-correlation, as tf.nn.conv2d):
///   input  [batch, in_height, in_width, in_channels]
///   filter [filter_height, filter_width, in_channels, out_channels]
///   -> [batch, out_height, out_width, out_channels],
///   out[n, i, j, o] = sum_{di, dj, c} input[n, i*sh + di - pad_top, j*sw + dj - pad_left, c]
///                                      * filter[di, dj, c, o]   (zero outside the input).
/// `strides` is {sh, sw} or {1, sh, sw, 1}. float32 or float64; both operands of one dtype.
/// Differentiable in both operands (lowered to GEMM: im2col patches x filter, NHWC throughout).
/// Graph mode: a "Conv2D" node; unknown dimensions propagate ([?,28,28,1] with a [5,5,1,32]
/// filter and SAME padding gives [?,28,28,32]).
Tensor conv2d(const Tensor& input, const Tensor& filter, const std::vector<int>& strides, Padding padding);

/// conv2d followed by bias_add: + bias [out_channels] on every output position, as one op whose
/// GEMM starts from the bias: TensorFlow's "_FusedConv2D" (its graph optimizer's fusion of Conv2D
/// and BiasAdd), also as the node in graph mode.
Tensor conv2d(const Tensor& input, const Tensor& filter, const Tensor& bias, const std::vector<int>& strides,
              Padding padding);

/// tf.nn.bias_add: value [..., C] (rank >= 2) + bias [C] on the last dimension -> [..., C].
/// The gradient of bias sums over every dimension but the last. Graph mode: a "BiasAdd" node.
Tensor bias_add(const Tensor& value, const Tensor& bias);

/// The padding before (top or left) along one dimension of a window op: 0 for VALID, pad_total / 2
/// for SAME (TensorFlow puts the odd element after); 0 when `in` or `window` is unknown.
std::int64_t window_pad_before(std::int64_t in, std::int64_t window, std::int64_t stride, Padding padding);

}  // namespace tapeflow::nn
