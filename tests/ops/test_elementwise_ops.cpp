// Element-wise ops: values against hand-computed numbers, gradchecks over scalar / 1x1 / plain /
// broadcasting shapes, and the error messages.
#include <cmath>
#include <functional>
#include <limits>
#include <utility>

#include "helpers.h"

using namespace tapeflow;

namespace {

using tft::grad_of_sum;

using Unary = std::function<Tensor(const Tensor&)>;
using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;

const std::vector<Shape> kUnaryShapes = {Shape{}, Shape{1, 1}, Shape{5}, Shape{3, 4}, Shape{2, 3, 2}};

// Operand shapes of the binary gradchecks: equal shapes, and every kind of broadcast.
const std::vector<std::pair<Shape, Shape>> kBinaryShapes = {
    {Shape{}, Shape{}},         {Shape{1, 1}, Shape{1, 1}}, {Shape{3, 4}, Shape{3, 4}},
    {Shape{3, 4}, Shape{4}},    {Shape{4}, Shape{3, 4}},    {Shape{3, 1}, Shape{1, 4}},
    {Shape{}, Shape{2, 3}},     {Shape{2, 3}, Shape{}},     {Shape{2, 1, 3}, Shape{4, 1}},
};

/// Moves every element of a float64 leaf at least `gap` away from each kink (in place).
Tensor away(Tensor t, std::initializer_list<double> kinks, double gap = 0.1) {
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    for (double k : kinks)
      if (std::abs(p[i] - k) < gap) p[i] = p[i] >= k ? k + gap : k - gap;
  return t;
}

void grad_unary(const Unary& f, double lo, double hi, std::initializer_list<double> kinks = {},
                GradcheckOptions opt = {}) {
  for (const Shape& s : kUnaryShapes)
    tft::check_grad([&](std::span<const Tensor> in) { return f(in[0]); }, {away(tft::rand64(s, lo, hi), kinks)}, opt);
}

void grad_binary(const Binary& f, double lo_a, double hi_a, double lo_b, double hi_b) {
  for (const auto& [sa, sb] : kBinaryShapes)
    tft::check_grad([&](std::span<const Tensor> in) { return f(in[0], in[1]); },
                    {tft::rand64(sa, lo_a, hi_a, 7), tft::rand64(sb, lo_b, hi_b, 11)});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(elementwise_ops)

// ---------------------------------------------------------------------------- binary arithmetic

BOOST_AUTO_TEST_CASE(arithmetic_values_with_broadcasting) {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});
  Tensor b = tensor({10, 20, 30});
  Tensor s = add(a, b);
  BOOST_TEST(s.shape() == Shape({2, 3}));
  BOOST_TEST(s.dtype() == float32);
  tft::check_close(s, {11, 22, 33, 14, 25, 36});
  tft::check_close(sub(a, b), {-9, -18, -27, -6, -15, -24});
  tft::check_close(mul(a, b), {10, 40, 90, 40, 100, 180});
  tft::check_close(div(b, a), {10, 10, 10, 2.5, 4, 5});
  // [3,1] op [1,4] -> [3,4]
  Tensor c = reshape(tensor({1, 2, 3}), {3, 1});
  Tensor d = tensor({{1, 10, 100, 1000}});
  Tensor e = mul(c, d);
  BOOST_TEST(e.shape() == Shape({3, 4}));
  tft::check_close(e, {1, 10, 100, 1000, 2, 20, 200, 2000, 3, 30, 300, 3000});
  // [] op [2,3]
  tft::check_close(sub(scalar(1), a), {0, -1, -2, -3, -4, -5});
  // rank-3 against rank-2: [2,1,3] + [4,1] -> [2,4,3]
  Tensor f = add(reshape(arange(6), {2, 1, 3}), reshape(tensor({0, 10, 20, 30}), {4, 1}));
  BOOST_TEST(f.shape() == Shape({2, 4, 3}));
  tft::check_close(slice(f, {1, 2, 0}, {1, 1, 3}), {23, 24, 25});
}

