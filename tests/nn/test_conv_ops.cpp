// conv2d and bias_add: values against hand-computed / numpy numbers, against a direct convolution
// on random data, gradchecks over many geometries, and the error messages.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "helpers.h"
#include "onednn_kernels.h"
#include "nn/bias.h"
#include "nn/conv_onednn.h"
#include "ops/kernels.h"
#include "tapeflow/nn/conv.h"

using namespace tapeflow;
using nn::Padding;

namespace {

/// The 3x3 image 1..9 as [1,3,3,1] and the 2x2 filter 1..4 as [2,2,1,1] (float64).
Tensor image3x3() { return reshape(arange(1, 10, 1, float64), {1, 3, 3, 1}); }
Tensor filter2x2() { return reshape(arange(1, 5, 1, float64), {2, 2, 1, 1}); }

/// out[n,i,j,o] = sum x[n, i*sh+di-pt, j*sw+dj-pl, c] * f[di,dj,c,o], by the definition, with
/// TensorFlow's padding arithmetic written out here independently of the library.
std::vector<double> direct_conv(const Tensor& x, const Tensor& f, int sh, int sw, Padding padding, Shape* out_shape) {
  const std::int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  const std::int64_t KH = f.dim(0), KW = f.dim(1), OC = f.dim(3);
  std::int64_t OH, OW, pt = 0, pl = 0;
  if (padding == Padding::Same) {
    OH = (H + sh - 1) / sh;
    OW = (W + sw - 1) / sw;
    pt = std::max<std::int64_t>((OH - 1) * sh + KH - H, 0) / 2;
    pl = std::max<std::int64_t>((OW - 1) * sw + KW - W, 0) / 2;
  } else {
    OH = (H - KH + sh) / sh;  // ceil((H - KH + 1) / sh)
    OW = (W - KW + sw) / sw;
  }
  *out_shape = Shape{N, OH, OW, OC};
  std::vector<double> xv = x.to_vector<double>(), fv = f.to_vector<double>(), y;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t i = 0; i < OH; ++i)
      for (std::int64_t j = 0; j < OW; ++j)
        for (std::int64_t o = 0; o < OC; ++o) {
          double s = 0;
          for (std::int64_t di = 0; di < KH; ++di)
            for (std::int64_t dj = 0; dj < KW; ++dj) {
              const std::int64_t ih = i * sh + di - pt, iw = j * sw + dj - pl;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              for (std::int64_t c = 0; c < C; ++c)
                s += xv[static_cast<std::size_t>(((n * H + ih) * W + iw) * C + c)] *
                     fv[static_cast<std::size_t>(((di * KW + dj) * C + c) * OC + o)];
            }
          y.push_back(s);
        }
  return y;
}

/// d sum(dout * conv(x, f)) / dx and / df, by the definitions:
///   dx[n, ih, iw, c] = sum over (i, j, di, dj) reading (ih, iw) of dout[n, i, j, o] * f[di, dj, c, o]
///   df[di, dj, c, o] = sum over (n, i, j) of x[n, i*sh+di-pt, j*sw+dj-pl, c] * dout[n, i, j, o].
void direct_conv_grads(const Tensor& x, const Tensor& f, const Tensor& dout, int sh, int sw, Padding padding,
                       std::vector<double>* dx, std::vector<double>* df) {
  const std::int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  const std::int64_t KH = f.dim(0), KW = f.dim(1), OC = f.dim(3), OH = dout.dim(1), OW = dout.dim(2);
  std::int64_t pt = 0, pl = 0;
  if (padding == Padding::Same) {
    pt = std::max<std::int64_t>((OH - 1) * sh + KH - H, 0) / 2;
    pl = std::max<std::int64_t>((OW - 1) * sw + KW - W, 0) / 2;
  }
  std::vector<double> xv = x.to_vector<double>(), fv = f.to_vector<double>(), gv = dout.to_vector<double>();
  dx->assign(xv.size(), 0.0);
  df->assign(fv.size(), 0.0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t i = 0; i < OH; ++i)
      for (std::int64_t j = 0; j < OW; ++j)
        for (std::int64_t di = 0; di < KH; ++di)
          for (std::int64_t dj = 0; dj < KW; ++dj) {
            const std::int64_t ih = i * sh + di - pt, iw = j * sw + dj - pl;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            for (std::int64_t c = 0; c < C; ++c) {
              const auto xi = static_cast<std::size_t>(((n * H + ih) * W + iw) * C + c);
              for (std::int64_t o = 0; o < OC; ++o) {
                const auto fi = static_cast<std::size_t>(((di * KW + dj) * C + c) * OC + o);
                const double g = gv[static_cast<std::size_t>(((n * OH + i) * OW + j) * OC + o)];
                (*dx)[xi] += g * fv[fi];
                (*df)[fi] += g * xv[xi];
              }
            }
          }
}

