#pragma once
/// tf.nn.max_pool and tf.nn.avg_pool (functional forms), NHWC layout.
///
/// `ksize` and `strides` are {h, w} or TensorFlow's {1, h, w, 1}, as conv2d's strides; padding
/// (SAME/VALID) follows TensorFlow's arithmetic, see conv.h. With VALID padding a window larger
/// than the input is a ShapeError. float32 or float64. Graph mode: a "MaxPool" / "AvgPool" node;
/// unknown dimensions propagate ([?,28,28,32] pooled 2x2, stride 2, gives [?,14,14,32]).
#include <vector>

#include "tapeflow/nn/conv.h"  // Padding
#include "tapeflow/tensor.h"

namespace tapeflow::nn {

/// value [batch, height, width, channels] -> [batch, out_height, out_width, channels]: the
/// largest value of each window, per channel. Padded positions never win (they count as -inf).
/// Gradient: each output's gradient goes to the position of its window's maximum (the first one,
/// in row-major window order, on ties, as TensorFlow).
Tensor max_pool(const Tensor& value, const std::vector<int>& ksize, const std::vector<int>& strides,
                Padding padding);

/// value [batch, height, width, channels] -> [batch, out_height, out_width, channels]: the mean
/// of each window, per channel, over the positions inside the input only (with SAME padding an
/// edge window divides by fewer than kh*kw elements, as TensorFlow). Gradient: each output's
/// gradient divided by its window's count, spread over that window.
Tensor avg_pool(const Tensor& value, const std::vector<int>& ksize, const std::vector<int>& strides,
                Padding padding);

}  // namespace tapeflow::nn