BOOST_AUTO_TEST_CASE(integer_arithmetic_keeps_the_dtype) {
  Tensor a = tensor({1, -2, 3}, int32);
  Tensor b = tensor({4, 5, 6}, int32);
  Tensor s = a + b;
  BOOST_TEST(s.dtype() == int32);
  tft::check_close(s, {5, 3, 9});
  tft::check_close(a * b, {4, -10, 18});
  tft::check_close(b - a, {3, 7, 3});
  Tensor l = tensor({7, 9}, int64) * 2.0;
  BOOST_TEST(l.dtype() == int64);
  tft::check_close(l, {14, 18});
  tft::check_close(neg(a), {-1, 2, -3});
  tft::check_close(square(a), {1, 4, 9});
}

BOOST_AUTO_TEST_CASE(operators_with_scalars) {
  Tensor x = tensor({1, 2, 4}, float64);
  BOOST_TEST((x + 1.0).dtype() == float64);
  tft::check_close(x + 1.0, {2, 3, 5});
  tft::check_close(1.0 + x, {2, 3, 5});
  tft::check_close(x - 1.0, {0, 1, 3});
  tft::check_close(1.0 - x, {0, -1, -3});
  tft::check_close(x * 3.0, {3, 6, 12});
  tft::check_close(3.0 * x, {3, 6, 12});
  tft::check_close(x / 4.0, {0.25, 0.5, 1});
  tft::check_close(4.0 / x, {4, 2, 1});
  tft::check_close(-x, {-1, -2, -4});
  tft::check_close(x + x * x - x / x, {1, 5, 19});
  // A float32 tensor keeps float32 (the number takes the tensor's dtype).
  BOOST_TEST((tensor({1.0}) * 0.5).dtype() == float32);
}

BOOST_AUTO_TEST_CASE(operators_with_scalars_gradcheck) {
  grad_unary([](const Tensor& a) { return 2.0 - a * 3.0 + a / 4.0 - 1.0 / (a + 5.0) + (1.0 + a) * 2.0 - (a - 0.5); },
             -1, 1);
  grad_binary([](const Tensor& a, const Tensor& b) { return a * b - a / (b + 3.0) + b - a; }, -1, 1, -1, 1);
}

BOOST_AUTO_TEST_CASE(add_sub_mul_div_gradcheck) {
  grad_binary([](const Tensor& a, const Tensor& b) { return add(a, b); }, -1, 1, -1, 1);
  grad_binary([](const Tensor& a, const Tensor& b) { return sub(a, b); }, -1, 1, -1, 1);
  grad_binary([](const Tensor& a, const Tensor& b) { return mul(a, b); }, -1, 1, -1, 1);
  grad_binary([](const Tensor& a, const Tensor& b) { return div(a, b); }, -1, 1, 0.5, 2);
  grad_binary([](const Tensor& a, const Tensor& b) { return div(a, b); }, -1, 1, -2, -0.5);
}

BOOST_AUTO_TEST_CASE(broadcast_gradients_are_summed_to_the_input_shape) {
  Tensor a = reshape(tensor({1, 2, 3}, float64), {3, 1}).requires_grad_();
  Tensor b = tensor({{1, 10, 100, 1000}}, float64).requires_grad_();  // [1,4]
  reduce_sum(a * b).backward();
  BOOST_TEST(a.grad().shape() == Shape({3, 1}));
  BOOST_TEST(b.grad().shape() == Shape({1, 4}));
  tft::check_close(a.grad(), {1111, 1111, 1111});
  tft::check_close(b.grad(), {6, 6, 6, 6});
  Tensor s = scalar(2, float64).requires_grad_();
  Tensor m = ones({2, 3}, float64).requires_grad_();
  reduce_sum(s - m).backward();
  BOOST_TEST(s.grad().shape() == Shape{});
  tft::check_close(s.grad(), {6});
  tft::check_close(m.grad(), {-1, -1, -1, -1, -1, -1});
}