/// One convolution geometry: input [n,h,w,c], filter [kh,kw,c,oc], strides, padding.
struct Case {
  std::int64_t n, h, w, c, kh, kw, oc;
  int sh, sw;
  Padding padding;
};

const std::vector<Case>& geometries() {
  static const std::vector<Case> cases{
      {1, 1, 1, 1, 1, 1, 1, 1, 1, Padding::Same},    // 1x1 everything
      {1, 3, 3, 1, 1, 1, 1, 1, 1, Padding::Valid},   // 1x1 filter: the patches are the input
      {2, 4, 3, 3, 1, 1, 4, 1, 1, Padding::Same},    // 1x1, several channels, batch 2
      {2, 4, 4, 3, 1, 1, 2, 2, 2, Padding::Same},    // 1x1 with stride 2 (goes through im2col)
      {2, 5, 5, 2, 3, 3, 3, 1, 1, Padding::Same},    // 3x3 SAME, odd size
      {2, 6, 6, 3, 3, 3, 2, 2, 2, Padding::Same},    // 3x3 SAME stride 2, even size
      {2, 7, 7, 2, 3, 3, 2, 2, 2, Padding::Valid},   // 3x3 VALID stride 2, odd size
      {1, 6, 5, 1, 2, 2, 3, 2, 2, Padding::Valid},   // even filter
      {1, 4, 4, 1, 2, 2, 1, 1, 1, Padding::Same},    // even filter SAME: the extra pad goes after
      {1, 7, 6, 2, 5, 5, 2, 1, 1, Padding::Same},    // 5x5 SAME
      {2, 6, 7, 1, 5, 5, 3, 1, 1, Padding::Valid},   // 5x5 VALID
      {1, 5, 5, 2, 4, 2, 2, 2, 1, Padding::Same},    // rectangular filter, different strides
      {1, 2, 2, 1, 3, 3, 2, 1, 1, Padding::Same},    // filter larger than the input (SAME)
      {1, 8, 8, 2, 3, 3, 2, 3, 3, Padding::Same},    // stride 3
      // Filter rows of 16 values or more (kw * in_channels) take the other patch layout:
      {2, 5, 5, 6, 3, 3, 2, 1, 1, Padding::Same},    // 3x3 SAME, odd size
      {1, 6, 6, 8, 2, 2, 3, 2, 2, Padding::Valid},   // even filter, stride 2
      {2, 6, 6, 6, 3, 3, 2, 2, 2, Padding::Same},    // SAME stride 2, even size
      {1, 7, 6, 4, 5, 5, 2, 2, 2, Padding::Same},    // 5x5 SAME stride 2
      {1, 7, 7, 4, 5, 5, 2, 1, 1, Padding::Valid},   // 5x5 VALID
      {1, 3, 4, 17, 1, 1, 2, 1, 1, Padding::Same},   // 1x1 stride 1 with many channels
      {1, 5, 5, 16, 1, 1, 2, 2, 2, Padding::Same},   // 1x1 stride 2 with many channels
      {1, 4, 3, 6, 3, 3, 2, 1, 1, Padding::Same},    // filter wider than the input (SAME)
      // A filter the size of the input, VALID: each image is its only patch (one product).
      {2, 5, 4, 3, 5, 4, 2, 1, 1, Padding::Valid},
      {1, 3, 3, 2, 3, 3, 2, 2, 2, Padding::Valid},   // ... with strides
  };
  return cases;
}

std::string describe(const Case& k) {
  return fmt::format("input [{},{},{},{}] filter [{},{},{},{}] strides [{},{}] {}", k.n, k.h, k.w, k.c, k.kh, k.kw,
                     k.c, k.oc, k.sh, k.sw, nn::padding_name(k.padding));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conv_ops)

// ---------------------------------------------------------------------------- values

BOOST_AUTO_TEST_CASE(conv2d_3x3_by_2x2_same_valid_and_strides) {
  // VALID stride 1: [[1·1+2·2+4·3+5·4, ...]]; SAME stride 1 pads one row/column after.
  Tensor y = nn::conv2d(image3x3(), filter2x2(), {1, 1}, Padding::Valid);
  BOOST_TEST(y.shape() == Shape({1, 2, 2, 1}));
  tft::check_close(y, {37, 47, 67, 77});
  y = nn::conv2d(image3x3(), filter2x2(), {1, 1}, Padding::Same);
  BOOST_TEST(y.shape() == Shape({1, 3, 3, 1}));
  tft::check_close(y, {37, 47, 21, 67, 77, 33, 23, 26, 9});
  y = nn::conv2d(image3x3(), filter2x2(), {2, 2}, Padding::Same);
  BOOST_TEST(y.shape() == Shape({1, 2, 2, 1}));
  tft::check_close(y, {37, 21, 23, 9});
  y = nn::conv2d(image3x3(), filter2x2(), {2, 2}, Padding::Valid);
  BOOST_TEST(y.shape() == Shape({1, 1, 1, 1}));
  tft::check_close(y, {37});
  // TensorFlow's 4-element strides mean the same.
  tft::check_close(nn::conv2d(image3x3(), filter2x2(), {1, 2, 2, 1}, Padding::Same), {37, 21, 23, 9});
}

