// l1_loss / l2_loss over parameter lists, l1_l2_regularization and the regularizer functions:
// hand-computed values, gradchecks and errors.
#include "helpers.h"
#include "tapeflow/nn/regularizers.h"

using namespace tapeflow;

namespace {
std::vector<Tensor> two_weights() {
  return {tensor({{1, -2}, {3, 0}}, float64), tensor({-0.5, 4}, float64)};
}
/// Float64 leaves away from zero (|w| has a kink there).
Tensor away_from_zero(const Shape& s, unsigned seed) {
  Tensor m = tft::rand64(s, 0.2, 1.0, seed).detach();
  Tensor sgn = sign(tft::rand64(s, -1, 1, seed + 1).detach());
  Tensor w = m * where(equal(sgn, zeros_like(sgn)), ones_like(sgn), sgn);
  w.requires_grad_();
  return w;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(regularizers)

BOOST_AUTO_TEST_CASE(list_losses_values) {
  std::vector<Tensor> w = two_weights();
  // |1|+|-2|+|3|+|0| + |-0.5|+|4| = 10.5;  (1+4+9+0)/2 + (0.25+16)/2 = 7 + 8.125 = 15.125
  Tensor l1 = nn::l1_loss(w);
  BOOST_TEST(l1.shape() == Shape({}));
  BOOST_TEST(l1.dtype() == float64);
  BOOST_TEST(l1.item() == 10.5);
  BOOST_TEST(nn::l2_loss(w).item() == 15.125);
  BOOST_TEST(nn::l2_loss(w).item() == nn::l2_loss(w[0]).item() + nn::l2_loss(w[1]).item());
  BOOST_TEST(nn::l1_l2_regularization(w, 0.1, 0.01).item() == 1.20125, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(nn::l1_l2_regularization(w, 0.1, 0.0).item() == 1.05, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(nn::l1_l2_regularization(w, 0.0, 2.0).item() == 30.25);
  Tensor none = nn::l1_l2_regularization(w, 0.0, 0.0);
  BOOST_TEST(none.item() == 0.0);
  BOOST_TEST(none.dtype() == float64);
  BOOST_TEST(nn::l1_loss({tensor({-1, 2})}).dtype() == float32);
}

BOOST_AUTO_TEST_CASE(regularizer_functions) {
  std::vector<Tensor> w = two_weights();
  BOOST_TEST(nn::l1_regularizer(0.5)(w[0]).item() == 3.0);
  BOOST_TEST(nn::l2_regularizer(2.0)(w[1]).item() == 16.25);
  BOOST_TEST(nn::l1_l2_regularizer(1.0, 1.0)(w[1]).item() == 4.5 + 8.125);
  BOOST_TEST(nn::apply_regularization(nn::l2_regularizer(2.0), w).item() == 30.25);
  BOOST_TEST(nn::apply_regularization(nn::l1_regularizer(0.0), w).item() == 0.0);
  // A user regularizer; one returning undefined (disabled) is skipped.
  auto max_abs = [](const Tensor& t) { return reduce_max(abs(t)); };
  BOOST_TEST(nn::apply_regularization(max_abs, w).item() == 7.0);
  BOOST_TEST(nn::apply_regularization([](const Tensor&) { return Tensor(); }, w).item() == 0.0);
}

BOOST_AUTO_TEST_CASE(regularization_gradients) {
  // d l1/dw = sign(w), d l2/dw = w.
  std::vector<Tensor> w = two_weights();
  for (auto& t : w) t.requires_grad_();
  Tensor loss = nn::l1_l2_regularization(w, 0.5, 3.0);
  std::vector<Tensor> g = autograd::grad(std::span<const Tensor>(&loss, 1), w);
  tft::check_close(g[0], {0.5 + 3, -0.5 - 6, 0.5 + 9, 0});
  tft::check_close(g[1], {-0.5 - 1.5, 0.5 + 12});

  struct Case {
    std::vector<Shape> shapes;
  };
  for (const Case& c : std::vector<Case>{{{Shape{}}}, {{Shape{1, 1}}}, {{Shape{3, 4}, Shape{5}}},
                                         {{Shape{2, 2, 2, 3}, Shape{3}, Shape{1}}}}) {
    std::vector<Tensor> in;
    unsigned seed = 1;
    for (const Shape& s : c.shapes) in.push_back(away_from_zero(s, seed += 2));
    auto as_list = [](std::span<const Tensor> t) { return std::vector<Tensor>(t.begin(), t.end()); };
    tft::check_grad([&](std::span<const Tensor> t) { return nn::l1_loss(as_list(t)); }, in);
    tft::check_grad([&](std::span<const Tensor> t) { return nn::l2_loss(as_list(t)); }, in);
    tft::check_grad([&](std::span<const Tensor> t) { return nn::l1_l2_regularization(as_list(t), 0.3, 0.7); }, in);
    tft::check_grad(
        [&](std::span<const Tensor> t) { return nn::apply_regularization(nn::l1_l2_regularizer(0.2, 0.1), as_list(t)); },
        in);
  }
}

BOOST_AUTO_TEST_CASE(regularization_errors) {
  TF_CHECK_THROWS_WITH(nn::l1_loss(std::vector<Tensor>{}), ValueError, "l1_loss", "no parameters");
  TF_CHECK_THROWS_WITH(nn::l2_loss(std::vector<Tensor>{ones({2}), ones({3}, float64)}), DTypeError, "l2_loss",
                       "parameter 1", "float64 [3]", "float32 [2]");
  TF_CHECK_THROWS_WITH(nn::l1_loss({ones({2}), ones({2}, int32)}), DTypeError, "parameter 1", "int32");
  TF_CHECK_THROWS_WITH(nn::l2_loss(std::vector<Tensor>{ones({2}), Tensor()}), ValueError, "parameter 1", "undefined");
  TF_CHECK_THROWS_WITH(nn::l1_regularizer(-0.1), ValueError, "l1_regularizer", "less than 0", "-0.1");
  TF_CHECK_THROWS_WITH(nn::l2_regularizer(-2), ValueError, "l2_regularizer", "-2");
  TF_CHECK_THROWS_WITH(nn::l1_l2_regularization({ones({2})}, 0.1, -1), ValueError, "l1_l2_regularization", "-1");
  TF_CHECK_THROWS_WITH(nn::apply_regularization(nn::l1_regularizer(1.0), {}), ValueError, "apply_regularization",
                       "no parameters");
  TF_CHECK_THROWS_WITH(nn::apply_regularization(nn::Regularizer(), {ones({2})}), ValueError, "apply_regularization",
                       "regularizer");
  TF_CHECK_THROWS_WITH(nn::apply_regularization([](const Tensor& t) { return t; }, {ones({2})}), ShapeError,
                       "apply_regularization", "[2]", "scalar");
}

BOOST_AUTO_TEST_SUITE_END()