BOOST_AUTO_TEST_CASE(only_inputs_that_require_grad_get_one) {
  Tensor x = tensor({1, 2}, float64).requires_grad_();
  Tensor c = tensor({3, 4}, float64);
  reduce_sum(x * c).backward();
  tft::check_close(x.grad(), {3, 4});
  BOOST_TEST(!c.grad().defined());
  BOOST_TEST(!(c * c).requires_grad());
}

// ---------------------------------------------------------------------------- pow, maximum, minimum

BOOST_AUTO_TEST_CASE(pow_values) {
  tft::check_close(pow(tensor({1.5, 2, 4}), tensor({2, -1, 0.5})), {2.25, 0.5, 2});
  tft::check_close(pow(tensor({-2, 3}), 3.0), {-8, 27});
  tft::check_close(pow(tensor({{1, 2}, {3, 4}}), tensor({2})), {1, 4, 9, 16});
  // d/da a^3 = 3a^2; d/db 2^b = 2^b ln 2
  tft::check_close(grad_of_sum([](const Tensor& a) { return pow(a, 3.0); }, tensor({-2, 3}, float64)), {12, 27});
  tft::check_close(grad_of_sum([](const Tensor& b) { return pow(scalar(2, float64), b); }, tensor({0, 3}, float64)),
                   {0.6931471805599453, 5.545177444479562});
}

BOOST_AUTO_TEST_CASE(pow_gradcheck) {
  grad_binary([](const Tensor& a, const Tensor& b) { return pow(a, b); }, 0.5, 2, -1.5, 1.5);
  grad_unary([](const Tensor& a) { return pow(a, 3.0); }, -2, 2);
  grad_unary([](const Tensor& a) { return pow(a, -0.5); }, 0.5, 2);
}

BOOST_AUTO_TEST_CASE(maximum_minimum_values_and_ties) {
  Tensor a = tensor({{1, 5}, {-3, 2}});
  Tensor b = tensor({2, 2});
  tft::check_close(maximum(a, b), {2, 5, 2, 2});
  tft::check_close(minimum(a, b), {1, 2, -3, 2});
  tft::check_close(maximum(tensor({3, -1}, int32), tensor({1, 4}, int32)), {3, 4});
  // On ties the gradient goes to `a`.
  Tensor x = tensor({1, 2}, float64).requires_grad_();
  Tensor y = tensor({1, 3}, float64).requires_grad_();
  reduce_sum(maximum(x, y)).backward();
  tft::check_close(x.grad(), {1, 0});
  tft::check_close(y.grad(), {0, 1});
  x.set_grad(Tensor());
  y.set_grad(Tensor());
  reduce_sum(minimum(x, y)).backward();
  tft::check_close(x.grad(), {1, 1});
  tft::check_close(y.grad(), {0, 0});
}

BOOST_AUTO_TEST_CASE(maximum_minimum_gradcheck) {
  // Independent random operands (different seeds) never tie within the finite-difference step.
  grad_binary([](const Tensor& a, const Tensor& b) { return maximum(a, b); }, -1, 1, -1, 1);
  grad_binary([](const Tensor& a, const Tensor& b) { return minimum(a, b); }, -1, 1, -1, 1);
}

// ---------------------------------------------------------------------------- unary

BOOST_AUTO_TEST_CASE(unary_values) {
  Tensor x = tensor({-2, -0.5, 0.5, 3}, float64);
  tft::check_close(neg(x), {2, 0.5, -0.5, -3});
  tft::check_close(exp(x), {0.1353352832366127, 0.6065306597126334, 1.6487212707001282, 20.085536923187668});
  tft::check_close(square(x), {4, 0.25, 0.25, 9});
  tft::check_close(abs(x), {2, 0.5, 0.5, 3});
  tft::check_close(sign(tensor({-2, 0, 0.5})), {-1, 0, 1});
  Tensor p = tensor({0.25, 1, 4, 9}, float64);
  tft::check_close(log(p), {-1.3862943611198906, 0, 1.3862943611198906, 2.1972245773362196});
  tft::check_close(sqrt(p), {0.5, 1, 2, 3});
  tft::check_close(rsqrt(p), {2, 1, 0.5, 1.0 / 3.0});
  // float32 in, float32 out
  Tensor e = exp(tensor({1.0f}));
  BOOST_TEST(e.dtype() == float32);
  tft::check_close(e, {2.718281828459045}, 1e-6);
  // integer abs / sign
  Tensor i = tensor({-3, 0, 2}, int32);
  BOOST_TEST(abs(i).dtype() == int32);
  tft::check_close(abs(i), {3, 0, 2});
  tft::check_close(sign(i), {-1, 0, 1});
}