BOOST_AUTO_TEST_CASE(conv2d_same_with_odd_total_padding) {
  // 4x4 input, 4x4 filter, SAME: pad_total 3 -> 1 before, 2 after (numpy reference).
  Tensor x = reshape(arange(0, 16, 1, float64), {1, 4, 4, 1});
  Tensor f = reshape(arange(0, 16, 1, float64), {4, 4, 1, 1}) / 10.0;
  tft::check_close(nn::conv2d(x, f, {1, 1}, Padding::Same),
                   {55.2, 77.0, 58.8, 39.7, 92.0, 124.0, 92.0, 60.4, 58.8, 77.0, 55.2, 34.9, 29.2, 36.4, 24.4, 14.2});
}

BOOST_AUTO_TEST_CASE(conv2d_multi_channel_values) {
  // 1x1 filter over 2 channels -> 3 channels: a matmul per pixel.
  Tensor x = reshape(arange(1, 9, 1, float64), {1, 2, 2, 2});
  Tensor f = reshape(arange(1, 7, 1, float64), {1, 1, 2, 3}) * 0.5;
  tft::check_close(nn::conv2d(x, f, {1, 1}, Padding::Valid),
                   {4.5, 6.0, 7.5, 9.5, 13.0, 16.5, 14.5, 20.0, 25.5, 19.5, 27.0, 34.5});
  // Batch 2, 5x5x2 input, 3x3x2->2 filter, SAME stride 2 (numpy reference).
  std::vector<double> xv, fv;
  for (int i = 0; i < 2 * 5 * 5 * 2; ++i) xv.push_back(i % 7 - 3);
  for (int i = 0; i < 3 * 3 * 2 * 2; ++i) fv.push_back(i % 5 - 2);
  Tensor y = nn::conv2d(from_vector(xv, {2, 5, 5, 2}), from_vector(fv, {3, 3, 2, 2}), {2, 2}, Padding::Same);
  BOOST_TEST(y.shape() == Shape({2, 3, 3, 2}));
  tft::check_close(y, {7, -8, -3, -12, -10, 9, -4, -9, -7, 15, 4, -6, 2, 9, 2, -6, 1, -8,
                       -8, 8, 20, -6, -8, 2, 16, -1, -14, -15, -9, 6, -7, -4, -14, 8, 9, -9});
}

BOOST_AUTO_TEST_CASE(conv2d_gradient_values) {
  // 3x3 image, 2x2 filter, SAME stride 1, upstream gradient 0.1..0.9 (numpy reference).
  Tensor x = image3x3().requires_grad_();
  Tensor f = filter2x2().requires_grad_();
  Tensor y = nn::conv2d(x, f, {1, 1}, Padding::Same);
  y.backward(reshape(arange(1, 10, 1, float64), {1, 3, 3, 1}) / 10.0);
  tft::check_close(x.grad(), {0.1, 0.4, 0.7, 0.7, 2.3, 3.3, 1.9, 5.3, 6.3});
  tft::check_close(f.grad(), {28.5, 18.6, 15.4, 9.4});
}

BOOST_AUTO_TEST_CASE(conv2d_matches_a_direct_convolution) {
  for (const Case& k : geometries()) {
    BOOST_TEST_CONTEXT(describe(k)) {
      Generator gen(42);
      Tensor x = random_uniform({k.n, k.h, k.w, k.c}, -1, 1, float64, &gen);
      Tensor f = random_uniform({k.kh, k.kw, k.c, k.oc}, -1, 1, float64, &gen);
      Shape expected_shape;
      std::vector<double> expected = direct_conv(x, f, k.sh, k.sw, k.padding, &expected_shape);
      Tensor y = nn::conv2d(x, f, {k.sh, k.sw}, k.padding);
      BOOST_TEST(y.shape() == expected_shape);
      tft::check_close(y, expected, 1e-12, 1e-12);
      // float32 runs the same kernels in single precision.
      Tensor y32 = nn::conv2d(x.to(float32), f.to(float32), {k.sh, k.sw}, k.padding);
      BOOST_TEST(y32.dtype() == float32);
      tft::check_close(y32, expected, 1e-5, 1e-5);
    }
  }
  // The LeNet shapes: 5x5x1->20 SAME on 28x28 and 3x3x20->50 SAME on 14x14 (small batches).
  Generator gen(3);
  for (auto [shape, fshape] : std::vector<std::pair<Shape, Shape>>{{{2, 28, 28, 1}, {5, 5, 1, 20}},
                                                                   {{2, 14, 14, 20}, {3, 3, 20, 50}}}) {
    Tensor x = random_uniform(shape, -1, 1, float32, &gen), f = random_uniform(fshape, -1, 1, float32, &gen);
    Shape expected_shape;
    std::vector<double> expected = direct_conv(x, f, 1, 1, Padding::Same, &expected_shape);
    Tensor y = nn::conv2d(x, f, {1, 1}, Padding::Same);
    BOOST_TEST(y.shape() == expected_shape);
    tft::check_close(y, expected, 1e-4, 1e-4);
  }
}

