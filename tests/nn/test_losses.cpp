// softmax, log_softmax, the two cross-entropies, l2_loss and in_top_k: values (checked against
// numpy), stability for logits of 1e4, gradchecks and error messages.
#include <cmath>
#include <limits>

#include "helpers.h"

using namespace tapeflow;

namespace {

/// The logits most value tests use (values checked with numpy).
Tensor logits2x3() { return tensor({{1, 2, 3}, {1, -1, 0.5}}, float64); }

/// Gradients of sum(f(x)) with respect to x, through autograd::grad.
Tensor grad_of_sum(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_in) {
  Tensor x = x_in.clone();
  x.requires_grad_();
  Tensor y = reduce_sum(f(x));
  return autograd::grad({y}, {x})[0];
}

void check_finite(const Tensor& t) {
  for (double v : t.to_vector<double>()) BOOST_CHECK_MESSAGE(std::isfinite(v), "non-finite value " << v << " in " << t);
}

/// Uniform [0, 1) float64 probabilities-like labels that require grad.
Tensor labels64(const Shape& s) { return tft::rand64(s, 0, 1, 99); }

}  // namespace

BOOST_AUTO_TEST_SUITE(losses)

// ---------------------------------------------------------------------------- softmax, log_softmax

BOOST_AUTO_TEST_CASE(softmax_values) {
  tft::check_close(nn::softmax(tensor({1, 2, 3}, float64)), {0.09003057317038043, 0.24472847105479767, 0.6652409557748219});
  tft::check_close(nn::log_softmax(tensor({1, 2, 3}, float64)),
                   {-2.4076059644443806, -1.4076059644443804, -0.40760596444438035});
  tft::check_close(nn::softmax(logits2x3(), 0),
                   {0.5, 0.9525741268224334, 0.9241418199787564, 0.5, 0.04742587317756678, 0.07585818002124355});
  tft::check_close(nn::log_softmax(logits2x3()), {-2.4076059644443806, -1.4076059644443804, -0.40760596444438035,
                                               -0.5549569196419906, -2.554956919641991, -1.0549569196419906});
  Tensor s = nn::softmax(tensor({{1, 2, 3}}));
  BOOST_TEST(s.dtype() == float32);
  BOOST_TEST(s.shape() == Shape({1, 3}));
  tft::check_close(reduce_sum(nn::softmax(reshape(arange(24), {2, 3, 4}), 1), {1}), std::vector<double>(8, 1.0));
}

BOOST_AUTO_TEST_CASE(softmax_is_stable_for_large_logits) {
  Tensor big = tensor({{1e4, 0, -1e4}, {1e4, 1e4, -1e4}});
  Tensor s = nn::softmax(big);
  check_finite(s);
  tft::check_close(s, {1, 0, 0, 0.5, 0.5, 0});
  Tensor l = nn::log_softmax(big);
  check_finite(l);
  tft::check_close(l, {0, -1e4, -2e4, -0.6931471805599453, -0.6931471805599453, -2e4 - 0.6931471805599453}, 2e-3);
  // d sum(log_softmax)/dx = 1 - n·softmax
  Tensor g = grad_of_sum([](const Tensor& x) { return nn::log_softmax(x); }, big);
  check_finite(g);
  tft::check_close(g, {-2, 1, 1, -0.5, -0.5, 1}, 1e-5);
}

BOOST_AUTO_TEST_CASE(softmax_gradcheck) {
  struct Case {
    Shape shape;
    int axis;
  };
  for (const Case& c : std::vector<Case>{{Shape{1}, -1}, {Shape{1, 1}, -1}, {Shape{5}, 0}, {Shape{3, 4}, -1},
                                         {Shape{3, 4}, 0}, {Shape{2, 3, 4}, 1}}) {
    tft::check_grad([&](std::span<const Tensor> in) { return nn::softmax(in[0], c.axis); }, {tft::rand64(c.shape, -2, 2)});
    tft::check_grad([&](std::span<const Tensor> in) { return nn::log_softmax(in[0], c.axis); },
                    {tft::rand64(c.shape, -2, 2)});
  }
}