BOOST_AUTO_TEST_CASE(unary_gradient_values) {
  Tensor x = tensor({0.25, 1, 4}, float64);
  tft::check_close(grad_of_sum([](const Tensor& t) { return exp(t); }, x), {1.2840254166877414, 2.718281828459045, 54.598150033144236});
  tft::check_close(grad_of_sum([](const Tensor& t) { return log(t); }, x), {4, 1, 0.25});
  tft::check_close(grad_of_sum([](const Tensor& t) { return sqrt(t); }, x), {1, 0.5, 0.25});      // 1/(2 sqrt x)
  tft::check_close(grad_of_sum([](const Tensor& t) { return rsqrt(t); }, x), {-4, -0.5, -0.0625});  // -x^-1.5/2
  tft::check_close(grad_of_sum([](const Tensor& t) { return square(t); }, x), {0.5, 2, 8});
  tft::check_close(grad_of_sum([](const Tensor& t) { return neg(t); }, x), {-1, -1, -1});
  tft::check_close(grad_of_sum([](const Tensor& t) { return abs(t); }, tensor({-2, 3}, float64)), {-1, 1});
  tft::check_close(grad_of_sum([](const Tensor& t) { return sign(t); }, tensor({-2, 3}, float64)), {0, 0});
}

BOOST_AUTO_TEST_CASE(unary_gradcheck) {
  grad_unary([](const Tensor& t) { return neg(t); }, -1, 1);
  grad_unary([](const Tensor& t) { return exp(t); }, -2, 2);
  grad_unary([](const Tensor& t) { return log(t); }, 0.5, 3);
  grad_unary([](const Tensor& t) { return sqrt(t); }, 0.5, 3);
  grad_unary([](const Tensor& t) { return rsqrt(t); }, 0.5, 3);
  grad_unary([](const Tensor& t) { return square(t); }, -2, 2);
  grad_unary([](const Tensor& t) { return abs(t); }, -1, 1, {0});
  grad_unary([](const Tensor& t) { return sign(t); }, -1, 1, {0});
}

BOOST_AUTO_TEST_CASE(clip_by_value) {
  Tensor x = tensor({-2, -0.5, 0.5, 1, 2}, float64);
  tft::check_close(clip(x, -1, 1), {-1, -0.5, 0.5, 1, 1});
  tft::check_close(tapeflow::clip_by_value(tensor({-5, 0, 9}, int32), 0, 6), {0, 0, 6});
  // The gradient passes where lo <= x <= hi (the bounds included, as TensorFlow).
  tft::check_close(grad_of_sum([](const Tensor& t) { return clip(t, -1, 1); }, x), {0, 1, 1, 1, 0});
  grad_unary([](const Tensor& t) { return clip(t, -0.5, 0.5); }, -1, 1, {-0.5, 0.5});
  TF_CHECK_THROWS_WITH(clip(x, 2, 1), ValueError, "clip_by_value", "2", "1");
}

// ---------------------------------------------------------------------------- activations

BOOST_AUTO_TEST_CASE(activation_values) {
  Tensor x = tensor({-2, -0.5, 0.5, 3}, float64);
  tft::check_close(relu(x), {0, 0, 0.5, 3});
  tft::check_close(relu6(tensor({-1, 3, 7})), {0, 3, 6});
  tft::check_close(leaky_relu(x), {-0.4, -0.1, 0.5, 3});  // TensorFlow's default alpha 0.2
  tft::check_close(leaky_relu(x, 0.01), {-0.02, -0.005, 0.5, 3});
  tft::check_close(elu(x), {-0.8646647167633873, -0.3934693402873666, 0.5, 3});
  tft::check_close(softplus(x), {0.12692801104297263, 0.4740769841801067, 0.9740769841801067, 3.048587351573742});
  tft::check_close(sigmoid(x), {0.11920292202211755, 0.3775406687981454, 0.6224593312018546, 0.9525741268224334});
  tft::check_close(tanh(x), {-0.9640275800758169, -0.46211715726000974, 0.46211715726000974, 0.9950547536867305});
  // nn:: names are the same functions
  tft::check_close(nn::relu(x), {0, 0, 0.5, 3});
}