// ---------------------------------------------------------------------------- gradients

BOOST_AUTO_TEST_CASE(conv2d_gradcheck) {
  for (const Case& k : geometries()) {
    BOOST_TEST_CONTEXT(describe(k)) {
      const std::vector<int> strides{k.sh, k.sw};
      const Padding padding = k.padding;
      tft::check_grad([&](std::span<const Tensor> in) { return nn::conv2d(in[0], in[1], strides, padding); },
                      {tft::rand64({k.n, k.h, k.w, k.c}), tft::rand64({k.kh, k.kw, k.c, k.oc}, -1, 1, 11)});
    }
  }
}

BOOST_AUTO_TEST_CASE(conv2d_large_inputs_match_direct_gradients) {
  // Too large for a finite-difference check: the kernels cut the patches into chunks of about
  // 1 MB (several whole images per chunk, or several chunks per image) and share them out to
  // threads. Compare values and both gradients with the definitions.
  const std::vector<Case> cases{
      {40, 16, 16, 8, 3, 3, 6, 1, 1, Padding::Same},   // many images per chunk, several chunks
      {2, 64, 64, 16, 3, 3, 4, 1, 1, Padding::Same},   // several chunks per image
      {3, 60, 50, 1, 5, 5, 4, 2, 1, Padding::Valid},   // one channel (transposed patches), strided
      {2, 160, 170, 1, 5, 5, 3, 1, 1, Padding::Same},  // transposed patches, several chunks per image
  };
  for (const Case& k : cases) {
    BOOST_TEST_CONTEXT(describe(k)) {
      Generator gen(5);
      Tensor x = random_uniform({k.n, k.h, k.w, k.c}, -1, 1, float64, &gen).requires_grad_();
      Tensor f = random_uniform({k.kh, k.kw, k.c, k.oc}, -1, 1, float64, &gen).requires_grad_();
      Tensor y = nn::conv2d(x, f, {k.sh, k.sw}, k.padding);
      Shape expected_shape;
      std::vector<double> expected = direct_conv(x, f, k.sh, k.sw, k.padding, &expected_shape);
      BOOST_REQUIRE(y.shape() == expected_shape);
      tft::check_close(y, expected, 1e-10, 1e-10);
      Tensor dout = random_uniform(y.shape(), -1, 1, float64, &gen);
      y.backward(dout);
      std::vector<double> dx, df;
      direct_conv_grads(x, f, dout, k.sh, k.sw, k.padding, &dx, &df);
      tft::check_close(x.grad(), dx, 1e-10, 1e-10);
      tft::check_close(f.grad(), df, 1e-9, 1e-10);
    }
  }
}

BOOST_AUTO_TEST_CASE(conv2d_input_without_grad_gets_none) {
  // The first layer's input never requires grad: only the filter's gradient is computed.
  Tensor x = random_uniform({2, 5, 5, 1}, -1, 1, float64);
  Tensor f = tft::rand64({3, 3, 1, 2});
  Tensor y = nn::conv2d(x, f, {1, 1}, Padding::Same);
  reduce_sum(y).backward();
  BOOST_TEST(!x.grad().defined());
  BOOST_REQUIRE(f.grad().defined());
  // d sum(y) / d f[di,dj,0,o] = sum of the input values that tap (di,dj) reads: the same for each o.
  std::vector<double> g = f.grad().to_vector<double>();
  for (std::size_t t = 0; t < 9; ++t) BOOST_TEST(g[2 * t] == g[2 * t + 1], boost::test_tools::tolerance(1e-12));
  tft::check_grad([&](std::span<const Tensor> in) { return nn::conv2d(x, in[0], {2, 2}, Padding::Valid); },
                  {tft::rand64({3, 3, 1, 2})});
  // And with a constant filter, only the input's.
  Tensor fc = random_uniform({3, 3, 1, 2}, -1, 1, float64);
  tft::check_grad([&](std::span<const Tensor> in) { return nn::conv2d(in[0], fc, {1, 1}, Padding::Same); },
                  {tft::rand64({2, 5, 5, 1})});
}

