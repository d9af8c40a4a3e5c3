// max_pool and avg_pool: values against hand-computed / numpy numbers (SAME edge counts,
// TensorFlow's documented example), gradient values (ties, overlaps), gradchecks, errors.
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "helpers.h"
#include "tapeflow/nn/pool.h"

using namespace tapeflow;
using nn::Padding;

namespace {

Tensor image3x3() { return reshape(arange(1, 10, 1, float64), {1, 3, 3, 1}); }

/// A [1,3,5,2] input with repeated values (numpy reference below).
Tensor image3x5x2() {
  return from_vector(std::vector<double>{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9,
                                         3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7},
                     {1, 3, 5, 2});
}

/// d sum(weights * f(x)) / dx with weights 1.
Tensor grad_of_sum(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_in) {
  Tensor x = x_in.clone();
  x.requires_grad_();
  return autograd::grad({reduce_sum(f(x))}, {x})[0];
}

struct Case {
  std::int64_t n, h, w, c;
  int kh, kw, sh, sw;
  Padding padding;
};

const std::vector<Case>& geometries() {
  static const std::vector<Case> cases{
      {1, 1, 1, 1, 1, 1, 1, 1, Padding::Valid},  // 1x1
      {1, 1, 1, 1, 2, 2, 1, 1, Padding::Same},   // window larger than the input (SAME)
      {1, 4, 4, 1, 2, 2, 2, 2, Padding::Valid},  // the LeNet pool, even size
      {2, 5, 5, 3, 2, 2, 2, 2, Padding::Same},   // odd size SAME: last window half padded
      {2, 5, 4, 2, 3, 3, 1, 1, Padding::Same},   // overlapping windows
      {1, 7, 7, 2, 3, 3, 2, 2, Padding::Valid},  // overlapping, stride 2
      {2, 6, 6, 2, 3, 3, 2, 2, Padding::Same},   // even size, odd window, SAME
      {1, 5, 6, 1, 5, 5, 1, 1, Padding::Same},   // 5x5 window
      {1, 4, 7, 2, 1, 3, 1, 2, Padding::Same},   // rectangular window, different strides
      {2, 3, 3, 4, 1, 1, 2, 2, Padding::Valid},  // 1x1 window with stride: subsampling
  };
  return cases;
}

std::string describe(const Case& k) {
  return fmt::format("value [{},{},{},{}] ksize [{},{}] strides [{},{}] {}", k.n, k.h, k.w, k.c, k.kh, k.kw, k.sh,
                     k.sw, nn::padding_name(k.padding));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pool_ops)

// ---------------------------------------------------------------------------- values

BOOST_AUTO_TEST_CASE(avg_pool_tensorflow_example) {
  // TensorFlow: avg_pool SAME of [[1, 2], [3, 4]] with a 2x2 window, stride 1, divides each window
  // by its number of valid elements: [2.5, 3, 3.5, 4].
  Tensor x = reshape(arange(1, 5, 1, float64), {1, 2, 2, 1});
  Tensor y = nn::avg_pool(x, {2, 2}, {1, 1}, Padding::Same);
  BOOST_TEST(y.shape() == Shape({1, 2, 2, 1}));
  tft::check_close(y, {2.5, 3, 3.5, 4});
  tft::check_close(nn::avg_pool(x, {1, 2, 2, 1}, {1, 1, 1, 1}, Padding::Same), {2.5, 3, 3.5, 4});
  tft::check_close(nn::avg_pool(x.to(float32), {2, 2}, {1, 1}, Padding::Same), {2.5, 3, 3.5, 4});
  // Gradient of the sum: windows covering each input weigh 1/count: 1/4, 1/4+1/2, 1/4+1/2, 1/4+1/2+1/2+1.
  tft::check_close(grad_of_sum([](const Tensor& v) { return nn::avg_pool(v, {2, 2}, {1, 1}, Padding::Same); }, x),
                   {0.25, 0.75, 0.75, 2.25});
}

BOOST_AUTO_TEST_CASE(pools_on_3x3_same) {
  // 2x2 window, stride 2, SAME on 1..9: pad_total 1, all of it after.
  Tensor y = nn::max_pool(image3x3(), {2, 2}, {2, 2}, Padding::Same);
  BOOST_TEST(y.shape() == Shape({1, 2, 2, 1}));
  tft::check_close(y, {5, 6, 8, 9});
  tft::check_close(nn::avg_pool(image3x3(), {2, 2}, {2, 2}, Padding::Same), {3, 4.5, 7.5, 9});
  // 3x3 window, stride 1, SAME: corner windows hold 4 values, edge windows 6, the centre 9.
  tft::check_close(nn::max_pool(image3x3(), {3, 3}, {1, 1}, Padding::Same), {5, 6, 6, 8, 9, 9, 8, 9, 9});
  tft::check_close(nn::avg_pool(image3x3(), {3, 3}, {1, 1}, Padding::Same), {3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7});
  // VALID: one window.
  tft::check_close(nn::max_pool(image3x3(), {3, 3}, {1, 1}, Padding::Valid), {9});
  tft::check_close(nn::avg_pool(image3x3(), {2, 2}, {1, 1}, Padding::Valid), {3, 4, 6, 7});
}

BOOST_AUTO_TEST_CASE(pools_with_channels_and_rectangular_windows) {
  // [1,3,5,2], 2x3 window, strides (1, 2), SAME (numpy reference).
  Tensor y = nn::max_pool(image3x5x2(), {2, 3}, {1, 2}, Padding::Same);
  BOOST_TEST(y.shape() == Shape({1, 3, 3, 2}));
  tft::check_close(y, {9, 8, 9, 9, 8, 6, 9, 8, 9, 7, 8, 7, 6, 4, 8, 4, 8, 7});
  tft::check_close(nn::avg_pool(image3x5x2(), {2, 3}, {1, 2}, Padding::Same),
                   {5.25, 4.25, 5.166666666666667, 4.833333333333333, 4.25, 4.0, 6.5, 5.25, 6.166666666666667,
                    3.8333333333333335, 5.0, 4.25, 6.0, 3.0, 5.666666666666667, 3.3333333333333335, 5.0, 5.0});
  tft::check_close(nn::max_pool(image3x5x2(), {2, 2}, {2, 2}, Padding::Valid), {9, 8, 9, 9});
  tft::check_close(nn::avg_pool(image3x5x2(), {2, 2}, {2, 2}, Padding::Valid), {5.25, 4.25, 4.5, 5.25});
  // Negative values: padding never wins a max (it is -inf, not 0).
  tft::check_close(nn::max_pool(image3x3() * -1.0, {2, 2}, {2, 2}, Padding::Same), {-1, -3, -7, -9});
}

BOOST_AUTO_TEST_CASE(max_pool_gradient_values) {
  // 3x3 window, stride 1, SAME: the maxima 5, 6, 6, 8, 9, 9, 8, 9, 9 receive 1 per window they win.
  tft::check_close(
      grad_of_sum([](const Tensor& v) { return nn::max_pool(v, {3, 3}, {1, 1}, Padding::Same); }, image3x3()),
      {0, 0, 0, 0, 1, 2, 0, 2, 4});
  // Ties go to the first maximum of the window in row-major order (TensorFlow).
  Tensor flat = zeros({1, 2, 4, 2}, float64);
  tft::check_close(
      grad_of_sum([](const Tensor& v) { return nn::max_pool(v, {2, 2}, {2, 2}, Padding::Valid); }, flat),
      {1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  Tensor tie = from_vector(std::vector<double>{1, 3, 3, 2}, {1, 2, 2, 1});
  tft::check_close(grad_of_sum([](const Tensor& v) { return nn::max_pool(v, {2, 2}, {1, 1}, Padding::Valid); }, tie),
                   {0, 1, 0, 0});
  // Upstream gradient values are routed, not just counted.
  Tensor x = image3x5x2().clone().requires_grad_();
  Tensor y = nn::max_pool(x, {2, 2}, {2, 2}, Padding::Valid);  // maxima 9, 8 | 9, 9
  y.backward(from_vector(std::vector<double>{10, 20, 30, 40}, {1, 1, 2, 2}));
  // x[0, r, c, ch] is element (r * 5 + c) * 2 + ch. Window 0 (rows 0-1, cols 0-1): channel 0
  // {3, 4, 5, 9} -> 9 at (1,1); channel 1 {1, 1, 8, 7} -> 8 at (1,0). Window 1 (cols 2-3):
  // channel 0 {5, 2, 9, 2} -> 9 at (1,2); channel 1 {9, 6, 3, 3} -> 9 at (0,2).
  std::vector<double> expected(30, 0.0);
  expected[(1 * 5 + 1) * 2 + 0] = 10;
  expected[(1 * 5 + 0) * 2 + 1] = 20;
  expected[(1 * 5 + 2) * 2 + 0] = 30;
  expected[(0 * 5 + 2) * 2 + 1] = 40;
  tft::check_close(x.grad(), expected, 0, 0);
}

BOOST_AUTO_TEST_CASE(max_pool_gradient_when_the_windows_tile_the_input) {
  // Stride = window and nothing left over (2x2 on even sizes, SAME or VALID; 3x2 on 6x4), the
  // pools of the samples: each input element is in one window and gets its upstream value when it
  // is the maximum, else 0.
  for (auto [kh, kw, h, w] : {std::array<int, 4>{2, 2, 4, 6}, std::array<int, 4>{3, 2, 6, 4}})
    for (Padding padding : {Padding::Same, Padding::Valid})  // kh, kw by copy: clang < 16 can't capture a binding
      tft::check_grad([&, kh = kh, kw = kw](std::span<const Tensor> in) {
        return nn::max_pool(in[0], {kh, kw}, {kh, kw}, padding);
      }, {tft::rand64({2, h, w, 3})});
  // Large enough for the threaded path: the gradient holds each upstream value once, at its maximum.
  Tensor x = random_uniform({8, 28, 28, 20}).requires_grad_();
  Tensor y = nn::max_pool(x, {2, 2}, {2, 2}, Padding::Same);
  Tensor up = random_uniform(y.shape(), 1, 2);
  y.backward(up);
  BOOST_TEST(reduce_sum(x.grad()).item() == reduce_sum(up).item(), boost::test_tools::tolerance(1e-5));
  const std::int64_t nonzero = reduce_sum(cast(not_equal(x.grad(), zeros({})), int64)).item<std::int64_t>();
  BOOST_TEST(nonzero == up.numel());
  BOOST_TEST(reduce_max(abs(nn::max_pool(x.grad(), {2, 2}, {2, 2}, Padding::Same) - up)).item() == 0.0);
}

BOOST_AUTO_TEST_CASE(avg_pool_gradient_values) {
  // 3x3 window, stride 1, SAME on 3x3: each input gets sum over the windows covering it of 1/count.
  tft::check_close(
      grad_of_sum([](const Tensor& v) { return nn::avg_pool(v, {3, 3}, {1, 1}, Padding::Same); }, image3x3()),
      {0.6944444444444444, 1.1111111111111112, 0.6944444444444444, 1.111111111111111, 1.7777777777777777,
       1.1111111111111112, 0.6944444444444443, 1.1111111111111112, 0.6944444444444444},
      1e-12, 1e-12);
  // VALID 2x2 stride 2 on 4x4: every input in exactly one window, weight 1/4 times the upstream value.
  Tensor x = zeros({1, 4, 4, 1}, float64).requires_grad_();
  nn::avg_pool(x, {2, 2}, {2, 2}, Padding::Valid)
      .backward(from_vector(std::vector<double>{4, 8, 12, 16}, {1, 2, 2, 1}));
  tft::check_close(x.grad(), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

// ---------------------------------------------------------------------------- gradchecks

BOOST_AUTO_TEST_CASE(max_pool_gradcheck) {
  for (const Case& k : geometries()) {
    BOOST_TEST_CONTEXT(describe(k)) {
      const std::vector<int> ksize{k.kh, k.kw}, strides{k.sh, k.sw};
      const Padding padding = k.padding;
      // Distinct random values, so that no finite-difference step changes a window's maximum.
      tft::check_grad([&](std::span<const Tensor> in) { return nn::max_pool(in[0], ksize, strides, padding); },
                      {tft::rand64({k.n, k.h, k.w, k.c})});
    }
  }
}

BOOST_AUTO_TEST_CASE(avg_pool_gradcheck) {
  for (const Case& k : geometries()) {
    BOOST_TEST_CONTEXT(describe(k)) {
      const std::vector<int> ksize{k.kh, k.kw}, strides{k.sh, k.sw};
      const Padding padding = k.padding;
      tft::check_grad([&](std::span<const Tensor> in) { return nn::avg_pool(in[0], ksize, strides, padding); },
                      {tft::rand64({k.n, k.h, k.w, k.c})});
    }
  }
}

BOOST_AUTO_TEST_CASE(pools_compose_with_conv_shapes) {
  // The LeNet pools: [2,28,28,20] -> [2,14,14,20] -> conv -> pool [2,7,7,50] shapes, float32.
  Tensor x = random_uniform({2, 28, 28, 20});
  Tensor y = nn::max_pool(x, {2, 2}, {2, 2}, Padding::Same);
  BOOST_TEST(y.shape() == Shape({2, 14, 14, 20}));
  BOOST_TEST(nn::avg_pool(random_uniform({2, 14, 14, 50}), {2, 2}, {2, 2}, Padding::Same).shape() ==
             Shape({2, 7, 7, 50}));
  BOOST_TEST(nn::max_pool(random_uniform({2, 7, 7, 50}), {2, 2}, {2, 2}, Padding::Same).shape() ==
             Shape({2, 4, 4, 50}));
  // Each output is the maximum of its 2x2 window (checked directly on float32 data).
  std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t i = 0; i < 14; ++i)
      for (std::int64_t j = 0; j < 14; ++j)
        for (std::int64_t c = 0; c < 20; ++c) {
          float m = -1;
          for (std::int64_t di = 0; di < 2; ++di)
            for (std::int64_t dj = 0; dj < 2; ++dj)
              m = std::max(m, xv[static_cast<std::size_t>(((n * 28 + 2 * i + di) * 28 + 2 * j + dj) * 20 + c)]);
          BOOST_REQUIRE_EQUAL(yv[static_cast<std::size_t>(((n * 14 + i) * 14 + j) * 20 + c)], m);
        }
}

// ---------------------------------------------------------------------------- errors

BOOST_AUTO_TEST_CASE(pool_errors) {
  TF_CHECK_THROWS_WITH(nn::max_pool(zeros({28, 28, 1}), {2, 2}, {2, 2}, Padding::Same), ShapeError,
                       "max_pool: value must be 4-D [batch, height, width, channels], got [28,28,1]");
  TF_CHECK_THROWS_WITH(nn::avg_pool(zeros({28, 28}), {2, 2}, {2, 2}, Padding::Same), ShapeError,
                       "avg_pool: value must be 4-D", "got [28,28]");
  TF_CHECK_THROWS_WITH(nn::max_pool(zeros({1, 2, 2, 1}), {3, 3}, {1, 1}, Padding::Valid), ShapeError,
                       "max_pool: window 3x3 (ksize [3,3]) is larger than the input [1,2,2,1] (2x2) with VALID "
                       "padding");
  TF_CHECK_THROWS_WITH(nn::avg_pool(zeros({1, 5, 2, 1}), {1, 3, 3, 1}, {1, 1}, Padding::Valid), ShapeError,
                       "avg_pool: window 3x3", "larger than the input [1,5,2,1]");
  TF_CHECK_THROWS_WITH(nn::max_pool(zeros({1, 4, 4, 1}), {0, 2}, {1, 1}, Padding::Same), ValueError,
                       "max_pool: ksize must be positive, got [0,2]");
  TF_CHECK_THROWS_WITH(nn::avg_pool(zeros({1, 4, 4, 1}), {2, 2}, {2, -1}, Padding::Same), ValueError,
                       "avg_pool: strides must be positive, got [2,-1]");
  TF_CHECK_THROWS_WITH(nn::max_pool(zeros({1, 4, 4, 1}), {2}, {1, 1}, Padding::Same), ValueError,
                       "max_pool: ksize must have 2 elements", "got [2]");
  TF_CHECK_THROWS_WITH(nn::max_pool(zeros({1, 4, 4, 1}), {1, 2, 2, 2}, {1, 1}, Padding::Same), ValueError,
                       "max_pool: ksize [1,2,2,2] must be 1 in the batch and channel dimensions");
  TF_CHECK_THROWS_WITH(nn::max_pool(zeros({1, 4, 4, 1}, int64), {2, 2}, {2, 2}, Padding::Same), DTypeError,
                       "max_pool: expected a float32 or float64 tensor", "int64");
  TF_CHECK_THROWS_WITH(nn::avg_pool(Tensor(), {2, 2}, {2, 2}, Padding::Same), ValueError, "avg_pool", "undefined");
}

BOOST_AUTO_TEST_SUITE_END()