BOOST_AUTO_TEST_CASE(activations_are_stable_for_large_inputs) {
  Tensor big = tensor({-100, 100}, float64);
  tft::check_close(softplus(big), {3.720075976020836e-44, 100}, 0, 1e-12);
  tft::check_close(sigmoid(big), {3.720075976020836e-44, 1}, 0, 1e-12);
  tft::check_close(tanh(big), {-1, 1});
  Tensor big32 = tensor({-1000, 1000});
  for (double v : softplus(big32).to_vector<double>()) BOOST_TEST(std::isfinite(v));
  tft::check_close(softplus(big32), {0, 1000});
  tft::check_close(grad_of_sum([](const Tensor& t) { return softplus(t); }, big32), {0, 1});
  tft::check_close(grad_of_sum([](const Tensor& t) { return sigmoid(t); }, big32), {0, 0});
  tft::check_close(elu(tensor({-1000})), {-1});
}

BOOST_AUTO_TEST_CASE(activation_gradient_values) {
  // relu's gradient at exactly 0 is 0 (TensorFlow); relu6 passes only inside (0, 6).
  tft::check_close(grad_of_sum([](const Tensor& t) { return relu(t); }, tensor({-1, 0, 2}, float64)), {0, 0, 1});
  tft::check_close(grad_of_sum([](const Tensor& t) { return relu6(t); }, tensor({-1, 3, 7}, float64)), {0, 1, 0});
  tft::check_close(grad_of_sum([](const Tensor& t) { return leaky_relu(t); }, tensor({-1, 2}, float64)), {0.2, 1});
  tft::check_close(grad_of_sum([](const Tensor& t) { return elu(t); }, tensor({-1, 2}, float64)), {0.36787944117144233, 1});
  tft::check_close(grad_of_sum([](const Tensor& t) { return sigmoid(t); }, tensor({0, 2}, float64)), {0.25, 0.10499358540350662});
  tft::check_close(grad_of_sum([](const Tensor& t) { return tanh(t); }, tensor({0, 1}, float64)), {1, 0.41997434161402614});
  tft::check_close(grad_of_sum([](const Tensor& t) { return softplus(t); }, tensor({0, 2}, float64)), {0.5, 0.8807970779778823});
}

BOOST_AUTO_TEST_CASE(activation_gradcheck) {
  grad_unary([](const Tensor& t) { return relu(t); }, -1, 1, {0});
  grad_unary([](const Tensor& t) { return relu6(t); }, -2, 8, {0, 6});
  grad_unary([](const Tensor& t) { return leaky_relu(t); }, -1, 1, {0});
  grad_unary([](const Tensor& t) { return leaky_relu(t, 0.01); }, -1, 1, {0});
  grad_unary([](const Tensor& t) { return elu(t); }, -2, 2, {0});
  grad_unary([](const Tensor& t) { return softplus(t); }, -3, 3);
  grad_unary([](const Tensor& t) { return sigmoid(t); }, -3, 3);
  grad_unary([](const Tensor& t) { return tanh(t); }, -3, 3);
}

// ---------------------------------------------------------------------------- comparisons, where, cast