BOOST_AUTO_TEST_CASE(conv2d_records_nothing_without_grad) {
  Tensor x = tft::rand64({1, 4, 4, 1}), f = tft::rand64({2, 2, 1, 1});
  NoGradGuard no_grad;
  Tensor y = nn::conv2d(x, f, {1, 1}, Padding::Same);
  BOOST_TEST(!y.requires_grad());
  BOOST_TEST(y.is_leaf());
}

// ---------------------------------------------------------------------------- bias_add

BOOST_AUTO_TEST_CASE(bias_add_values_and_gradients) {
  Tensor v = reshape(arange(0, 12, 1, float64), {2, 2, 3});
  Tensor b = tensor({0.5, -1, 2}, float64);
  tft::check_close(nn::bias_add(v, b), {0.5, 0, 4, 3.5, 3, 7, 6.5, 6, 10, 9.5, 9, 13});
  Tensor vg = tft::rand64({2, 2, 3}), bg = tft::rand64({3});
  reduce_sum(nn::bias_add(vg, bg) * 2.0).backward();
  tft::check_close(bg.grad(), {8, 8, 8});
  tft::check_close(vg.grad(), std::vector<double>(12, 2.0));
  tft::check_grad([](std::span<const Tensor> in) { return nn::bias_add(in[0], in[1]); },
                  {tft::rand64({1, 1}), tft::rand64({1})});
  tft::check_grad([](std::span<const Tensor> in) { return nn::bias_add(in[0], in[1]); },
                  {tft::rand64({4, 3}), tft::rand64({3})});
  tft::check_grad([](std::span<const Tensor> in) { return nn::bias_add(in[0], in[1]); },
                  {tft::rand64({2, 3, 3, 5}), tft::rand64({5})});
}

BOOST_AUTO_TEST_CASE(conv2d_with_bias) {
  // One op (its GEMM starts from the bias): the same values and gradients as bias_add(conv2d()).
  Tensor y = nn::conv2d(image3x3(), filter2x2(), tensor({10}, float64), {1, 1}, Padding::Valid);
  tft::check_close(y, {47, 57, 77, 87});
  BOOST_TEST(!nn::conv2d(image3x3(), filter2x2(), tensor({10}, float64), {1, 1}, Padding::Valid).grad_fn());
  Tensor xg = tft::rand64({1, 3, 3, 1}), fg = tft::rand64({2, 2, 1, 2}), bg = tft::rand64({2});
  bg.requires_grad_();
  BOOST_TEST(std::string(nn::conv2d(xg, fg, bg, {1, 1}, Padding::Same).grad_fn()->name) == "_FusedConv2D");
  tft::check_grad([](std::span<const Tensor> in) { return nn::conv2d(in[0], in[1], in[2], {2, 1}, Padding::Same); },
                  {tft::rand64({2, 5, 4, 2}), tft::rand64({3, 3, 2, 3}, -1, 1, 5), tft::rand64({3}, -1, 1, 9)});
  tft::check_grad([](std::span<const Tensor> in) { return nn::conv2d(in[0], in[1], in[2], {1, 1}, Padding::Valid); },
                  {tft::rand64({1, 1, 1, 1}), tft::rand64({1, 1, 1, 1}, -1, 1, 5), tft::rand64({1}, -1, 1, 9)});
  // A 1x1 convolution (the input is its own patches) and a single output pixel.
  tft::check_grad([](std::span<const Tensor> in) { return nn::conv2d(in[0], in[1], in[2], {1, 1}, Padding::Same); },
                  {tft::rand64({2, 3, 2, 4}), tft::rand64({1, 1, 4, 3}, -1, 1, 5), tft::rand64({3}, -1, 1, 9)});
  tft::check_grad([](std::span<const Tensor> in) { return nn::conv2d(in[0], in[1], in[2], {1, 1}, Padding::Valid); },
                  {tft::rand64({3, 3, 3, 2}), tft::rand64({3, 3, 2, 5}, -1, 1, 5), tft::rand64({5}, -1, 1, 9)});

  // Large enough for the chunked, threaded path and the threaded 1x1 path: equal to the
  // composition up to rounding (the bias is added first rather than last).
  for (int k : {5, 1}) {
    Tensor x = random_uniform({16, 20, 20, 8}, -1, 1), f = random_uniform({k, k, 8, 24}, -1, 1);
    Tensor b = random_uniform({24}, -1, 1);
    for (Tensor* t : {&x, &f, &b}) t->requires_grad_();
    Tensor fused = nn::conv2d(x, f, b, {1, 1}, Padding::Same);
    Tensor composed = nn::bias_add(nn::conv2d(x, f, {1, 1}, Padding::Same), b);
    BOOST_TEST(reduce_max(abs(fused - composed)).item<double>() < 1e-4);
    Tensor w = random_uniform(fused.shape(), -1, 1);
    auto grads = autograd::grad({reduce_sum(fused * w)}, {x, f, b});
    auto expected = autograd::grad({reduce_sum(composed * w)}, {x, f, b});
    for (std::size_t i = 0; i < 3; ++i)
      BOOST_TEST(reduce_max(abs(grads[i] - expected[i])).item<double>() < 1e-3 * (1 + reduce_max(abs(expected[i])).item<double>()));
  }

  TF_CHECK_THROWS_WITH(nn::conv2d(image3x3(), filter2x2(), tensor({1.0, 2.0}, float64), {1, 1}, Padding::Valid),
                       ShapeError, "conv2d: bias must be 1-D with one value per output channel", "[1] for the filter [2,2,1,1]",
                       "got [2]");
  TF_CHECK_THROWS_WITH(nn::conv2d(image3x3(), filter2x2(), zeros({1, 1}, float64), {1, 1}, Padding::Valid), ShapeError,
                       "got [1,1]");
  TF_CHECK_THROWS_WITH(nn::conv2d(image3x3(), filter2x2(), zeros({1}), {1, 1}, Padding::Valid), DTypeError, "conv2d",
                       "float32");
  TF_CHECK_THROWS_WITH(nn::conv2d(image3x3(), filter2x2(), Tensor(), {1, 1}, Padding::Valid), ValueError, "conv2d");
}

