// Version counters (PyTorch's rule): in-place changes bump a tensor's version; a backward that
// reads a tensor its op saved checks the version and throws instead of computing a gradient from
// the new values. What stays legal: in-place changes of tensors no record saved, optimizer steps
// after backward, NoGradGuard initialisation.
#include <boost/test/unit_test.hpp>

#include "helpers.h"
#include "tapeflow/tapeflow.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(versions)

BOOST_AUTO_TEST_CASE(in_place_functions_bump_the_version_shared_by_views) {
  Tensor x = zeros({2, 3}, float64);
  BOOST_TEST(x.version() == 0u);
  fill_(x, 1.0);
  add_(x, ones({3}, float64));
  axpy_(x, 2.0, ones({2, 3}, float64));
  scale_(x, 0.5);
  copy_(x, zeros({2, 3}, float64));
  nn::init::ones_(x);
  BOOST_TEST(x.version() == 6u);
  // A reshape or a detach shares the data, and so the version.
  Tensor r = reshape(x, {6});
  Tensor d = x.detach();
  fill_(r, 2.0);
  BOOST_TEST(x.version() == 7u);
  BOOST_TEST(d.version() == 7u);
  // Out-of-place ops make new data at version 0; a clone too.
  BOOST_TEST((x + 1.0).version() == 0u);
  BOOST_TEST(x.clone().version() == 0u);
  // Code that writes through data<T>() says so.
  x.data<double>()[0] = 5.0;
  x.bump_version();
  BOOST_TEST(x.version() == 8u);
}

BOOST_AUTO_TEST_CASE(changing_a_saved_input_before_backward_throws_naming_the_op) {
  Tensor w = tensor({1.0, 2.0, 3.0}, float64).requires_grad_();
  Tensor x = tensor({4.0, 5.0, 6.0}, float64);
  Tensor loss = reduce_sum(w * x);  // Mul saved x for dL/dw
  fill_(x, 0.0);                    // ... which now holds other values
  TF_CHECK_THROWS_WITH(loss.backward(), AutogradError,
                       "backward of Mul: one of the tensors needed for gradient computation has been modified by an "
                       "in-place operation: a float64 [3] that Mul saved at version 0 is now at version 1. Change "
                       "it in place after backward(), or give Mul a copy (clone())");
  // Through a view of it too, and for a saved output (exp keeps its result).
  Tensor a = tensor({{1.0, 2.0}, {3.0, 4.0}}, float64).requires_grad_();
  Tensor b = a * 1.0;
  Tensor y = matmul(b, b);
  scale_(reshape(b, {4}), 2.0);
  TF_CHECK_THROWS_WITH(reduce_sum(y).backward(), AutogradError, "backward of MatMul", "a float64 [2,2]",
                       "at version 0 is now at version 1");
  Tensor e = exp(tensor({0.0, 1.0}, float64).requires_grad_());
  fill_(e, 3.0);
  TF_CHECK_THROWS_WITH(reduce_sum(e).backward(), AutogradError, "backward of Exp", "float64 [2]");
}

BOOST_AUTO_TEST_CASE(changes_the_backward_does_not_read_are_legal) {
  // Add saves nothing: changing its input afterwards does not affect its gradient.
  Tensor w = tensor({1.0, 2.0}, float64).requires_grad_();
  Tensor x = tensor({3.0, 4.0}, float64);
  Tensor s = w + x;
  fill_(x, 100.0);
  reduce_sum(s * 2.0).backward();
  tft::check_close(w.grad(), {2, 2});
  // Mul's dL/dw reads x alone: w may change (the optimizer's step after the forward of the next
  // tape, say) while only dL/dw is needed.
  Tensor v = tensor({1.0, 2.0}, float64).requires_grad_();
  Tensor c = tensor({3.0, 4.0}, float64);
  Tensor p = reduce_sum(v * c);
  {
    NoGradGuard no_grad;
    fill_(v, 9.0);
  }
  p.backward();
  tft::check_close(v.grad(), {3, 4});
}

BOOST_AUTO_TEST_CASE(optimizer_steps_and_no_grad_initialisation_stay_legal) {
  nn::Linear layer(3, 2, {.dtype = float64});
  {
    NoGradGuard no_grad;  // initialise the parameters in place before any forward
    for (Tensor& p : layer.parameters()) nn::init::constant_(p, 0.5);
  }
  optim::Adam opt(layer.parameters(), {.lr = 0.1});
  const Tensor x = tensor({{1.0, 2.0, 3.0}}, float64);
  for (int step = 0; step < 3; ++step) {
    const std::uint64_t before = layer.parameters()[0].version();
    opt.zero_grad();
    Tensor loss = reduce_sum(square(layer.forward(x)));
    loss.backward();
    opt.step();  // after backward: legal, and the version moves
    BOOST_TEST(layer.parameters()[0].version() > before);
  }

  // A step between a retained forward and a second backward through it is the misuse (PyTorch's
  // GAN pitfall): the weights a record saved are gone. (The gradient of the hidden layer's output
  // reads the weights of the layer above.)
  nn::Linear top(2, 1, {.dtype = float64});
  optim::GradientDescent sgd(top.parameters(), {.lr = 0.1});
  Tensor loss = reduce_sum(top.forward(layer.forward(x)));
  loss.backward({.retain_graph = true});
  sgd.step();
  TF_CHECK_THROWS_WITH(loss.backward(), AutogradError, "backward of _FusedMatMul", "a float64 [2,1] that _FusedMatMul saved",
                       "is now at version");
}

BOOST_AUTO_TEST_CASE(second_order_backward_checks_too) {
  // The first gradient 3x^2 (recorded) saved x; changing x before differentiating it again throws.
  // (Of x^2 it would not: 2x differentiates to 2, whatever x holds.)
  Tensor x = tensor({1.0, 2.0}, float64).requires_grad_();
  Tensor g = autograd::grad({reduce_sum(x * x * x)}, {x}, {.create_graph = true})[0];
  {
    NoGradGuard no_grad;
    fill_(x, 0.0);
  }
  TF_CHECK_THROWS_WITH(reduce_sum(g).backward(), AutogradError, "backward of Mul", "float64 [2]",
                       "saved at version 0 is now at version 1");
}

BOOST_AUTO_TEST_CASE(custom_op_saved_tensors_are_checked) {
  CustomOp scale_by("ScaleBy",
                    [](CustomOpContext& ctx, std::span<const Tensor> in) {
                      ctx.save_for_backward({in[1]});
                      return std::vector<Tensor>{in[0] * in[1]};
                    },
                    [](CustomOpContext& ctx, std::span<const Tensor> g) {
                      return Grads{g[0] * ctx.saved_tensors()[0], Tensor()};
                    });
  Tensor x = tensor({1.0, 2.0}, float64).requires_grad_();
  Tensor k = tensor({3.0, 3.0}, float64);
  Tensor y = scale_by({x, k});
  reduce_sum(y).backward({.retain_graph = true});
  tft::check_close(x.grad(), {3, 3});
  fill_(k, 7.0);
  TF_CHECK_THROWS_WITH(reduce_sum(y).backward(), AutogradError, "backward of ScaleBy",
                       "a float64 [2] that ScaleBy saved at version 0 is now at version 1");
}

BOOST_AUTO_TEST_SUITE_END()
