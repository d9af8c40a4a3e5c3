// Higher-order gradients: create_graph makes the backward pass record its own ops, so gradients
// can be differentiated again (Hessian-vector products, gradient penalties); gradgradcheck checks
// second derivatives against finite differences; an op whose backward is a dedicated kernel says
// so when differentiated twice, never a silent zero.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "helpers.h"
#include "tapeflow/tapeflow.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(higher_order)

BOOST_AUTO_TEST_CASE(hessian_vector_product_against_finite_differences) {
  // f(x) = sum(exp(x) * x^2) + (a . x)^2: a Hessian-vector product H v by double backward.
  Tensor a = tensor({0.5, -1.0, 2.0}, float64);
  auto f = [&](const Tensor& x) { return reduce_sum(exp(x) * x * x) + square(reduce_sum(a * x)); };
  auto gradient = [&](const Tensor& x) {
    Tensor y = f(x);
    return autograd::grad({y}, {x}, {.create_graph = true})[0];
  };
  Tensor x = tensor({0.3, -0.7, 1.1}, float64).requires_grad_();
  Tensor v = tensor({1.0, 2.0, -0.5}, float64);
  Tensor g = gradient(x);
  BOOST_TEST(g.requires_grad());  // recorded: it can be differentiated
  Tensor hv = autograd::grad({reduce_sum(g * v)}, {x})[0];
  // Finite differences of the gradient along v: (g(x + e v) - g(x - e v)) / 2e.
  const double e = 1e-6;
  Tensor plus = gradient((x.detach() + v * e).requires_grad_()).detach();
  Tensor minus = gradient((x.detach() - v * e).requires_grad_()).detach();
  tft::check_close(hv, ((plus - minus) / (2 * e)).to_vector<double>(), 1e-6);
}

BOOST_AUTO_TEST_CASE(backward_with_create_graph_leaves_a_differentiable_grad) {
  // d/dx (x^3) = 3x^2 in .grad(), with its record; its own derivative is 6x.
  Tensor x = tensor({1.0, -2.0}, float64).requires_grad_();
  reduce_sum(x * x * x).backward({.create_graph = true});
  BOOST_TEST(x.grad().requires_grad());
  tft::check_close(x.grad(), {3, 12});
  Tensor gx = autograd::grad({reduce_sum(x.grad())}, {x})[0];
  tft::check_close(gx, {6, -12});
  // A second create_graph backward adds out of place, and stays differentiable.
  reduce_sum(x * x).backward({.create_graph = true});
  tft::check_close(x.grad(), {3 + 2, 12 - 4});
  BOOST_TEST(x.grad().requires_grad());
  x.set_grad(Tensor());  // the recorded gradient holds records that hold x: a cycle until cleared
}

BOOST_AUTO_TEST_CASE(without_create_graph_nothing_is_recorded) {
  Tensor x = tensor({1.0, 2.0}, float64).requires_grad_();
  Tensor g = autograd::grad({reduce_sum(x * x * x)}, {x})[0];
  BOOST_TEST(!g.requires_grad());
  TF_CHECK_THROWS_WITH(autograd::grad({reduce_sum(g)}, {x}), AutogradError,
                       "or from gradients that a backward pass without create_graph returned (to differentiate "
                       "gradients again, take them with {.create_graph = true})");
}

BOOST_AUTO_TEST_CASE(gradient_penalty_trains) {
  // WGAN-GP's penalty on a tiny critic c(x) = sum(exp(0.3 x W1) W2): (||dc/dx|| - 1)^2, and its gradient
  // with respect to the weights against finite differences (gradcheck through the penalty).
  Generator gen(3);
  Tensor x = random_normal({4, 3}, 0, 1, float64, &gen);
  auto penalty = [&](std::span<const Tensor> w) {
    EnableGradGuard recording;  // gradcheck's finite differences run under NoGradGuard
    Tensor xi = x.detach().requires_grad_();
    Tensor critic = reduce_sum(matmul(exp(matmul(xi, w[0]) * 0.3), w[1]));
    Tensor dx = autograd::grad({critic}, {xi}, {.create_graph = true})[0];
    Tensor norms = sqrt(reduce_sum(square(dx), {1}) + 1e-12);
    return reduce_mean(square(norms - 1.0));
  };
  Tensor w1 = random_normal({3, 5}, 0, 0.5, float64, &gen).requires_grad_();
  Tensor w2 = random_normal({5, 1}, 0, 0.5, float64, &gen).requires_grad_();
  tft::check_grad(penalty, {w1, w2});
}

