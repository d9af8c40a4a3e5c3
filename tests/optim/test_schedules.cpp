#include "helpers.h"

#include <cmath>
#include <limits>

#include "tapeflow/optim.h"

using namespace tapeflow;
namespace optim = tapeflow::optim;

BOOST_AUTO_TEST_SUITE(schedules)

// ------------------------------------------------------------------------------ exponential_decay

BOOST_AUTO_TEST_CASE(exponential_decay_values) {
  // 0.1 * 0.96^(step / 100)
  BOOST_TEST(optim::exponential_decay(0.1, 0, 100, 0.96) == 0.1);
  BOOST_TEST(std::abs(optim::exponential_decay(0.1, 50, 100, 0.96) - 0.09797958971132712) < 1e-15);  // 0.1 sqrt(0.96)
  BOOST_TEST(std::abs(optim::exponential_decay(0.1, 100, 100, 0.96) - 0.096) < 1e-15);
  BOOST_TEST(std::abs(optim::exponential_decay(0.1, 250, 100, 0.96) - 0.09029798987795908) < 1e-15);  // 0.96^2.5
  // fractional decay_steps (TF casts it to float)
  BOOST_TEST(std::abs(optim::exponential_decay(1.0, 3, 1.5, 0.5) - 0.25) < 1e-15);
}

BOOST_AUTO_TEST_CASE(exponential_decay_staircase) {
  // floor(step / 100): 0 until step 99, 1 from 100 to 199, 2 at 250.
  BOOST_TEST(optim::exponential_decay(0.1, 50, 100, 0.96, true) == 0.1);
  BOOST_TEST(optim::exponential_decay(0.1, 99, 100, 0.96, true) == 0.1);
  BOOST_TEST(std::abs(optim::exponential_decay(0.1, 100, 100, 0.96, true) - 0.096) < 1e-15);
  BOOST_TEST(std::abs(optim::exponential_decay(0.1, 199, 100, 0.96, true) - 0.096) < 1e-15);
  BOOST_TEST(std::abs(optim::exponential_decay(0.1, 250, 100, 0.96, true) - 0.09216) < 1e-15);
}

BOOST_AUTO_TEST_CASE(exponential_decay_drives_an_optimizer) {
  Tensor w = zeros({1}, float64);
  w.requires_grad_();
  optim::GradientDescent opt({w}, {.lr = 1.0});
  for (std::int64_t step = 0; step < 3; ++step) {
    opt.set_lr(optim::exponential_decay(1.0, step, 1, 0.5));  // 1, 0.5, 0.25
    w.set_grad(ones({1}, float64));
    opt.step();
  }
  tft::check_close(w, {-1.75}, 1e-15, 1e-12);
}

BOOST_AUTO_TEST_CASE(exponential_decay_errors) {
  TF_CHECK_THROWS_WITH(optim::exponential_decay(-0.1, 0, 100, 0.96), ValueError,
                       "exponential_decay: invalid learning rate: -0.1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(optim::exponential_decay(0.1, -5, 100, 0.96), ValueError,
                       "exponential_decay: invalid global_step: -5 (must be >= 0)");
  TF_CHECK_THROWS_WITH(optim::exponential_decay(0.1, 5, 0, 0.96), ValueError,
                       "exponential_decay: invalid decay_steps: 0 (must be > 0)");
  TF_CHECK_THROWS_WITH(optim::exponential_decay(0.1, 5, 10, -0.5), ValueError,
                       "exponential_decay: invalid decay_rate: -0.5 (must be >= 0)");
}

// ----------------------------------------------------------------------------- piecewise_constant

BOOST_AUTO_TEST_CASE(piecewise_constant_values) {
  // TF: values[0] for step <= 100, values[1] for 100 < step <= 200, values[2] after.
  const std::vector<std::int64_t> boundaries = {100, 200};
  const std::vector<double> values = {1.0, 0.5, 0.1};
  BOOST_TEST(optim::piecewise_constant(0, boundaries, values) == 1.0);
  BOOST_TEST(optim::piecewise_constant(100, boundaries, values) == 1.0);
  BOOST_TEST(optim::piecewise_constant(101, boundaries, values) == 0.5);
  BOOST_TEST(optim::piecewise_constant(200, boundaries, values) == 0.5);
  BOOST_TEST(optim::piecewise_constant(201, boundaries, values) == 0.1);
  BOOST_TEST(optim::piecewise_constant(1000000, boundaries, values) == 0.1);
  BOOST_TEST(optim::piecewise_constant(-3, boundaries, values) == 1.0);
  // No boundary: one constant.
  BOOST_TEST(optim::piecewise_constant(7, {}, {0.25}) == 0.25);
}