BOOST_AUTO_TEST_CASE(softmax_errors) {
  TF_CHECK_THROWS_WITH(nn::softmax(scalar(1)), ShapeError, "softmax", "rank >= 1", "[]");
  TF_CHECK_THROWS_WITH(nn::log_softmax(ones({2, 3}), 2), ValueError, "log_softmax", "axis 2");
  TF_CHECK_THROWS_WITH(nn::softmax(ones({2, 3}, int32)), DTypeError, "softmax", "int32");
}

// ---------------------------------------------------------------------------- softmax_cross_entropy_with_logits

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_values_and_gradients) {
  Tensor labels = tensor({{0.1, 0.2, 0.7}, {1, 0, 0}}, float64).requires_grad_();
  Tensor logits = logits2x3().requires_grad_();
  Tensor loss = nn::softmax_cross_entropy_with_logits(labels, logits);
  BOOST_TEST(loss.shape() == Shape({2}));
  tft::check_close(loss, {0.8076059644443804, 0.5549569196419906});
  reduce_sum(loss).backward();
  // d/dlogits = softmax·sum(labels) - labels; d/dlabels = -log_softmax
  tft::check_close(logits.grad(), {-0.009969426829619571, 0.04472847105479766, -0.03475904422517806,
                                   -0.42590300703230544, 0.07769557914857057, 0.3482074278837349});
  tft::check_close(labels.grad(), {2.4076059644443806, 1.4076059644443804, 0.40760596444438035, 0.5549569196419906,
                                   2.554956919641991, 1.0549569196419906});
  // rank 1: one example, a scalar loss
  Tensor one = nn::softmax_cross_entropy_with_logits(tensor({0, 0, 1}), tensor({1, 2, 3}));
  BOOST_TEST(one.shape() == Shape{});
  tft::check_close(one, {0.40760596444438035});
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_is_stable_for_logits_of_1e4) {
  for (DType dt : {float32, float64}) {
    Tensor logits = tensor({{1e4, 0, -1e4}, {1e4, 1e4, -1e4}, {-1e4, -1e4, 1e4}}, dt).requires_grad_();
    Tensor labels = tensor({{0, 1, 0}, {0.5, 0.5, 0}, {0, 0, 1}}, dt);
    Tensor loss = nn::softmax_cross_entropy_with_logits(labels, logits);
    check_finite(loss);
    tft::check_close(loss, {1e4, 0.6931471805599453, 0}, 2e-3);
    reduce_sum(loss).backward();
    check_finite(logits.grad());
    tft::check_close(logits.grad(), {1, -1, 0, 0, 0, 0, 0, 0, 0}, 1e-6);
  }
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_gradcheck) {
  for (const Shape& s : {Shape{3}, Shape{1, 1}, Shape{4, 5}, Shape{2, 3, 4}}) {
    tft::check_grad([](std::span<const Tensor> in) { return nn::softmax_cross_entropy_with_logits(in[0], in[1]); },
                    {labels64(s), tft::rand64(s, -3, 3)});
    // logits only (the usual case: labels are data)
    Tensor fixed = labels64(s).detach();
    tft::check_grad([&](std::span<const Tensor> in) { return nn::softmax_cross_entropy_with_logits(fixed, in[0]); },
                    {tft::rand64(s, -3, 3)});
  }
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_errors) {
  const char* op = "softmax_cross_entropy_with_logits";
  TF_CHECK_THROWS_WITH(nn::softmax_cross_entropy_with_logits(ones({2, 3}), ones({2, 4})), ShapeError, op, "[2,3]",
                       "[2,4]");
  TF_CHECK_THROWS_WITH(nn::softmax_cross_entropy_with_logits(ones({2, 3}, float64), ones({2, 3})), DTypeError, op,
                       "float64", "float32");
  TF_CHECK_THROWS_WITH(nn::softmax_cross_entropy_with_logits(scalar(1), scalar(1)), ShapeError, op, "rank >= 1");
}

// ---------------------------------------------------------------------------- sparse_softmax_cross_entropy_with_logits