BOOST_AUTO_TEST_CASE(gradgradcheck_of_ops_with_differentiable_backwards) {
  const auto x = [] { return tft::rand64({3, 4}); };
  const auto positive = [] { return tft::rand64({3, 4}, 1.0, 2.0, 11); };
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return in[0] * in[1]; }, {x(), x()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return in[0] / in[1]; }, {x(), positive()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return exp(in[0]); }, {x()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return log(in[0]); }, {positive()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return pow(in[0], in[1]); }, {positive(), x()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return matmul(in[0], in[1], false, true); }, {x(), x()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return nn::softmax(in[0]); }, {x()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return nn::log_softmax(in[0], 0); }, {x()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return reduce_mean(in[0] * in[0], {1}); }, {x()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return transpose(in[0]) * 2.0; }, {x()}));
  BOOST_TEST(gradgradcheck([](std::span<const Tensor> in) { return in[0] * in[1]; },  // broadcasting
                           {tft::rand64({3, 1}), tft::rand64({4})}));
}

BOOST_AUTO_TEST_CASE(dedicated_kernels_for_first_order_ops_for_create_graph) {
  // LRN's and FusedBatchNorm's backwards keep their kernels for a first-order backward and are
  // written in ops for a create_graph one (kernel_or_ops): both give the same first derivatives.
  Tensor x = tft::rand64({2, 2, 2, 5});
  Tensor scale = tft::rand64({5}, 0.5, 1.5, 3);
  auto f = [&] {
    Tensor y = nn::lrn(x, 2, 1.0, 0.5, 0.75);
    nn::BatchNormOutput o = nn::fused_batch_norm(y, scale, Tensor(), zeros({5}, float64), ones({5}, float64));
    return reduce_sum(o.y * x) + reduce_sum(o.batch_variance * o.batch_mean);
  };
  std::vector<Tensor> kernel = autograd::grad({f()}, {x, scale});
  std::vector<Tensor> ops = autograd::grad({f()}, {x, scale}, {.create_graph = true});
  BOOST_TEST(!kernel[0].requires_grad());
  BOOST_TEST(ops[0].requires_grad());
  for (std::size_t i = 0; i < 2; ++i) tft::check_close(ops[i].detach(), kernel[i].to_vector<double>(), 1e-12);
}

BOOST_AUTO_TEST_CASE(kernel_backwards_are_ops_with_their_own_gradients) {
  // Relu's backward is ReluGrad, an op whose own gradient is ReluGrad again: the second
  // derivative of relu(x) * x is 2 where x > 0 (a kink aside), and third derivatives exist too.
  Tensor x = tensor({0.5, -1.0, 2.0}, float64).requires_grad_();
  Tensor g = autograd::grad({reduce_sum(relu(x) * x)}, {x}, {.create_graph = true})[0];
  tft::check_close(g, {1.0, 0.0, 4.0});
  tft::check_close(autograd::grad({reduce_sum(g)}, {x})[0], {2.0, 0.0, 2.0});
  // tanh: d/dx tanh = 1 - y^2, d2 = -2 y (1 - y^2), d3 by finite differences (gradgradcheck of the first).
  BOOST_TEST(gradgradcheck(
      [](std::span<const Tensor> in) {
        EnableGradGuard recording;
        return autograd::grad({reduce_sum(tanh(in[0]))}, {in[0]}, {.create_graph = true})[0];
      },
      {tft::rand64({4})}));
}

BOOST_AUTO_TEST_SUITE_END()