BOOST_AUTO_TEST_CASE(comparisons_are_bool_and_broadcast) {
  Tensor a = tensor({1, 2, 3});
  Tensor b = tensor({1, 5, 0});
  Tensor eq = equal(a, b);
  BOOST_TEST(eq.dtype() == bool_);
  tft::check_close(eq, {1, 0, 0});
  tft::check_close(not_equal(a, b), {0, 1, 1});
  tft::check_close(less(a, b), {0, 1, 0});
  tft::check_close(less_equal(a, b), {1, 1, 0});
  tft::check_close(greater(a, b), {0, 0, 1});
  tft::check_close(greater_equal(a, b), {1, 0, 1});
  tft::check_close(logical_not(eq), {0, 1, 1});
  Tensor c = less(reshape(tensor({1, 3}, int32), {2, 1}), tensor({2, 4}, int32));  // [2,1] vs [2] -> [2,2]
  BOOST_TEST(c.shape() == Shape({2, 2}));
  tft::check_close(c, {1, 1, 0, 1});
  tft::check_close(equal(tensor({1, 0}, bool_), tensor({1, 1}, bool_)), {1, 0});
}

BOOST_AUTO_TEST_CASE(comparisons_are_not_differentiable) {
  Tensor x = tensor({1, -1}, float64).requires_grad_();
  Tensor g = greater(x, scalar(0, float64));
  BOOST_TEST(!g.requires_grad());
  BOOST_TEST(g.is_leaf());
  BOOST_TEST(!equal(x, x).requires_grad());
}

BOOST_AUTO_TEST_CASE(where_values_and_broadcasting) {
  Tensor cond = tensor({{1, 0, 1}, {0, 0, 1}}, bool_);
  tft::check_close(where(cond, tensor({{1, 2, 3}, {4, 5, 6}}), tensor({{-1, -2, -3}, {-4, -5, -6}})),
                   {1, -2, 3, -4, -5, 6});
  // x [3] and y [] broadcast against cond [2,3]
  tft::check_close(where(cond, tensor({1, 2, 3}), scalar(0)), {1, 0, 3, 0, 0, 3});
  // x and y of one shape smaller than the condition's
  tft::check_close(where(cond, tensor({1, 2, 3}), tensor({7, 8, 9})), {1, 8, 3, 7, 8, 3});
  Tensor w = where(cond, scalar(1, int64), scalar(0, int64));
  BOOST_TEST(w.shape() == Shape({2, 3}));
  BOOST_TEST(w.dtype() == int64);
  tft::check_close(w, {1, 0, 1, 0, 0, 1});
  // the condition broadcasts too: [2,1] against [2,3]
  tft::check_close(where(reshape(tensor({1, 0}, bool_), {2, 1}), ones({2, 3}), zeros({3})), {1, 1, 1, 0, 0, 0});
}

BOOST_AUTO_TEST_CASE(where_gradients) {
  Tensor cond = tensor({{1, 0, 1}, {0, 0, 1}}, bool_);
  Tensor x = ones({3}, float64).requires_grad_();
  Tensor y = ones({2, 3}, float64).requires_grad_();
  reduce_sum(where(cond, x, y)).backward();
  tft::check_close(x.grad(), {1, 0, 2});
  tft::check_close(y.grad(), {0, 1, 0, 1, 1, 0});
  Generator gen(3);
  Tensor c34 = greater(random_uniform({3, 4}, -1, 1, float32, &gen), scalar(0));
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {Shape{3, 4}, Shape{3, 4}}, {Shape{4}, Shape{3, 4}}, {Shape{}, Shape{}}, {Shape{3, 1}, Shape{1, 4}}};
  for (const auto& [sx, sy] : shapes)
    tft::check_grad([&](std::span<const Tensor> in) { return where(c34, in[0], in[1]); },
                    {tft::rand64(sx, -1, 1, 3), tft::rand64(sy, -1, 1, 5)});
  tft::check_grad([](std::span<const Tensor> in) { return where(tensor({1, 0}, bool_), in[0], in[1]); },
                  {tft::rand64({1, 1}), tft::rand64({}, -1, 1, 9)});
}