BOOST_AUTO_TEST_CASE(piecewise_constant_errors) {
  TF_CHECK_THROWS_WITH(optim::piecewise_constant(0, {100, 200}, {1.0, 0.5}), ValueError,
                       "piecewise_constant: got 2 boundaries [100, 200] and 2 values [1, 0.5]",
                       "one value more than boundaries");
  TF_CHECK_THROWS_WITH(optim::piecewise_constant(0, {100}, {1.0, 0.5, 0.1}), ValueError,
                       "got 1 boundaries [100] and 3 values");
  TF_CHECK_THROWS_WITH(optim::piecewise_constant(0, {200, 100}, {1.0, 0.5, 0.1}), ValueError,
                       "boundaries [200, 100] must increase strictly", "boundaries[1] = 100 follows 200");
  TF_CHECK_THROWS_WITH(optim::piecewise_constant(0, {100, 100}, {1.0, 0.5, 0.1}), ValueError,
                       "must increase strictly");
}

// ---------------------------------------------------------------------------- clip_by_global_norm

BOOST_AUTO_TEST_CASE(clip_by_global_norm_values) {
  // |[3, 4]| = 5, |[12]| = 12: global norm sqrt(25 + 144) = 13.
  Tensor a = tensor({3.0, 4.0}), b = tensor({12.0}, float64);
  BOOST_TEST(std::abs(optim::global_norm({a, b}) - 13.0) < 1e-12);

  auto [clipped, norm] = optim::clip_by_global_norm({a, Tensor(), b}, 6.5);  // scale 6.5 / 13 = 0.5
  BOOST_TEST(std::abs(norm - 13.0) < 1e-12);
  BOOST_REQUIRE_EQUAL(clipped.size(), 3u);
  tft::check_close(clipped[0], {1.5, 2.0});
  BOOST_TEST(!clipped[1].defined());
  tft::check_close(clipped[2], {6.0}, 1e-12, 1e-12);
  BOOST_TEST(clipped[0].dtype() == float32);
  BOOST_TEST(clipped[2].dtype() == float64);
  tft::check_close(a, {3.0, 4.0}, 0.0, 0.0);  // the inputs are untouched
  BOOST_TEST(!clipped[0].is_same(a));

  // Below the threshold nothing changes.
  auto [same, norm2] = optim::clip_by_global_norm({a, b}, 20.0);
  BOOST_TEST(std::abs(norm2 - 13.0) < 1e-12);
  tft::check_close(same[0], {3.0, 4.0}, 0.0, 0.0);
  tft::check_close(same[1], {12.0}, 0.0, 0.0);
}

BOOST_AUTO_TEST_CASE(clip_by_global_norm_non_finite_gives_nan) {
  const double inf = std::numeric_limits<double>::infinity();
  for (bool requires_grad : {false, true}) {  // plain and recorded computations
    BOOST_TEST_CONTEXT("requires_grad " << requires_grad) {
      Tensor a = tensor({1.0, inf}, float64), b = tensor({2.0});
      a.requires_grad_(requires_grad);
      auto [clipped, norm] = optim::clip_by_global_norm({a, b}, 1.0);
      BOOST_TEST(std::isinf(norm));
      for (const Tensor& t : clipped)
        for (double v : t.to_vector<double>()) BOOST_TEST(std::isnan(v));
    }
  }
}