// ---------------------------------------------------------------------------- oneDNN's kernels

namespace {

/// A case's sizes as conv_onednn.h takes them.
nn::detail::ConvSizes sizes_of(const Case& k) {
  const std::int64_t oh = nn::window_output_size(k.h, k.kh, k.sh, k.padding);
  const std::int64_t ow = nn::window_output_size(k.w, k.kw, k.sw, k.padding);
  return {k.n, k.h, k.w, k.c, k.kh, k.kw, k.oc, k.sh, k.sw, oh, ow,
          nn::window_pad_before(k.h, k.kh, k.sh, k.padding), nn::window_pad_before(k.w, k.kw, k.sw, k.padding)};
}

}  // namespace

// Where tapeflow is built with oneDNN, a float convolution's passes run in oneDNN's convolution
// primitives when every core has an image (nn/conv_onednn.cpp), the images cut into a fixed
// number of runs: each pass against the definitions, with a bias and a fused ReLU, with runs of
// two sizes; and the cases left to im2col + GEMM.
BOOST_AUTO_TEST_CASE(conv2d_onednn_passes) {
  namespace td = tapeflow::detail;
  const tft::OneDnnKernels onednn;
  if (!onednn.available) return;
  const std::int64_t cores = td::FixedRuns::cores(), n = cores + 1;  // runs of two sizes (one per core)
  const std::vector<Case> cases{
      {n, 28, 28, 1, 5, 5, 20, 1, 1, Padding::Same},    // LeNet's conv1
      {n, 14, 14, 20, 3, 3, 50, 1, 1, Padding::Same},   // LeNet's conv2: 16+ channels, the input gradient too
      {n, 9, 8, 16, 4, 2, 5, 2, 3, Padding::Same},      // even filter, odd total padding, strides
      {n, 11, 10, 17, 3, 3, 4, 2, 2, Padding::Valid},   // VALID, the last row and column unread
  };
  for (const Case& k : cases) {
    BOOST_TEST_CONTEXT(describe(k)) {
      Generator gen(9);
      const Tensor x = random_uniform({k.n, k.h, k.w, k.c}, -1, 1, float32, &gen);
      const Tensor f = random_uniform({k.kh, k.kw, k.c, k.oc}, -1, 1, float32, &gen);
      const Tensor b = random_uniform({k.oc}, -1, 1, float32, &gen);
      Shape shape;
      std::vector<double> expected = direct_conv(x, f, k.sh, k.sw, k.padding, &shape);
      for (std::size_t i = 0; i < expected.size(); ++i)
        expected[i] = std::max(0.0, expected[i] + b.to_vector<double>()[i % static_cast<std::size_t>(k.oc)]);
      const nn::detail::ConvSizes s = sizes_of(k);
      Tensor y = Tensor::empty(shape, float32);
      BOOST_TEST(nn::detail::onednn_conv_forward(s, x.data<float>(), f.data<float>(), b.data<float>(), y.data<float>(),
                                                 td::Epilogue::relu));
      tft::check_close(y, expected, 1e-4, 1e-4);
      const Tensor dout = random_uniform(shape, -1, 1, float32, &gen);
      std::vector<double> dx_expected, df_expected;
      direct_conv_grads(x, f, dout, k.sh, k.sw, k.padding, &dx_expected, &df_expected);
      Tensor dx = full(x.shape(), 7.0, float32), df = full(f.shape(), 7.0, float32);  // overwritten, not added to
      const bool input_grad =
          nn::detail::onednn_conv_input_grad(s, dout.data<float>(), f.data<float>(), dx.data<float>());
      BOOST_TEST(input_grad == (k.c >= 16));  // fewer channels: measured slower than ours
      if (input_grad) tft::check_close(dx, dx_expected, 1e-4, 1e-4);
      BOOST_TEST(nn::detail::onednn_conv_filter_grad(s, x.data<float>(), dout.data<float>(), df.data<float>()));
      tft::check_close(df, df_expected, 1e-4, 1e-4);
    }
  }
  // Left to im2col + GEMM: a 1x1 filter with stride 1 and a filter the size of the input (each
  // one product), fewer images than cores, and TAPEFLOW_GEMM=eigen.
  std::vector<float> buffer(100000, 0.0f);
  float* p = buffer.data();
  auto forward_runs = [&](const Case& k) {
    return nn::detail::onednn_conv_forward(sizes_of(k), p, p, nullptr, p, td::Epilogue::none);
  };
  BOOST_TEST(!forward_runs({n, 6, 6, 4, 1, 1, 8, 1, 1, Padding::Same}));
  BOOST_TEST(!forward_runs({n, 6, 6, 4, 6, 6, 8, 1, 1, Padding::Valid}));
  BOOST_TEST(forward_runs({n, 6, 6, 4, 3, 3, 8, 1, 1, Padding::Same}));
  if (cores > 1) BOOST_TEST(!forward_runs({cores - 1, 6, 6, 4, 3, 3, 8, 1, 1, Padding::Same}));
  td::set_gemm_kernel(td::GemmKernel::eigen);
  BOOST_TEST(!forward_runs({n, 6, 6, 4, 3, 3, 8, 1, 1, Padding::Same}));
}

