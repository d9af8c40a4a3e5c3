// Reductions: values over axes with keepdims, tie handling, stability of logsumexp, argmax/argmin,
// gradchecks, and the error messages.
#include <cmath>
#include <functional>
#include <limits>

#include "helpers.h"
#include "tapeflow/nn/functional.h"

using namespace tapeflow;

namespace {

using tft::grad_of_sum;

using Reduce = std::function<Tensor(const Tensor&, const Axes&, bool)>;

struct Case {
  Shape shape;
  Axes axes;
};

// Scalars, 1x1, single axes (negative too), all axes, adjacent and non-adjacent axis sets.
const std::vector<Case> kCases = {
    {Shape{}, {}},        {Shape{1, 1}, {}},       {Shape{1, 1}, {0}},      {Shape{5}, {}},
    {Shape{3, 4}, {0}},   {Shape{3, 4}, {1}},      {Shape{3, 4}, {-1}},     {Shape{3, 4}, {}},
    {Shape{2, 3, 4}, {1}}, {Shape{2, 3, 4}, {0, 2}}, {Shape{2, 3, 4}, {-1, 0}}, {Shape{2, 3, 4}, {0, 1}},
    {Shape{2, 3, 4}, {}},
};

void grad_reduce(const Reduce& f, double lo = -1, double hi = 1) {
  for (const Case& c : kCases)
    for (bool keep : {false, true})
      tft::check_grad([&](std::span<const Tensor> in) { return f(in[0], c.axes, keep); }, {tft::rand64(c.shape, lo, hi)});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reduce_ops)

BOOST_AUTO_TEST_CASE(reduce_sum_values_and_shapes) {
  Tensor x = cast(reshape(arange(24), {2, 3, 4}), float64);
  Tensor all = reduce_sum(x);
  BOOST_TEST(all.shape() == Shape{});
  tft::check_close(all, {276});
  Tensor a02 = reduce_sum(x, {0, 2});
  BOOST_TEST(a02.shape() == Shape({3}));
  tft::check_close(a02, {60, 92, 124});
  Tensor a1 = reduce_sum(x, {1}, true);
  BOOST_TEST(a1.shape() == Shape({2, 1, 4}));
  tft::check_close(a1, {12, 15, 18, 21, 48, 51, 54, 57});
  BOOST_TEST(reduce_sum(x, {-1}).shape() == Shape({2, 3}));
  tft::check_close(reduce_sum(x, {-1}), {6, 22, 38, 54, 70, 86});
  BOOST_TEST(reduce_sum(x, {}, true).shape() == Shape({1, 1, 1}));
  BOOST_TEST(reduce_sum(x, {2, 0}, true).shape() == Shape({1, 3, 1}));
  tft::check_close(reduce_sum(scalar(3.5)), {3.5});
  Tensor i = reduce_sum(tensor({{1, 2}, {3, 4}}, int32), {0});
  BOOST_TEST(i.dtype() == int32);
  tft::check_close(i, {4, 6});
  tft::check_close(reduce_sum(tensor({5, 7}, uint8)), {12});
}

BOOST_AUTO_TEST_CASE(reduce_mean_values) {
  Tensor x = cast(reshape(arange(24), {2, 3, 4}), float64);
  tft::check_close(reduce_mean(x), {11.5});
  tft::check_close(reduce_mean(x, {0, 1}), {10, 11, 12, 13});
  Tensor k = reduce_mean(tensor({{1, 2}, {3, 5}}), {1}, true);
  BOOST_TEST(k.shape() == Shape({2, 1}));
  tft::check_close(k, {1.5, 4});
  // Integer means truncate, as TensorFlow's.
  Tensor im = reduce_mean(tensor({2, 4, 7}, int32));
  BOOST_TEST(im.dtype() == int32);
  tft::check_close(im, {4});
  tft::check_close(reduce_mean(tensor({{1, 2}, {10, 30}}, int64), {1}), {1, 20});
  // d mean / dx = 1/n
  tft::check_close(grad_of_sum([](const Tensor& t) { return reduce_mean(t, {0}); }, ones({4, 2}, float64)),
                   std::vector<double>(8, 0.25));
}

BOOST_AUTO_TEST_CASE(reduce_max_min_values) {
  Tensor x = tensor({{1, -2, 3}, {0.5, 4, -1}});
  tft::check_close(reduce_max(x), {4});
  tft::check_close(reduce_min(x), {-2});
  tft::check_close(reduce_max(x, {1}), {3, 4});
  tft::check_close(reduce_min(x, {0}), {0.5, -2, -1});
  Tensor k = reduce_max(x, {-1}, true);
  BOOST_TEST(k.shape() == Shape({2, 1}));
  tft::check_close(reduce_max(tensor({{-5, -7}}, int32), {1}), {-5});
  tft::check_close(reduce_min(tensor({200, 3}, uint8)), {3});
  const double lowest = reduce_max(tensor({-INFINITY, -INFINITY})).item();
  BOOST_TEST((std::isinf(lowest) && lowest < 0));
}

BOOST_AUTO_TEST_CASE(reduce_max_min_split_the_gradient_among_ties) {
  Tensor x = tensor({{1, 3, 3}, {2, 0, 1}}, float64);
  tft::check_close(grad_of_sum([](const Tensor& t) { return reduce_max(t, {1}); }, x), {0, 0.5, 0.5, 1, 0, 0});
  tft::check_close(grad_of_sum([](const Tensor& t) { return reduce_min(t, {0}); }, x), {1, 0, 0, 0, 1, 1});
  tft::check_close(grad_of_sum([](const Tensor& t) { return reduce_min(t); }, tensor({1, 1, 2, 1}, float64)),
                   {1.0 / 3, 1.0 / 3, 0, 1.0 / 3});
  tft::check_close(grad_of_sum([](const Tensor& t) { return reduce_max(t, {}, true); }, x), {0, 0.5, 0.5, 0, 0, 0});
}

BOOST_AUTO_TEST_CASE(reduce_logsumexp_values) {
  Tensor x = tensor({{1, -2, 3}, {0.5, 4, -1}}, float64);
  tft::check_close(reduce_logsumexp(x, {1}), {3.1328452337275756, 4.036269565124779});
  tft::check_close(reduce_logsumexp(x, {0}), {1.4740769841801067, 4.00247568513773, 3.01814992791781});
  tft::check_close(reduce_logsumexp(x), {4.376434839435808});
  Tensor k = reduce_logsumexp(x, {1}, true);
  BOOST_TEST(k.shape() == Shape({2, 1}));
  BOOST_TEST(reduce_logsumexp(x).shape() == Shape{});
  tft::check_close(reduce_logsumexp(tensor({1, 2, 3})), {3.4076059644443806});
  // The gradient is the softmax.
  tft::check_close(grad_of_sum([](const Tensor& t) { return reduce_logsumexp(t, {1}); }, x),
                   {0.11849965453500957, 0.005899750401902781, 0.8756005950630876, 0.029121761537478412,
                    0.96438029514686, 0.006497943315661942});
}

BOOST_AUTO_TEST_CASE(reduce_logsumexp_is_stable) {
  Tensor big = tensor({{1e4, 1e4}, {-1e4, -1e4}}, float64);
  tft::check_close(reduce_logsumexp(big, {1}), {10000.69314718056, -10000 + 0.6931471805599453}, 1e-9);
  tft::check_close(grad_of_sum([](const Tensor& t) { return reduce_logsumexp(t, {1}); }, big), {0.5, 0.5, 0.5, 0.5});
  Tensor f = reduce_logsumexp(tensor({1e4, 0}), {0});
  BOOST_TEST(std::isfinite(f.item()));
  tft::check_close(f, {1e4});
  // -inf entries contribute nothing; an all -inf row gives -inf (not nan).
  tft::check_close(reduce_logsumexp(tensor({-INFINITY, 0}, float64)), {0});
  tft::check_close(grad_of_sum([](const Tensor& t) { return reduce_logsumexp(t); }, tensor({-INFINITY, 0}, float64)),
                   {0, 1});
  const double none = reduce_logsumexp(tensor({-INFINITY, -INFINITY}, float64)).item();
  BOOST_TEST((std::isinf(none) && none < 0));
}

BOOST_AUTO_TEST_CASE(argmax_argmin) {
  Tensor x = tensor({{1, 3, 3}, {5, 0, 5}});
  Tensor am = argmax(x);
  BOOST_TEST(am.dtype() == int64);
  BOOST_TEST(am.shape() == Shape({2}));
  tft::check_close(am, {1, 0});  // the first on ties
  tft::check_close(argmax(x, 0), {1, 0, 1});
  tft::check_close(argmin(x, -1), {0, 1});
  tft::check_close(argmin(x, 0), {0, 1, 0});
  Tensor y = cast(reshape(tensor({3, 9, 1, 4, 2, 8, 7, 0}), {2, 2, 2}), int32);
  BOOST_TEST(argmax(y, 1).shape() == Shape({2, 2}));
  tft::check_close(argmax(y, 1), {0, 0, 1, 0});
  tft::check_close(argmin(y, 2), {0, 0, 0, 1});
  tft::check_close(argmax(tensor({2})), {0});
  BOOST_TEST(!argmax(tft::rand64({3})).requires_grad());
}

BOOST_AUTO_TEST_CASE(sum_to_reduces_broadcast_dims) {
  Tensor g = cast(reshape(arange(12), {2, 3, 2}), float64);
  tft::check_close(sum_to(g, {3, 1}), {1 + 13, 5 + 17, 9 + 21});
  tft::check_close(sum_to(g, {2}), {30, 36});
  tft::check_close(sum_to(g, {}), {66});
  BOOST_TEST(sum_to(g, {2, 3, 2}).is_same(g));
  TF_CHECK_THROWS_WITH(sum_to(g, {4}), ShapeError, "sum_to", "[4]", "[2,3,2]");
  TF_CHECK_THROWS_WITH(sum_to(ones({3}), {1, 3}), ShapeError, "sum_to", "[3]", "[1,3]");
}

BOOST_AUTO_TEST_CASE(reduce_gradcheck) {
  grad_reduce([](const Tensor& x, const Axes& a, bool k) { return reduce_sum(x, a, k); });
  grad_reduce([](const Tensor& x, const Axes& a, bool k) { return reduce_mean(x, a, k); });
  grad_reduce([](const Tensor& x, const Axes& a, bool k) { return reduce_max(x, a, k); });
  grad_reduce([](const Tensor& x, const Axes& a, bool k) { return reduce_min(x, a, k); });
  grad_reduce([](const Tensor& x, const Axes& a, bool k) { return reduce_logsumexp(x, a, k); }, -3, 3);
}

BOOST_AUTO_TEST_CASE(axis_out_of_range) {
  Tensor x = ones({2, 3});
  TF_CHECK_THROWS_WITH(reduce_sum(x, {2}), ValueError, "reduce_sum", "axis 2", "rank 2", "[-2, 1]");
  TF_CHECK_THROWS_WITH(reduce_mean(x, {-3}), ValueError, "reduce_mean", "axis -3", "rank 2");
  TF_CHECK_THROWS_WITH(reduce_max(x, {5}), ValueError, "reduce_max", "axis 5");
  TF_CHECK_THROWS_WITH(reduce_min(x, {0, 2}), ValueError, "reduce_min", "axis 2");
  TF_CHECK_THROWS_WITH(reduce_logsumexp(x, {3}), ValueError, "reduce_logsumexp", "axis 3");
  TF_CHECK_THROWS_WITH(argmax(x, 2), ValueError, "argmax", "axis 2", "rank 2");
  TF_CHECK_THROWS_WITH(argmin(x, -3), ValueError, "argmin", "axis -3");
  TF_CHECK_THROWS_WITH(reduce_sum(scalar(1), {0}), ValueError, "reduce_sum", "axis 0", "rank 0");
}

BOOST_AUTO_TEST_CASE(other_bad_arguments) {
  TF_CHECK_THROWS_WITH(reduce_sum(ones({2, 3}), {0, -2}), ValueError, "reduce_sum", "axis listed twice", "[2,3]");
  TF_CHECK_THROWS_WITH(reduce_max(zeros({0, 3})), ValueError, "reduce_max", "empty", "[0,3]");
  TF_CHECK_THROWS_WITH(argmax(scalar(1)), ValueError, "argmax", "rank >= 1");
  TF_CHECK_THROWS_WITH(argmin(zeros({2, 0}), 1), ValueError, "argmin", "empty", "[2,0]");
  TF_CHECK_THROWS_WITH(reduce_logsumexp(ones({2}, int32)), DTypeError, "reduce_logsumexp", "int32");
  TF_CHECK_THROWS_WITH(reduce_sum(ones({2}, bool_)), DTypeError, "reduce_sum", "bool");
}

BOOST_AUTO_TEST_CASE(mean_of_nothing_is_nan) {
  // numpy, TensorFlow and PyTorch: the mean of no elements is NaN (not the sum's 0).
  BOOST_TEST(std::isnan(reduce_mean(zeros({0})).item()));
  std::vector<float> rows = reduce_mean(zeros({2, 0}), {1}).to_vector<float>();
  BOOST_TEST((rows.size() == 2u && std::isnan(rows[0]) && std::isnan(rows[1])));
  BOOST_TEST(reduce_mean(zeros({0, 3}), {1}).shape().str() == "[0]");  // nothing to average over nothing
  TF_CHECK_THROWS_WITH(reduce_mean(zeros({0}, int32)), ValueError, "reduce_mean: the mean of no elements",
                       "int32 [0]", "cast x to float32");
  // Hence the cross-entropy of an empty batch.
  Tensor logits = zeros({0, 10});
  Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(zeros({0}, int64), logits));
  BOOST_TEST(std::isnan(loss.item()));
  // Its gradient: an empty tensor of the input's shape.
  Tensor x = zeros({0, 4}, float64).requires_grad_();
  reduce_mean(x).backward();
  BOOST_TEST(x.grad().shape().str() == "[0,4]");
}

BOOST_AUTO_TEST_SUITE_END()
