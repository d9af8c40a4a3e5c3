// dropout (TensorFlow 1.x scaling, seeded masks, the backward's mask) and flatten.
#include <cmath>
#include <limits>

#include "helpers.h"
#include "tapeflow/nn/dropout.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(dropout_ops)

BOOST_AUTO_TEST_CASE(dropout_keeps_and_scales) {
  Generator gen(1);
  const double keep = 0.3;
  Tensor y = nn::dropout(full({100000}, 2.0), keep, &gen);
  BOOST_TEST(y.dtype() == float32);
  BOOST_TEST(y.shape() == Shape({100000}));
  std::int64_t kept = 0;
  double sum = 0;
  const float scaled = 2.0f / static_cast<float>(keep);
  bool values_ok = true;
  for (float v : y.to_vector<float>()) {
    if (v != 0.0f) {
      ++kept;
      values_ok = values_ok && v == scaled;  // kept values divided by keep_prob
    }
    sum += v;
  }
  BOOST_TEST(values_ok);
  // sd of the fraction: sqrt(0.3 * 0.7 / 1e5) = 0.0014; of the mean: sqrt(4 * 0.7 / 0.3 / 1e5) = 0.0097.
  BOOST_TEST(std::abs(static_cast<double>(kept) / 100000.0 - keep) < 0.01);
  BOOST_TEST(std::abs(sum / 100000.0 - 2.0) < 0.05);
  // A high keep_prob keeps most.
  Tensor z = nn::dropout(ones({20000}, float64), 0.9, &gen);
  BOOST_TEST(std::abs(reduce_mean(cast(not_equal(z, zeros_like(z)), float64)).item() - 0.9) < 0.015);
}

BOOST_AUTO_TEST_CASE(dropout_keep_prob_one_is_identity) {
  Tensor x = tft::rand64({3, 4});
  Tensor y = nn::dropout(x, 1.0);
  BOOST_TEST(y.is_same(x));
}

BOOST_AUTO_TEST_CASE(dropout_is_seedable) {
  Tensor x = random_uniform({50, 40}, 1, 2);
  Generator a(42), b(42), c(43);
  Tensor ya = nn::dropout(x, 0.5, &a), yb = nn::dropout(x, 0.5, &b), yc = nn::dropout(x, 0.5, &c);
  BOOST_TEST(ya.to_vector<float>() == yb.to_vector<float>());
  BOOST_TEST(ya.to_vector<float>() != yc.to_vector<float>());
  // The next draw from the same generator gives a new mask.
  BOOST_TEST(nn::dropout(x, 0.5, &a).to_vector<float>() != ya.to_vector<float>());
  // The default generator, reseeded.
  manual_seed(7);
  Tensor d1 = nn::dropout(x, 0.5);
  manual_seed(7);
  Tensor d2 = nn::dropout(x, 0.5);
  BOOST_TEST(d1.to_vector<float>() == d2.to_vector<float>());
}

BOOST_AUTO_TEST_CASE(dropout_gradient_is_mask_over_keep_prob) {
  Tensor x = random_uniform({200}, 1, 2, float64);  // no zeros: y != 0 exactly where kept
  x.requires_grad_();
  Generator gen(5);
  Tensor y = nn::dropout(x, 0.4, &gen);
  Tensor g = random_uniform({200}, -1, 1, float64);
  y.backward(g);
  std::vector<double> yv = y.to_vector<double>(), gv = g.to_vector<double>(), dx = x.grad().to_vector<double>();
  int dropped = 0;
  for (std::size_t i = 0; i < yv.size(); ++i) {
    const double expected = yv[i] != 0.0 ? gv[i] / 0.4 : 0.0;
    BOOST_TEST(dx[i] == expected);
    dropped += yv[i] == 0.0;
  }
  BOOST_TEST(dropped > 0);
  BOOST_TEST(dropped < 200);
}

BOOST_AUTO_TEST_CASE(dropout_gradcheck) {
  for (const Shape& s : std::vector<Shape>{Shape{}, Shape{1}, Shape{1, 1}, Shape{3, 4}, Shape{2, 3, 4, 5}}) {
    for (double keep : {0.6, 1.0}) {
      tft::check_grad(
          [keep](std::span<const Tensor> in) {
            Generator gen(3);  // the same mask on every evaluation
            return nn::dropout(in[0], keep, &gen);
          },
          {tft::rand64(s)});
    }
  }
}

BOOST_AUTO_TEST_CASE(dropout_errors) {
  TF_CHECK_THROWS_WITH(nn::dropout(ones({2}), 1.5), ValueError, "dropout: keep_prob must be in (0, 1], got 1.5");
  TF_CHECK_THROWS_WITH(nn::dropout(ones({2}), 0.0), ValueError, "keep_prob must be in (0, 1], got 0");
  TF_CHECK_THROWS_WITH(nn::dropout(ones({2}), -0.5), ValueError, "got -0.5");
  TF_CHECK_THROWS_WITH(nn::dropout(ones({2}), std::numeric_limits<double>::quiet_NaN()), ValueError, "got nan");
  TF_CHECK_THROWS_WITH(nn::dropout(ones({2}, int32), 0.5), DTypeError, "dropout", "int32");
}

BOOST_AUTO_TEST_CASE(flatten_shapes_and_values) {
  Tensor x = reshape(arange(24), {2, 3, 4});
  Tensor f = nn::flatten(x);
  BOOST_TEST(f.shape() == Shape({2, 12}));
  BOOST_TEST(f.to_vector<float>() == x.to_vector<float>());
  BOOST_TEST(nn::flatten(ones({5})).shape() == Shape({5, 1}));
  BOOST_TEST(nn::flatten(ones({2, 1, 1, 3})).shape() == Shape({2, 3}));
  BOOST_TEST(nn::flatten(ones({0, 3, 2})).shape() == Shape({0, 6}));
  BOOST_TEST(nn::flatten(ones({4, 2})).shape() == Shape({4, 2}));
  for (const Shape& s : std::vector<Shape>{Shape{1}, Shape{1, 1}, Shape{2, 3, 4}, Shape{2, 2, 2, 3}})
    tft::check_grad([](std::span<const Tensor> in) { return nn::flatten(in[0]); }, {tft::rand64(s)});
  TF_CHECK_THROWS_WITH(nn::flatten(scalar(1)), ShapeError, "flatten", "[]");
}

BOOST_AUTO_TEST_SUITE_END()
