#include "helpers.h"
#include "tapeflow/graph.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(tape)

BOOST_AUTO_TEST_CASE(records_only_when_needed) {
  Tensor a = tensor({1.0, 2.0});
  Tensor b = a * 2.0;
  BOOST_TEST(!b.requires_grad());
  BOOST_TEST(!b.grad_fn());
  a.requires_grad_();
  Tensor c = a * 2.0;
  BOOST_TEST(c.requires_grad());
  BOOST_TEST(std::string(c.grad_fn()->name) == "Mul");
  {
    NoGradGuard guard;
    Tensor d = a * 2.0;
    BOOST_TEST(!d.requires_grad());
  }
  BOOST_TEST(autograd::is_grad_enabled());
}

BOOST_AUTO_TEST_CASE(sequence_numbers_follow_tape_order) {
  Tensor a = tensor({1.0});
  a.requires_grad_();
  Tensor b = a * 2.0;
  Tensor c = b + 1.0;
  BOOST_TEST(c.grad_fn()->sequence > b.grad_fn()->sequence);
}

BOOST_AUTO_TEST_CASE(value_used_twice_gets_both_contributions) {
  // b = a + a; c = b * b  => dc/da = 2b * 2 = 8a
  Tensor a = scalar(3.0, float64);
  a.requires_grad_();
  Tensor b = a + a;
  Tensor c = b * b;
  c.backward();
  BOOST_TEST(a.grad().item() == 24.0);
}

BOOST_AUTO_TEST_CASE(gradients_accumulate_until_cleared) {
  Tensor w = tensor({1.0, -2.0}, float64);
  w.requires_grad_();
  reduce_sum(w * w).backward();
  tft::check_close(w.grad(), {2, -4});
  reduce_sum(w * 3.0).backward();
  tft::check_close(w.grad(), {5, -1});
  w.set_grad(Tensor());
  BOOST_TEST(!w.grad().defined());
}

BOOST_AUTO_TEST_CASE(backward_of_non_scalar_needs_a_gradient) {
  Tensor x = ones({2, 3});
  x.requires_grad_();
  Tensor y = x * 2.0;
  TF_CHECK_THROWS_WITH(y.backward(), AutogradError, "[2,3]", "6 elements", "reduce_mean");
  y.backward(full({2, 3}, 0.5));
  tft::check_close(x.grad(), {1, 1, 1, 1, 1, 1});
  Tensor z = x * 3.0;
  TF_CHECK_THROWS_WITH(z.backward(ones({3, 2})), AutogradError, "[3,2]", "[2,3]");
}

BOOST_AUTO_TEST_CASE(backward_twice_needs_retain_graph) {
  Tensor x = scalar(2.0, float64);
  x.requires_grad_();
  Tensor y = x * x;
  y.backward({.retain_graph = true});
  y.backward();
  BOOST_TEST(x.grad().item() == 8.0);
  TF_CHECK_THROWS_WITH(y.backward(), AutogradError, "second time", "pass {.retain_graph = true} to the first call");
}

BOOST_AUTO_TEST_CASE(backward_without_anything_requiring_grad) {
  Tensor y = ones({}) * 2.0;
  TF_CHECK_THROWS_WITH(y.backward(), AutogradError, "does not require grad", "requires_grad_()");
}

BOOST_AUTO_TEST_CASE(grad_leaves_dot_grad_alone) {
  Tensor x = tensor({1.0, 2.0, 3.0}, float64);
  x.requires_grad_();
  Tensor u = x * 2.0;  // non-leaf input
  Tensor y = reduce_sum(u * x);
  Tensor unused = scalar(1.0, float64);
  unused.requires_grad_();
  auto g = autograd::grad({y}, {x, u, unused});
  tft::check_close(g[0], {4, 8, 12});  // d/dx (2x*x) = 4x
  tft::check_close(g[1], {1, 2, 3});   // d/du (u*x) = x
  tft::check_close(g[2], {0});
  BOOST_TEST(!x.grad().defined());
  Tensor y2 = reduce_sum(x * x);
  TF_CHECK_THROWS_WITH(autograd::grad({y2}, {x, unused}, {.allow_unused = false}), AutogradError, "input 1",
                       "not used");
}

BOOST_AUTO_TEST_CASE(grad_with_grad_outputs) {
  Tensor x = tensor({1.0, 2.0}, float64);
  x.requires_grad_();
  Tensor y = x * x;
  auto g = autograd::grad({y}, {x}, {.grad_outputs = {tensor({1.0, 10.0}, float64)}});
  tft::check_close(g[0], {2, 40});
}

