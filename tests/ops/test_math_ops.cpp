// sin cos erf log1p expm1 round, the logical ops, cumsum, reduce_variance / reduce_std and norm:
// values against numpy / torch (the Python that computed them is quoted above each), first and
// second order gradchecks over several shapes, and the error messages.
#include <cmath>
#include <functional>
#include <limits>

#include "helpers.h"
#include "ops/reference.h"

using namespace tapeflow;

namespace {

using tft::grad_of_sum;
using tft::pattern;
using tft::weighted_grad;

using Unary = std::function<Tensor(const Tensor&)>;

const std::vector<Shape> kShapes = {Shape{}, Shape{1, 1}, Shape{5}, Shape{3, 4}, Shape{2, 3, 2}};

void grad_unary(const Unary& f, double lo, double hi) {
  for (const Shape& s : kShapes)
    tft::check_grad([&](std::span<const Tensor> in) { return f(in[0]); }, {tft::rand64(s, lo, hi)});
}

/// A float64 leaf of `shape`, uniform in [lo, hi) with a random sign: |x| >= lo (away from 0).
Tensor signed_away_from_zero(const Shape& shape, double lo, double hi, unsigned seed) {
  Tensor t = tft::rand64(shape, lo, hi, seed).detach().clone();
  Tensor sign = tft::rand64(shape, -1, 1, seed + 1).detach();
  double* p = t.data<double>();
  const double* s = sign.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (s[i] < 0) p[i] = -p[i];
  t.requires_grad_();
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(math_ops)

// ---------------------------------------------------------------------------- sin cos erf log1p expm1

BOOST_AUTO_TEST_CASE(trigonometric_and_erf_values_against_torch) {
  // x = torch.tensor([-2.5, -0.5, 0.3, 1.5, 2.5], dtype=torch.float64, requires_grad=True)
  // for f in (torch.sin, torch.cos, torch.erf):
  //     y = f(x); g, = torch.autograd.grad(y.sum(), x)
  Tensor x = tensor({-2.5, -0.5, 0.3, 1.5, 2.5}, float64);
  tft::check_close(sin(x), {-0.5984721441039564, -0.479425538604203, 0.29552020666133955, 0.9974949866040544,
                            0.5984721441039564}, 1e-14, 1e-14);
  tft::check_close(grad_of_sum([](const Tensor& t) { return sin(t); }, x),
                   {-0.8011436155469337, 0.8775825618903728, 0.955336489125606, 0.0707372016677029,
                    -0.8011436155469337}, 1e-14, 1e-14);
  tft::check_close(cos(x), {-0.8011436155469337, 0.8775825618903728, 0.955336489125606, 0.0707372016677029,
                            -0.8011436155469337}, 1e-14, 1e-14);
  tft::check_close(grad_of_sum([](const Tensor& t) { return cos(t); }, x),
                   {0.5984721441039564, 0.479425538604203, -0.29552020666133955, -0.9974949866040544,
                    -0.5984721441039564}, 1e-14, 1e-14);
  tft::check_close(erf(x), {-0.999593047982555, -0.5204998778130465, 0.3286267594591274, 0.9661051464753108,
                            0.999593047982555}, 1e-14, 1e-14);
  tft::check_close(grad_of_sum([](const Tensor& t) { return erf(t); }, x),
                   {0.00217828423035271, 0.8787825789354448, 1.031260909618963, 0.11893028922362936,
                    0.00217828423035271}, 1e-14, 1e-13);
  // float32 in, float32 out
  Tensor s = sin(tensor({0.5f}));
  BOOST_TEST(s.dtype() == float32);
  tft::check_close(s, {0.479425538604203}, 1e-6);
  tft::check_close(erf(tensor({0.3f})), {0.3286267594591274}, 1e-6);
}

BOOST_AUTO_TEST_CASE(log1p_and_expm1_keep_the_digits_of_small_arguments) {
  // p = torch.tensor([-0.5, 0.0, 1e-10, 3.0], dtype=torch.float64, requires_grad=True)
  // y = torch.log1p(p); g, = torch.autograd.grad(y.sum(), p)
  Tensor p = tensor({-0.5, 0.0, 1e-10, 3.0}, float64);
  tft::check_close(log1p(p), {-0.6931471805599453, 0.0, 9.999999999500001e-11, 1.3862943611198906}, 0, 1e-15);
  tft::check_close(grad_of_sum([](const Tensor& t) { return log1p(t); }, p), {2.0, 1.0, 0.9999999999, 0.25}, 0, 1e-15);
  // e = torch.tensor([-30.0, -1e-10, 0.5, 2.0], dtype=torch.float64); torch.expm1(e)
  Tensor e = tensor({-30.0, -1e-10, 0.5, 2.0}, float64);
  tft::check_close(expm1(e), {-0.9999999999999064, -9.999999999500001e-11, 0.6487212707001282, 6.38905609893065}, 0,
                   1e-15);
  // The gradient is e^x: [math.exp(v) for v in (-30.0, -1e-10, 0.5, 2.0)]. (torch's backward of
  // expm1 computes y + 1, which at -30 keeps three digits: 9.35918009759007e-14.)
  tft::check_close(grad_of_sum([](const Tensor& t) { return expm1(t); }, e),
                   {9.357622968840175e-14, 0.9999999999, 1.6487212707001282, 7.38905609893065}, 0, 1e-14);
}

BOOST_AUTO_TEST_CASE(sin_cos_erf_log1p_expm1_gradcheck) {
  grad_unary([](const Tensor& t) { return sin(t); }, -3, 3);
  grad_unary([](const Tensor& t) { return cos(t); }, -3, 3);
  grad_unary([](const Tensor& t) { return erf(t); }, -2, 2);
  grad_unary([](const Tensor& t) { return log1p(t); }, -0.5, 2);
  grad_unary([](const Tensor& t) { return expm1(t); }, -2, 2);
  // Composed with a broadcast product, as in GELU: x * (1 + erf(x / sqrt 2)) / 2.
  tft::check_grad([](std::span<const Tensor> in) { return in[0] * (erf(in[0] * in[1]) + 1.0) * 0.5; },
                  {tft::rand64({3, 4}), tft::rand64({4}, 0.5, 1.0, 3)});
}

// ---------------------------------------------------------------------------- round

BOOST_AUTO_TEST_CASE(round_halves_to_even_as_numpy) {
  // np.round(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4999, -3.7, 1e15 + 0.5]))
  Tensor r = tensor({-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4999, -3.7, 1e15 + 0.5}, float64);
  tft::check_close(round(r), {-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 0.0, -4.0, 1000000000000000.0}, 0, 0);
  Tensor f = round(tensor({0.5f, 1.5f, 2.5f, -0.5f}));
  BOOST_TEST(f.dtype() == float32);
  tft::check_close(f, {0, 2, 2, 0}, 0, 0);
  BOOST_TEST(std::signbit(f.to_vector<float>()[3]));  // -0.5 rounds to -0, as numpy
  // Integers are already whole.
  Tensor i = round(tensor({-3, 7}, int64));
  BOOST_TEST(i.dtype() == int64);
  tft::check_close(i, {-3, 7}, 0, 0);
  TF_CHECK_THROWS_WITH(round(ones({2}, bool_)), DTypeError, "round: expected a numeric tensor, got bool [2]");
}

BOOST_AUTO_TEST_CASE(round_has_a_zero_gradient) {
  tft::check_close(grad_of_sum([](const Tensor& t) { return round(t) * t; }, tensor({0.7, -1.2, 2.5}, float64)),
                   {1, -1, 2});  // d(round(x) x) = round(x): the round itself contributes nothing
  // Away from the half-integers round is flat: both orders of finite differences are 0.
  for (const Shape& s : kShapes)
    tft::check_grad([](std::span<const Tensor> in) { return round(in[0]) * in[0]; }, {tft::rand64(s, 0.6, 1.4)});
}

// ---------------------------------------------------------------------------- logical

BOOST_AUTO_TEST_CASE(logical_ops_values_and_broadcasting) {
  Tensor a = tensor({1, 1, 0, 0, 1}, bool_), b = tensor({1, 0, 1, 0, 0}, bool_);
  Tensor both = logical_and(a, b);
  BOOST_TEST(both.dtype() == bool_);
  tft::check_close(both, {1, 0, 0, 0, 0}, 0, 0);
  tft::check_close(logical_or(a, b), {1, 1, 1, 0, 1}, 0, 0);
  tft::check_close(logical_not(a), {0, 0, 1, 1, 0}, 0, 0);
  // [2,1] with [3] -> [2,3]
  Tensor col = reshape(tensor({1, 0}, bool_), {2, 1}), row = tensor({1, 0, 1}, bool_);
  Tensor outer = logical_and(col, row);
  BOOST_TEST(outer.shape() == Shape({2, 3}));
  tft::check_close(outer, {1, 0, 1, 0, 0, 0}, 0, 0);
  tft::check_close(logical_or(col, row), {1, 1, 1, 1, 0, 1}, 0, 0);
  tft::check_close(logical_or(scalar(0, bool_), row), {1, 0, 1}, 0, 0);
  // A causal mask from comparisons.
  Tensor i = reshape(arange(3), {3, 1}), j = arange(3);
  tft::check_close(logical_and(greater_equal(i, j), greater(j, scalar(0))), {0, 0, 0, 0, 1, 0, 0, 1, 1}, 0, 0);
}

BOOST_AUTO_TEST_CASE(logical_ops_take_bool_only) {
  TF_CHECK_THROWS_WITH(logical_and(ones({2}), tensor({1, 0}, bool_)), DTypeError,
                       "logical_and: x must be bool, got float32 [2]");
  TF_CHECK_THROWS_WITH(logical_or(tensor({1, 0}, bool_), ones({2, 1}, int32)), DTypeError,
                       "logical_or: y must be bool, got int32 [2,1]");
  TF_CHECK_THROWS_WITH(logical_not(ones({3}, uint8)), DTypeError, "logical_not: x must be bool, got uint8 [3]");
  TF_CHECK_THROWS_WITH(logical_and(ones({2}, bool_), ones({3}, bool_)), ShapeError, "logical_and", "[2]", "[3]",
                       "cannot be broadcast");
}

// ---------------------------------------------------------------------------- cumsum

BOOST_AUTO_TEST_CASE(cumsum_values_against_numpy) {
  // x = np.arange(1, 13, dtype=np.float64).reshape(2, 3, 2)
  // def tf_cumsum(x, axis, exclusive, reverse):
  //     if reverse: x = np.flip(x, axis)
  //     c = np.cumsum(x, axis)
  //     if exclusive: c = c - x
  //     if reverse: c = np.flip(c, axis)
  //     return c
  Tensor x = reshape(arange(1, 13, 1, float64), {2, 3, 2});
  struct Case {
    int axis;
    bool exclusive, reverse;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {0, false, false, {1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 18}},
      {0, false, true, {8, 10, 12, 14, 16, 18, 7, 8, 9, 10, 11, 12}},
      {0, true, false, {0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6}},
      {0, true, true, {7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 0, 0}},
      {1, false, false, {1, 2, 4, 6, 9, 12, 7, 8, 16, 18, 27, 30}},
      {1, false, true, {9, 12, 8, 10, 5, 6, 27, 30, 20, 22, 11, 12}},
      {1, true, false, {0, 0, 1, 2, 4, 6, 0, 0, 7, 8, 16, 18}},
      {1, true, true, {8, 10, 5, 6, 0, 0, 20, 22, 11, 12, 0, 0}},
      {-1, false, false, {1, 3, 3, 7, 5, 11, 7, 15, 9, 19, 11, 23}},
      {-1, false, true, {3, 2, 7, 4, 11, 6, 15, 8, 19, 10, 23, 12}},
      {-1, true, false, {0, 1, 0, 3, 0, 5, 0, 7, 0, 9, 0, 11}},
      {-1, true, true, {2, 0, 4, 0, 6, 0, 8, 0, 10, 0, 12, 0}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("axis " << c.axis << " exclusive " << c.exclusive << " reverse " << c.reverse) {
      Tensor y = cumsum(x, c.axis, c.exclusive, c.reverse);
      BOOST_TEST(y.shape() == x.shape());
      tft::check_close(y, c.expected, 0, 0);
      // The same sums in int32.
      Tensor n = cumsum(cast(x, int32), c.axis, c.exclusive, c.reverse);
      BOOST_TEST(n.dtype() == int32);
      tft::check_close(n, c.expected, 0, 0);
    }
  }
  tft::check_close(cumsum(tensor({1.5, -2, 4})), {1.5, -0.5, 3.5});  // the default: axis 0, inclusive
}

BOOST_AUTO_TEST_CASE(cumsum_gradient_values_against_torch) {
  // w = torch.tensor(pattern((2, 3, 2), 0.5, 0.25)); xt = torch.tensor(x, requires_grad=True)
  // xx = torch.flip(xt, [1]) if reverse else xt; c = torch.cumsum(xx, 1)
  // if exclusive: c = c - xx
  // if reverse: c = torch.flip(c, [1])
  // g, = torch.autograd.grad((w * c).sum(), xt)
  Tensor x = reshape(arange(1, 13, 1, float64), {2, 3, 2});
  auto grad = [&](bool exclusive, bool reverse) {
    return weighted_grad([=](const Tensor& t) { return cumsum(t, 1, exclusive, reverse); }, x);
  };
  tft::check_close(grad(false, false), {5.25, 10.25, 5, 6.5, 3.25, 1.25, 7.75, 7.25, 3, 4.5, 2.25, 0.25});
  tft::check_close(grad(false, true), {0.25, 3.75, 2, 9, 5.25, 10.25, 4.75, 2.75, 5.5, 7, 7.75, 7.25});
  tft::check_close(grad(true, false), {5, 6.5, 3.25, 1.25, 0, 0, 3, 4.5, 2.25, 0.25, 0, 0});
  tft::check_close(grad(true, true), {0, 0, 0.25, 3.75, 2, 9, 0, 0, 4.75, 2.75, 5.5, 7});
}

BOOST_AUTO_TEST_CASE(cumsum_gradcheck) {
  const std::vector<std::pair<Shape, int>> cases = {
      {Shape{1}, 0}, {Shape{5}, 0}, {Shape{1, 1}, 1}, {Shape{3, 4}, 0}, {Shape{3, 4}, -1}, {Shape{2, 3, 2}, 1}};
  for (const auto& [s, axis] : cases)
    for (bool exclusive : {false, true})
      for (bool reverse : {false, true})
        tft::check_grad([=, axis = axis](std::span<const Tensor> in) {
          return square(cumsum(in[0], axis, exclusive, reverse));
        },
                        {tft::rand64(s)});
}

BOOST_AUTO_TEST_CASE(cumsum_errors) {
  TF_CHECK_THROWS_WITH(cumsum(ones({2, 3}), 2), ValueError,
                       "cumsum: axis 2 is out of range for a tensor of rank 2 (valid: [-2, 1])");
  TF_CHECK_THROWS_WITH(cumsum(scalar(1.0)), ValueError, "cumsum: needs a tensor of rank >= 1", "got a scalar",
                       "reshape it to [1]");
  TF_CHECK_THROWS_WITH(cumsum(ones({2}, bool_)), DTypeError, "cumsum: expected a numeric tensor, got bool [2]");
}

// ---------------------------------------------------------------------------- variance, std

BOOST_AUTO_TEST_CASE(variance_and_std_values_against_numpy) {
  // x = pattern((3, 4))   (((np.arange(12) * 7) % 11) * 0.2 - 1.0).reshape(3, 4)
  // np.var(x), np.var(x, 0), np.var(x, 1), np.std(x), np.std(x, 1)
  Tensor x = pattern({3, 4});
  tft::check_close(reduce_variance(x), {0.4430555555555556}, 1e-15, 1e-14);
  tft::check_close(reduce_variance(x, {0}), {0.2755555555555556, 0.2755555555555556, 0.2755555555555555,
                                             0.6666666666666666}, 1e-15, 1e-14);
  tft::check_close(reduce_variance(x, {1}), {0.5800000000000001, 0.25, 0.38750000000000007}, 1e-15, 1e-14);
  tft::check_close(reduce_std(x), {0.665624184923862}, 1e-15, 1e-14);
  tft::check_close(reduce_std(x, {-1}), {0.7615773105863909, 0.5, 0.6224949798994367}, 1e-15, 1e-14);
  Tensor k = reduce_variance(x, {1}, true);
  BOOST_TEST(k.shape() == Shape({3, 1}));
  BOOST_TEST(reduce_std(x, {0, 1}, true).shape() == Shape({1, 1}));
  BOOST_TEST(reduce_variance(cast(x, float32)).dtype() == float32);
}

BOOST_AUTO_TEST_CASE(variance_and_std_gradcheck) {
  struct Case {
    Shape shape;
    Axes axes;
    bool keepdims;
  };
  const std::vector<Case> cases = {{Shape{5}, {}, false},     {Shape{3, 4}, {1}, false}, {Shape{3, 4}, {0}, true},
                                   {Shape{3, 4}, {}, false},  {Shape{2, 3, 2}, {0, 2}, true},
                                   {Shape{2, 3, 2}, {-1}, false}};
  for (const Case& c : cases) {
    tft::check_grad([&](std::span<const Tensor> in) { return reduce_variance(in[0], c.axes, c.keepdims); },
                    {tft::rand64(c.shape)});
    tft::check_grad([&](std::span<const Tensor> in) { return reduce_std(in[0], c.axes, c.keepdims); },
                    {tft::rand64(c.shape)});
  }
}

BOOST_AUTO_TEST_CASE(variance_and_std_errors) {
  TF_CHECK_THROWS_WITH(reduce_variance(ones({3}, int32)), DTypeError,
                       "reduce_variance: expected a float32 or float64 tensor, got int32 [3]");
  TF_CHECK_THROWS_WITH(reduce_std(ones({2, 3}), {2}), ValueError,
                       "reduce_std: axis 2 is out of range for a tensor of rank 2");
  TF_CHECK_THROWS_WITH(reduce_variance(ones({2, 3}), {1, -1}), ValueError,
                       "reduce_variance: axis listed twice for a tensor of shape [2,3]");
}

// ---------------------------------------------------------------------------- norm

BOOST_AUTO_TEST_CASE(norm_values_against_numpy) {
  // x = pattern((3, 4)); b = pattern((2, 3, 4))
  // np.linalg.norm(x.ravel()), np.linalg.norm(x, axis=1), np.linalg.norm(x, 1, axis=1),
  // np.linalg.norm(x, np.inf, axis=0), np.linalg.norm(x, 3, axis=1)
  // np.linalg.norm(x, 'fro'), np.linalg.norm(x, 1), np.linalg.norm(x, np.inf)
  // np.linalg.norm(b, 1, axis=(1, 2)), np.linalg.norm(b, np.inf, axis=(2, 1)), np.linalg.norm(b, 'fro', axis=(0, 2))
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x = pattern({3, 4}), b = pattern({2, 3, 4});
  Tensor all = norm(x);
  BOOST_TEST(all.shape() == Shape{});
  tft::check_close(all, {2.32379000772445}, 1e-14, 1e-14);
  tft::check_close(norm(x, "euclidean", {1}), {1.5231546211727818, 1.019803902718557, 1.42828568570857}, 1e-14, 1e-14);
  tft::check_close(norm(x, 2, {1}), {1.5231546211727818, 1.019803902718557, 1.42828568570857}, 1e-14, 1e-14);
  tft::check_close(norm(x, 1, {1}), {2.8, 1.6, 2.6}, 1e-14, 1e-14);
  tft::check_close(norm(x, inf, {0}), {1, 0.6000000000000001, 0.8, 1}, 1e-14, 1e-14);
  tft::check_close(norm(x, 3, {1}), {1.286245518275925, 0.9028714870948004, 1.2018490013834733}, 1e-14, 1e-14);
  tft::check_close(norm(x, "fro", {0, 1}), {2.32379000772445}, 1e-14, 1e-14);
  tft::check_close(norm(x, "euclidean", {0, 1}), {2.32379000772445}, 1e-14, 1e-14);
  tft::check_close(norm(x, 1, {0, 1}), {2}, 1e-14, 1e-14);
  tft::check_close(norm(x, inf, {0, 1}), {2.8}, 1e-14, 1e-14);
  tft::check_close(norm(b, 1, {1, 2}), {2, 2}, 1e-14, 1e-14);
  tft::check_close(norm(b, inf, {2, 1}), {2, 2}, 1e-14, 1e-14);
  tft::check_close(norm(b, "fro", {0, 2}), {1.9183326093250879, 1.6370705543744901, 1.8973665961010278}, 1e-14, 1e-14);
  // keepdims keeps the normed axes as 1.
  BOOST_TEST(norm(x, "euclidean", {1}, true).shape() == Shape({3, 1}));
  BOOST_TEST(norm(b, 1, {1, 2}, true).shape() == Shape({2, 1, 1}));
  BOOST_TEST(norm(b, "euclidean", {}, true).shape() == Shape({1, 1, 1}));
}

BOOST_AUTO_TEST_CASE(norm_gradcheck) {
  const double inf = std::numeric_limits<double>::infinity();
  // |x| >= 0.2 everywhere: away from the kink of abs; random values: no ties for the maxima.
  for (const Shape& s : {Shape{5}, Shape{1, 1}, Shape{3, 4}, Shape{2, 3, 2}}) {
    Tensor x = signed_away_from_zero(s, 0.2, 1.0, 5);
    tft::check_grad([](std::span<const Tensor> in) { return norm(in[0]); }, {x});
    tft::check_grad([](std::span<const Tensor> in) { return norm(in[0], 1); }, {x});
    tft::check_grad([=](std::span<const Tensor> in) { return norm(in[0], inf); }, {x});
    tft::check_grad([](std::span<const Tensor> in) { return norm(in[0], 3, {-1}); }, {x});
    tft::check_grad([](std::span<const Tensor> in) { return norm(in[0], "euclidean", {0}, true); }, {x});
    if (s.rank() >= 2) {
      tft::check_grad([](std::span<const Tensor> in) { return norm(in[0], "fro", {0, 1}); }, {x});
      tft::check_grad([](std::span<const Tensor> in) { return norm(in[0], 1, {0, 1}); }, {x});
      tft::check_grad([=](std::span<const Tensor> in) { return norm(in[0], inf, {-1, 0}, true); }, {x});
    }
  }
}

BOOST_AUTO_TEST_CASE(norm_errors) {
  Tensor x = ones({3, 4});
  TF_CHECK_THROWS_WITH(norm(x, "fro", {1}), ValueError, "norm: 'fro' is a matrix norm, but [3,4] is normed as a vector",
                       "give two axes");
  TF_CHECK_THROWS_WITH(norm(x, "nuc"), ValueError, "norm: unknown ord 'nuc'", "\"euclidean\"");
  TF_CHECK_THROWS_WITH(norm(x, 0.0), ValueError, "norm: ord must be > 0, got 0");
  TF_CHECK_THROWS_WITH(norm(x, 2, {0, 1}), ValueError, "norm: ord 2 of a matrix is not supported",
                       "largest singular value", "\"fro\", 1 or INFINITY");
  TF_CHECK_THROWS_WITH(norm(ones({2, 2, 2}), 1, {0, 1, 2}), ValueError, "norm: axis [0,1,2] names 3 dimensions of [2,2,2]");
  TF_CHECK_THROWS_WITH(norm(x, 1, {1, -1}), ValueError, "norm: the two axes of a matrix norm must differ, got [1,-1]");
  TF_CHECK_THROWS_WITH(norm(x, 1, {2}), ValueError, "norm: axis 2 is out of range for a tensor of rank 2");
  TF_CHECK_THROWS_WITH(norm(ones({3}, int32)), DTypeError, "norm: expected a float32 or float64 tensor, got int32 [3]");
}

BOOST_AUTO_TEST_SUITE_END()