BOOST_AUTO_TEST_CASE(sparse_softmax_cross_entropy_values_and_gradients) {
  for (DType label_dtype : {int32, int64}) {
    Tensor logits = logits2x3().requires_grad_();
    Tensor loss = nn::sparse_softmax_cross_entropy_with_logits(tensor({2, 0}, label_dtype), logits);
    BOOST_TEST(loss.shape() == Shape({2}));
    BOOST_TEST(loss.dtype() == float64);
    tft::check_close(loss, {0.40760596444438035, 0.5549569196419906});
    reduce_sum(loss * tensor({1, 2}, float64)).backward();
    // (softmax - one_hot(labels)) · g, with g = 1 and 2
    tft::check_close(logits.grad(), {0.09003057317038043, 0.24472847105479767, -0.3347590442251781,
                                     2 * -0.42590300703230544, 2 * 0.07769557914857057, 2 * 0.3482074278837349});
  }
  // agrees with the dense form on one-hot labels
  Tensor labels = tensor({{1, 2}, {0, 1}}, int64);
  Tensor logits = reshape(arange(12), {2, 2, 3}) * 0.3;
  Tensor sparse = nn::sparse_softmax_cross_entropy_with_logits(labels, logits);
  BOOST_TEST(sparse.shape() == Shape({2, 2}));
  tft::check_close(sparse, nn::softmax_cross_entropy_with_logits(one_hot(labels, 3), logits).to_vector<double>(), 1e-6);
  // a single example: labels [] against logits [classes]
  tft::check_close(nn::sparse_softmax_cross_entropy_with_logits(scalar(2, int32), tensor({1, 2, 3})),
                   {0.40760596444438035});
}

BOOST_AUTO_TEST_CASE(sparse_softmax_cross_entropy_is_stable_for_logits_of_1e4) {
  for (DType dt : {float32, float64}) {
    Tensor logits = tensor({{1e4, 0, -1e4}, {-1e4, 1e4, 0}, {1e4, 1e4, -1e4}}, dt).requires_grad_();
    Tensor loss = nn::sparse_softmax_cross_entropy_with_logits(tensor({1, 1, 0}, int64), logits);
    check_finite(loss);
    tft::check_close(loss, {1e4, 0, 0.6931471805599453}, 2e-3);
    reduce_sum(loss).backward();
    check_finite(logits.grad());
    tft::check_close(logits.grad(), {1, -1, 0, 0, 0, 0, -0.5, 0.5, 0}, 1e-6);
  }
}

BOOST_AUTO_TEST_CASE(sparse_softmax_cross_entropy_gradcheck) {
  tft::check_grad([](std::span<const Tensor> in) {
    return nn::sparse_softmax_cross_entropy_with_logits(tensor({4, 0, 2, 4}, int64), in[0]);
  }, {tft::rand64({4, 5}, -3, 3)});
  tft::check_grad([](std::span<const Tensor> in) {
    return nn::sparse_softmax_cross_entropy_with_logits(scalar(1, int32), in[0]);
  }, {tft::rand64({3}, -3, 3)});
  tft::check_grad([](std::span<const Tensor> in) {
    return nn::sparse_softmax_cross_entropy_with_logits(tensor({0}, int32), in[0]);
  }, {tft::rand64({1, 1}, -3, 3)});
  tft::check_grad([](std::span<const Tensor> in) {
    return nn::sparse_softmax_cross_entropy_with_logits(tensor({{0, 3, 1}, {2, 2, 0}}, int32), in[0]);
  }, {tft::rand64({2, 3, 4}, -3, 3)});
}

BOOST_AUTO_TEST_CASE(sparse_label_out_of_range) {
  const char* op = "sparse_softmax_cross_entropy_with_logits";
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(tensor({0, 3}, int64), ones({2, 3})), ValueError,
                       op, "label value of 3", "position 1", "[0, 3)", "[2,3]");
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(tensor({-1, 0}, int32), ones({2, 3})), ValueError,
                       op, "label value of -1");
}