// The op with oneDNN's kernels and with tapeflow's own (TAPEFLOW_GEMM=eigen): the same
// convolution up to rounding, forward and backward, with a bias and a fused ReLU.
BOOST_AUTO_TEST_CASE(conv2d_kernels_agree) {
  namespace td = tapeflow::detail;
  const tft::OneDnnKernels onednn;
  if (!onednn.available) return;
  Generator gen(4);
  const std::int64_t n = 2 * td::FixedRuns::cores() + 1;
  const Tensor x = random_uniform({n, 12, 12, 24}, -1, 1, float32, &gen);
  const Tensor f = random_uniform({3, 3, 24, 32}, -0.2, 0.2, float32, &gen), b = random_uniform({32}, -1, 1, float32, &gen);
  const Tensor w = random_uniform({n, 6, 6, 32}, -1, 1, float32, &gen);
  auto run = [&] {
    Tensor xv = x.clone().requires_grad_(), fv = f.clone().requires_grad_(), bv = b.clone().requires_grad_();
    Tensor y = nn::detail::conv2d_fused(xv, fv, bv, {2, 2}, Padding::Same, nn::detail::Fused::bias_relu);
    std::vector<Tensor> out = autograd::grad({reduce_sum(y * w)}, {xv, fv, bv});
    out.insert(out.begin(), y);
    return out;
  };
  const std::vector<Tensor> ours_onednn = run();
  td::set_gemm_kernel(td::GemmKernel::eigen);
  const std::vector<Tensor> ours_eigen = run();
  for (std::size_t i = 0; i < ours_onednn.size(); ++i) {
    const double scale = 1 + reduce_max(abs(ours_eigen[i])).item<double>();
    BOOST_TEST(reduce_max(abs(ours_onednn[i] - ours_eigen[i])).item<double>() < 1e-5 * scale, "result " << i);
  }
}

// ---------------------------------------------------------------------------- geometry helpers