BOOST_AUTO_TEST_CASE(clip_by_global_norm_gradients) {
  // Differentiable like TF's (through the norm too), both when clipping and when not.
  for (double clip_norm : {0.3, 100.0}) {
    BOOST_TEST_CONTEXT("clip_norm " << clip_norm) {
      const std::vector<std::pair<Shape, Shape>> shapes = {{Shape{}, Shape{1, 1}}, {Shape{2, 3}, Shape{4}}};
      for (const auto& [sa, sb] : shapes) {
        Tensor a = tft::rand64(sa, 0.2, 1.0), b = tft::rand64(sb, -1.0, -0.2, 11);
        for (std::size_t k = 0; k < 2; ++k)
          tft::check_grad(
              [clip_norm, k](std::span<const Tensor> x) {
                return optim::clip_by_global_norm({x[0], x[1]}, clip_norm).first[k];
              },
              {a, b});
      }
    }
  }
  // With clipping, the outputs' global norm is clip_norm, so the gradient of that norm with respect
  // to the inputs is zero.
  Tensor a = tft::rand64({3}, 0.5, 1.0), b = tft::rand64({2}, 0.5, 1.0, 3);
  auto [clipped, norm] = optim::clip_by_global_norm({a, b}, 0.25);
  BOOST_TEST(norm > 0.25);
  Tensor out_norm = sqrt(reduce_sum(square(clipped[0])) + reduce_sum(square(clipped[1])));
  BOOST_TEST(std::abs(out_norm.item<double>() - 0.25) < 1e-12);
  out_norm.backward();
  tft::check_close(a.grad(), {0.0, 0.0, 0.0}, 1e-12, 0.0);
  tft::check_close(b.grad(), {0.0, 0.0}, 1e-12, 0.0);
}

BOOST_AUTO_TEST_CASE(clip_by_global_norm_errors) {
  Tensor a = tensor({3.0, 4.0});
  TF_CHECK_THROWS_WITH(optim::clip_by_global_norm({a}, 0.0), ValueError,
                       "clip_by_global_norm: invalid clip_norm: 0 (must be > 0)");
  TF_CHECK_THROWS_WITH(optim::clip_by_global_norm({a}, -1.0), ValueError, "invalid clip_norm: -1 (must be > 0)");
  Tensor labels = from_vector(std::vector<std::int64_t>{1, 2});
  TF_CHECK_THROWS_WITH(optim::clip_by_global_norm({a, labels}, 1.0), DTypeError,
                       "global_norm: tensor 1 is int64 [2]", "float32/float64");
}

// -------------------------------------------------------------------------------- clip_grad_norm_

BOOST_AUTO_TEST_CASE(clip_grad_norm_scales_gradients_in_place) {
  Tensor a = zeros({2}), b = zeros({1}, float64), c = zeros({3});
  for (Tensor* t : {&a, &b, &c}) t->requires_grad_();
  a.set_grad(tensor({3.0, 4.0}));
  b.set_grad(tensor({12.0}, float64));  // c has no gradient: skipped
  const double norm = optim::clip_grad_norm_({a, b, c}, 6.5);
  BOOST_TEST(std::abs(norm - 13.0) < 1e-12);
  const double coef = 6.5 / (13.0 + 1e-6);  // torch's factor
  tft::check_close(a.grad(), {3.0 * coef, 4.0 * coef}, 1e-6, 1e-6);
  tft::check_close(b.grad(), {12.0 * coef}, 1e-14, 1e-14);
  BOOST_TEST(!c.grad().defined());

  // Below max_norm the gradients keep their values.
  const double norm2 = optim::clip_grad_norm_({a, b, c}, 100.0);
  BOOST_TEST(std::abs(norm2 - 13.0 * coef) < 1e-5);  // a's gradient is float32
  tft::check_close(b.grad(), {12.0 * coef}, 0.0, 0.0);
}

BOOST_AUTO_TEST_CASE(clip_grad_norm_errors) {
  Tensor a = zeros({2});
  a.requires_grad_();
  TF_CHECK_THROWS_WITH(optim::clip_grad_norm_({a}, 0.0), ValueError,
                       "clip_grad_norm_: invalid max_norm: 0 (must be > 0)");
  TF_CHECK_THROWS_WITH(optim::clip_grad_norm_({a, Tensor()}, 1.0), ValueError,
                       "clip_grad_norm_: parameter 1 is an undefined tensor");
}

BOOST_AUTO_TEST_SUITE_END()