BOOST_AUTO_TEST_CASE(sparse_softmax_cross_entropy_other_errors) {
  const char* op = "sparse_softmax_cross_entropy_with_logits";
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(tensor({0, 1}), ones({2, 3})), DTypeError, op,
                       "float32", "softmax_cross_entropy_with_logits");
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(tensor({0, 1, 2}, int64), ones({2, 3})),
                       ShapeError, op, "[3]", "[2,3]");
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(tensor({{0, 1}}, int64), ones({2, 3})),
                       ShapeError, op, "[1,2]", "[2,3]");
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(tensor({0, 1}, int64), ones({2, 3}, int32)),
                       DTypeError, op, "int32");
}

// ---------------------------------------------------------------------------- l2_loss, in_top_k

BOOST_AUTO_TEST_CASE(l2_loss_values_and_gradcheck) {
  Tensor l = nn::l2_loss(tensor({1, 2, 3}));
  BOOST_TEST(l.shape() == Shape{});
  tft::check_close(l, {7});
  tft::check_close(nn::l2_loss(tensor({{-2, 0.5}}, float64)), {2.125});
  tft::check_close(grad_of_sum([](const Tensor& t) { return nn::l2_loss(t); }, tensor({-2, 0.5}, float64)), {-2, 0.5});
  for (const Shape& s : {Shape{}, Shape{1, 1}, Shape{3, 4}})
    tft::check_grad([](std::span<const Tensor> in) { return nn::l2_loss(in[0]); }, {tft::rand64(s)});
  TF_CHECK_THROWS_WITH(nn::l2_loss(tensor({1, 2}, int32)), DTypeError, "l2_loss", "int32");
}

BOOST_AUTO_TEST_CASE(in_top_k_with_ties_as_tensorflow) {
  Tensor pred = tensor({{0.1, 0.5, 0.3, 0.5}, {0.9, 0.05, 0.05, 0}, {1, 2, 3, 4}});
  Tensor targets = tensor({1, 2, 0}, int64);
  Tensor k1 = nn::in_top_k(pred, targets, 1);
  BOOST_TEST(k1.dtype() == bool_);
  BOOST_TEST(k1.shape() == Shape({3}));
  // row 0: the target ties for first place with class 3: both count as inside the top 1
  tft::check_close(k1, {1, 0, 0});
  // row 1: one class is larger, the target ties with class 1 for second place
  tft::check_close(nn::in_top_k(pred, targets, 2), {1, 1, 0});
  tft::check_close(nn::in_top_k(pred, targets, 3), {1, 1, 0});
  tft::check_close(nn::in_top_k(pred, targets, 4), {1, 1, 1});
  tft::check_close(nn::in_top_k(pred, tensor({3, 3, 3}, int32), 1), {1, 0, 1});
  tft::check_close(nn::in_top_k(pred, targets, 0), {0, 0, 0});
}

BOOST_AUTO_TEST_CASE(in_top_k_non_finite_and_out_of_range_give_false) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  Tensor pred = tensor({{nan, 1, 0}, {inf, 1, 0}, {0, 1, 2}, {0, 1, 2}}, float64);
  tft::check_close(nn::in_top_k(pred, tensor({1, 1, 3, -1}, int64), 3), {0, 0, 0, 0});
  tft::check_close(nn::in_top_k(pred, tensor({1, 1, 2, 2}, int64), 3), {0, 0, 1, 1});
}

BOOST_AUTO_TEST_CASE(in_top_k_errors) {
  TF_CHECK_THROWS_WITH(nn::in_top_k(ones({3}), tensor({0}, int64), 1), ShapeError, "in_top_k", "[3]", "[1]");
  TF_CHECK_THROWS_WITH(nn::in_top_k(ones({2, 3}), tensor({0, 1, 2}, int64), 1), ShapeError, "in_top_k", "[2,3]", "[3]");
  TF_CHECK_THROWS_WITH(nn::in_top_k(ones({2, 3}), tensor({0, 1}), 1), DTypeError, "in_top_k", "float32");
}

BOOST_AUTO_TEST_SUITE_END()