BOOST_AUTO_TEST_CASE(window_output_sizes) {
  BOOST_TEST(nn::window_output_size(28, 5, 1, Padding::Same) == 28);
  BOOST_TEST(nn::window_output_size(28, 2, 2, Padding::Same) == 14);
  BOOST_TEST(nn::window_output_size(7, 2, 2, Padding::Same) == 4);
  BOOST_TEST(nn::window_output_size(28, 5, 1, Padding::Valid) == 24);
  BOOST_TEST(nn::window_output_size(7, 3, 2, Padding::Valid) == 3);
  BOOST_TEST(nn::window_output_size(6, 3, 2, Padding::Valid) == 2);
  BOOST_TEST(nn::window_output_size(-1, 3, 2, Padding::Valid) == -1);
  BOOST_TEST(nn::window_pad_before(4, 4, 1, Padding::Same) == 1);
  BOOST_TEST(nn::window_pad_before(3, 2, 2, Padding::Same) == 0);
  BOOST_TEST(nn::window_pad_before(28, 5, 1, Padding::Same) == 2);
  BOOST_TEST(nn::window_pad_before(28, 5, 1, Padding::Valid) == 0);
  BOOST_TEST(std::string(nn::padding_name(Padding::Same)) == "SAME");
  BOOST_TEST(std::string(nn::padding_name(Padding::Valid)) == "VALID");
}

// ---------------------------------------------------------------------------- errors

BOOST_AUTO_TEST_CASE(conv2d_errors) {
  Tensor x = zeros({100, 28, 28, 1}), f = zeros({5, 5, 1, 20});
  TF_CHECK_THROWS_WITH(nn::conv2d(zeros({28, 28, 1}), f, {1, 1}, Padding::Same), ShapeError,
                       "conv2d: input must be 4-D [batch, height, width, channels], got [28,28,1]");
  TF_CHECK_THROWS_WITH(nn::conv2d(x, zeros({5, 5, 3, 20}), {1, 1}, Padding::Same), ShapeError,
                       "conv2d: filter [5,5,3,20] expects 3 input channels but the input [100,28,28,1] has 1");
  TF_CHECK_THROWS_WITH(nn::conv2d(x, zeros({5, 5, 20}), {1, 1}, Padding::Same), ShapeError,
                       "conv2d: filter must be 4-D", "got [5,5,20]");
  TF_CHECK_THROWS_WITH(nn::conv2d(x, f, {0, 1}, Padding::Same), ValueError, "conv2d: strides must be positive",
                       "[0,1]");
  TF_CHECK_THROWS_WITH(nn::conv2d(x, f, {1, -2}, Padding::Same), ValueError, "strides must be positive", "[1,-2]");
  TF_CHECK_THROWS_WITH(nn::conv2d(x, f, {1, 2, 2}, Padding::Same), ValueError, "conv2d: strides must have 2",
                       "[1,2,2]");
  TF_CHECK_THROWS_WITH(nn::conv2d(x, f, {2, 1, 1, 1}, Padding::Same), ValueError,
                       "conv2d: strides [2,1,1,1] must be 1 in the batch and channel dimensions");
  TF_CHECK_THROWS_WITH(nn::conv2d(zeros({1, 3, 3, 1}), f, {1, 1}, Padding::Valid), ShapeError,
                       "conv2d: filter [5,5,1,20]", "larger than the input [1,3,3,1]", "VALID");
  TF_CHECK_THROWS_WITH(nn::conv2d(zeros({1, 8, 3, 1}), f, {1, 1}, Padding::Valid), ShapeError,
                       "larger than the input [1,8,3,1]");
  TF_CHECK_THROWS_WITH(nn::conv2d(x, zeros({5, 5, 1, 20}, float64), {1, 1}, Padding::Same), DTypeError,
                       "conv2d", "float32 [100,28,28,1]", "float64 [5,5,1,20]");
  TF_CHECK_THROWS_WITH(nn::conv2d(zeros({1, 4, 4, 1}, int32), zeros({2, 2, 1, 1}, int32), {1, 1}, Padding::Same),
                       DTypeError, "conv2d: expected a float32 or float64 tensor", "int32");
  TF_CHECK_THROWS_WITH(nn::conv2d(x, Tensor(), {1, 1}, Padding::Same), ValueError, "conv2d", "undefined");
  // SAME padding accepts a filter larger than the input.
  BOOST_TEST(nn::conv2d(zeros({1, 3, 3, 1}), f, {1, 1}, Padding::Same).shape() == Shape({1, 3, 3, 20}));
}

BOOST_AUTO_TEST_CASE(bias_add_errors) {
  TF_CHECK_THROWS_WITH(nn::bias_add(zeros({3}), zeros({3})), ShapeError,
                       "bias_add: value must have at least 2 dimensions", "got [3]");
  TF_CHECK_THROWS_WITH(nn::bias_add(zeros({2, 3}), zeros({2})), ShapeError, "bias_add: bias must be 1-D",
                       "value [2,3]", "got [2]");
  TF_CHECK_THROWS_WITH(nn::bias_add(zeros({2, 3}), zeros({1, 3})), ShapeError, "got [1,3]");
  TF_CHECK_THROWS_WITH(nn::bias_add(zeros({2, 3}), zeros({3}, float64)), DTypeError, "bias_add");
}

BOOST_AUTO_TEST_SUITE_END()