BOOST_AUTO_TEST_CASE(cast_values_and_gradient) {
  Tensor x = tensor({1.7, -2.2, 0});
  Tensor i = cast(x, int32);
  BOOST_TEST(i.dtype() == int32);
  tft::check_close(i, {1, -2, 0});
  tft::check_close(cast(x, bool_), {1, 1, 0});
  tft::check_close(cast(tensor({3, 250}, int64), uint8), {3, 250});
  Tensor d = cast(tensor({1, 2}, int32), float64);
  BOOST_TEST(d.dtype() == float64);
  tft::check_close(d, {1, 2});
  tft::check_close(cast(tensor({1, 0}, bool_), float32), {1, 0});
  // float -> float is differentiable; the gradient comes back in the input's dtype.
  Tensor x64 = tensor({1, 2}, float64).requires_grad_();
  Tensor y = cast(x64, float32) * 3.0;
  BOOST_TEST(y.dtype() == float32);
  reduce_sum(y).backward();
  BOOST_TEST(x64.grad().dtype() == float64);
  tft::check_close(x64.grad(), {3, 3});
  // float -> int is not.
  BOOST_TEST(!cast(x64, int64).requires_grad());
  // float32 loses digits, so a wide step and a loose tolerance.
  for (const Shape& s : kUnaryShapes)
    tft::check_grad([](std::span<const Tensor> in) { return cast(cast(in[0], float32) * 2.0, float64); },
                    {tft::rand64(s)}, {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-3});
  BOOST_TEST(!stop_gradient(x64).requires_grad());
}

// ---------------------------------------------------------------------------- errors

BOOST_AUTO_TEST_CASE(broadcast_mismatch_names_both_shapes) {
  TF_CHECK_THROWS_WITH(add(ones({2, 3}), ones({4})), ShapeError, "add", "[2,3]", "[4]", "cannot be broadcast");
  TF_CHECK_THROWS_WITH(ones({3, 2}) * ones({2, 3}), ShapeError, "mul", "[3,2]", "[2,3]");
  TF_CHECK_THROWS_WITH(maximum(ones({5}), ones({4})), ShapeError, "maximum", "[5]", "[4]");
  TF_CHECK_THROWS_WITH(where(ones({2}, bool_), ones({3}), ones({3})), ShapeError, "where", "[2]", "[3]");
  TF_CHECK_THROWS_WITH(less(ones({2}), ones({3})), ShapeError, "less", "[2]", "[3]");
}

BOOST_AUTO_TEST_CASE(dtype_mismatch_names_both_dtypes) {
  TF_CHECK_THROWS_WITH(add(ones({2}), ones({2}, float64)), DTypeError, "add", "float32", "float64");
  TF_CHECK_THROWS_WITH(ones({2}) / ones({2}, float64), DTypeError, "div", "float32", "float64");
  TF_CHECK_THROWS_WITH(pow(ones({2}), ones({2}, int32)), DTypeError, "pow", "float32", "int32");
  TF_CHECK_THROWS_WITH(equal(ones({2}), ones({2}, int64)), DTypeError, "equal", "float32", "int64");
  TF_CHECK_THROWS_WITH(where(ones({2}, bool_), ones({2}), ones({2}, float64)), DTypeError, "where", "float32",
                       "float64");
}

BOOST_AUTO_TEST_CASE(integer_tensors_to_floating_ops) {
  TF_CHECK_THROWS_WITH(exp(ones({2, 2}, int32)), DTypeError, "exp", "int32", "[2,2]", "cast");
  TF_CHECK_THROWS_WITH(log(ones({3}, int64)), DTypeError, "log", "int64");
  TF_CHECK_THROWS_WITH(sigmoid(ones({3}, uint8)), DTypeError, "sigmoid", "uint8");
  TF_CHECK_THROWS_WITH(pow(ones({3}, int32), 2.0), DTypeError, "pow", "int32");
  TF_CHECK_THROWS_WITH(add(ones({2}, bool_), ones({2}, bool_)), DTypeError, "add", "bool");
}

BOOST_AUTO_TEST_CASE(other_bad_arguments) {
  TF_CHECK_THROWS_WITH(where(ones({2}), ones({2}), ones({2})), DTypeError, "where", "condition must be bool", "float32");
  TF_CHECK_THROWS_WITH(logical_not(ones({2})), DTypeError, "logical_not", "float32");
  TF_CHECK_THROWS_WITH(add(Tensor(), ones({2})), ValueError, "add", "undefined");
}