BOOST_AUTO_TEST_CASE(a_million_op_chain_backpropagates_and_frees_without_recursion) {
  const std::int64_t before = autograd::live_records();
  {
    Tensor x = scalar(1.0, float64);
    x.requires_grad_();
    Tensor y = x;
    for (int i = 0; i < 1'000'000; ++i) y = y * 1.0;
    BOOST_TEST(autograd::live_records() - before == 1'000'000);
    y.backward();
    BOOST_TEST(x.grad().item() == 1.0);
  }
  BOOST_TEST(autograd::live_records() == before);
  {
    // Destroying an unreplayed chain is iterative too.
    Tensor x = scalar(1.0, float64);
    x.requires_grad_();
    Tensor y = x;
    for (int i = 0; i < 1'000'000; ++i) y = y + 0.0;
  }
  BOOST_TEST(autograd::live_records() == before);
}

BOOST_AUTO_TEST_CASE(saved_tensors_and_records_are_released) {
  const std::int64_t before = autograd::live_records();
  std::weak_ptr<TensorImpl> hidden_alive;
  {
    Tensor w = tensor({{1.0, 2.0}, {3.0, 4.0}}, float64);
    w.requires_grad_();
    Tensor loss;
    {
      Tensor h = exp(w);  // saved by the multiplication below and by Exp's own record
      hidden_alive = h.impl();
      loss = reduce_sum(h * h);
    }
    BOOST_TEST(!hidden_alive.expired());  // the tape keeps h alive until backward
    BOOST_TEST(autograd::live_records() - before == 3);
    loss.backward();
    BOOST_TEST(hidden_alive.expired());   // ... and releases it after
  }
  BOOST_TEST(autograd::live_records() == before);  // every record is gone with its tensors
}

BOOST_AUTO_TEST_CASE(retain_graph_keeps_saved_tensors) {
  std::weak_ptr<TensorImpl> hidden_alive;
  Tensor w = tensor({1.0, 2.0}, float64);
  w.requires_grad_();
  Tensor loss;
  {
    Tensor h = w * 3.0;
    hidden_alive = h.impl();
    loss = reduce_sum(h * h);
  }
  loss.backward({.retain_graph = true});
  BOOST_TEST(!hidden_alive.expired());
}

BOOST_AUTO_TEST_CASE(a_leaf_gradient_never_aliases_a_tensor_the_user_holds) {
  // .grad() takes a backward function's fresh result as it is, but copies anything else still
  // referenced: the gradient given to backward(), a gradient passed through unchanged (Add), a
  // custom op's gradient the user keeps.
  Tensor x = tensor({1.0, 2.0}, float64);
  x.requires_grad_();
  Tensor given = tensor({0.5, -1.0}, float64);
  x.backward(given);
  BOOST_TEST(x.grad().data<double>() != given.data<double>());
  fill_(given, 7.0);
  tft::check_close(x.grad(), {0.5, -1});

  Tensor a = tensor({1.0, 2.0}, float64), b = tensor({3.0, 4.0}, float64);
  a.requires_grad_();
  b.requires_grad_();
  Tensor seed = tensor({1.0, 1.0}, float64);
  (a + b).backward(seed);  // Add hands the same gradient to both inputs
  BOOST_TEST(a.grad().data<double>() != b.grad().data<double>());
  BOOST_TEST(a.grad().data<double>() != seed.data<double>());
  Tensor a_grad = a.grad();
  fill_(a_grad, 5.0);
  tft::check_close(b.grad(), {1, 1});

  Tensor kept;
  CustomOp keep("Keep", [](std::span<const Tensor> in) { return in[0] * 2.0; },
                [&](std::span<const Tensor>, const Tensor&, const Tensor& g) {
                  kept = g * 2.0;
                  return Grads{kept};
                });
  Tensor w = tensor({1.0, 1.0}, float64);
  w.requires_grad_();
  reduce_sum(keep({w})).backward();
  BOOST_TEST(w.grad().data<double>() != kept.data<double>());
  tft::check_close(w.grad(), {2, 2});

  // A fresh gradient is taken without a copy: the same buffer as the backward produced.
  Tensor v = tensor({1.0, 2.0, 3.0}, float64);
  v.requires_grad_();
  const double* produced = nullptr;
  CustomOp fresh("Fresh", [](std::span<const Tensor> in) { return in[0] * 1.0; },
                 [&](std::span<const Tensor>, const Tensor&, const Tensor& g) {
                   Tensor d = g * 3.0;
                   produced = d.data<double>();
                   return Grads{d};
                 });
  reduce_sum(fresh({v})).backward();
  BOOST_TEST(v.grad().data<double>() == produced);
  tft::check_close(v.grad(), {3, 3, 3});
}

BOOST_AUTO_TEST_CASE(leaf_gradient_shape_is_checked) {
  Tensor w = tensor({1.0, 2.0}, float64);
  TF_CHECK_THROWS_WITH(w.set_grad(ones({3}, float64)), ShapeError, "[3]", "[2]");
}

BOOST_AUTO_TEST_CASE(gradcheck_needs_float64) {
  Tensor x = ones({2});
  x.requires_grad_();
  TF_CHECK_THROWS_WITH(gradcheck([](std::span<const Tensor> in) { return in[0] * 2.0; }, {x}), DTypeError,
                       "float32", "float64");
}

BOOST_AUTO_TEST_SUITE_END()
