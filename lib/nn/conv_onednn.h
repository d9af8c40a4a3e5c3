#pragma once
// Internal: conv2d's float kernels in oneDNN's convolution primitives, which conv.cpp calls first
// and falls back from to its own im2col + GEMM.
#include <compare>
#include <cstdint>

#include "ops/kernels.h"

namespace tapeflow::nn::detail {

/// A convolution's sizes: input [n, h, w, c] (NHWC), filter [kh, kw, c, oc] (HWIO), strides
/// (sh, sw), output [n, oh, ow, oc], and the padding before the first row and column.
struct ConvSizes {
  std::int64_t n, h, w, c;
  std::int64_t kh, kw, oc;
  std::int64_t sh, sw;
  std::int64_t oh, ow;
  std::int64_t pad_top, pad_left;

  /// The values of one image of the input, and of the output.
  std::int64_t input_image() const { return h * w * c; }
  std::int64_t output_image() const { return oh * ow * oc; }

  auto operator<=>(const ConvSizes&) const = default;

  /// Whether the patches (im2col's [n*oh*ow, kh*kw*c]) are the input itself, so that the
  /// convolution is one matrix product: a 1x1 filter with stride 1 reads each input position
  /// once, in order; a filter as large as the unpadded input (a fully-connected layer written as
  /// a convolution, as in fully-convolutional nets) reads each image whole, in order, once.
  bool patches_are_input() const {
    return (kh == 1 && kw == 1 && sh == 1 && sw == 1) ||
           (kh == h && kw == w && oh == 1 && ow == 1 && pad_top == 0 && pad_left == 0);
  }
};

/// Each computes its part of the convolution with oneDNN and returns true, or returns false
/// having done nothing where oneDNN is not used for these sizes: a build without oneDNN,
/// TAPEFLOW_GEMM=eigen (one switch for both kernel libraries), fewer images than the machine has
/// cores, sizes where oneDNN was measured slower, or no oneDNN implementation for them.
///
/// y [n, oh, ow, oc] = conv(x, f) (+ bias, when not null), then the epilogue.
bool onednn_conv_forward(const ConvSizes& s, const float* x, const float* f, const float* bias, float* y,
                         tapeflow::detail::Epilogue epilogue);
/// dx [n, h, w, c] = the input's gradient for dy [n, oh, ow, oc] (dx overwritten).
bool onednn_conv_input_grad(const ConvSizes& s, const float* dy, const float* f, float* dx);
/// df [kh, kw, c, oc] = the filter's gradient for dy (df overwritten).
bool onednn_conv_filter_grad(const ConvSizes& s, const float* x, const float* dy, float* df);

}  // namespace tapeflow::nn::detail