BOOST_AUTO_TEST_CASE(numbers_that_do_not_fit_an_integer_tensor) {
  // As TensorFlow: 0.5 cannot become an int32, so no silent `labels * 0`.
  TF_CHECK_THROWS_WITH(tensor({1, 2}, int32) * 0.5, DTypeError, "mul", "0.5", "int32", "[2]", "cast");
  TF_CHECK_THROWS_WITH(1.5 + tensor({1}, int64), DTypeError, "add", "1.5", "int64");
  TF_CHECK_THROWS_WITH(tensor({1}, uint8) - 256.0, DTypeError, "sub", "256", "uint8");
  TF_CHECK_THROWS_WITH(tensor({1}, uint8) / -1.0, DTypeError, "div", "-1", "uint8");
  // whole numbers in range are fine
  tft::check_close(6.0 / tensor({1, 2}, int32), {6, 3});
  tft::check_close(tensor({250}, uint8) + 5.0, {255});
  tft::check_close(tensor({-3}, int64) * -4.0, {12});
}

BOOST_AUTO_TEST_CASE(integer_division_by_zero_is_an_error) {
  // Undefined in C++ (SIGFPE on x86): an error naming the divisor, as TensorFlow's Div.
  TF_CHECK_THROWS_WITH(div(tensor({6, 7}, int32), tensor({2, 0}, int32)), ValueError,
                       "div: integer division by zero: the divisor (int32 [2]) is 0 at element 1");
  TF_CHECK_THROWS_WITH(tensor({6}, int64) / tensor({0}, int64), ValueError, "integer division by zero");
  TF_CHECK_THROWS_WITH(tensor({6}, uint8) / 0.0, ValueError, "integer division by zero", "uint8 []");
  tft::check_close(div(tensor({7, -7}, int32), tensor({2, 2}, int32)), {3, -3});  // C++'s truncation
  // Floats divide by zero as IEEE 754 says.
  std::vector<float> f = div(tensor({1, -1, 0}), zeros({3})).to_vector<float>();
  BOOST_TEST((std::isinf(f[0]) && f[0] > 0 && std::isinf(f[1]) && f[1] < 0 && std::isnan(f[2])));
}

BOOST_AUTO_TEST_CASE(casting_floats_that_an_integer_cannot_hold_is_an_error) {
  // NaN, infinities and values out of the target's range have no value there (undefined behaviour
  // in C++): an error naming the element and the range.
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  TF_CHECK_THROWS_WITH(cast(tensor({1.0, nan}), int32), ValueError,
                       "cast: element 1 of the float32 [2] tensor is nan, which int32 cannot hold",
                       "[-2147483648, 2147483647]");
  TF_CHECK_THROWS_WITH(cast(tensor({inf}, float64), int64), ValueError, "is inf, which int64 cannot hold");
  TF_CHECK_THROWS_WITH(cast(tensor({3e9}, float64), int32), ValueError, "3000000000", "int32 cannot hold");
  TF_CHECK_THROWS_WITH(cast(tensor({256.0}), uint8), ValueError, "256", "[0, 255]");
  TF_CHECK_THROWS_WITH(cast(tensor({-1.0}), uint8), ValueError, "-1", "uint8 cannot hold");
  // Truncation toward zero first: what truncates into the range converts.
  tft::check_close(cast(tensor({255.9, -0.9, 1.5}), uint8), {255, 0, 1});
  tft::check_close(cast(tensor({2147483647.9, -2147483648.9}, float64), int32), {2147483647, -2147483648});
  tft::check_close(cast(tensor({-9223372036854775808.0}, float64), int64), {-9223372036854775808.0});
  TF_CHECK_THROWS_WITH(cast(tensor({9223372036854775808.0}, float64), int64), ValueError, "int64 cannot hold");
  // To bool, anything goes (non-zero is true, NaN too, as C++).
  tft::check_close(cast(tensor({0.0, nan, -2.0}), bool_), {0, 1, 1});
}

BOOST_AUTO_TEST_SUITE_END()
