// CustomOp (torch.autograd.Function, tf.custom_gradient): one or several outputs, a context that
// saves tensors and values for the backward, a backward that differentiates again, graph mode.
#include <cmath>

#include "helpers.h"
#include "tapeflow/graph.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(custom_op)

BOOST_AUTO_TEST_CASE(custom_op_is_differentiable_and_gradchecked) {
  // y = x^3 with a user-written backward 3x^2 g.
  CustomOp cube(
      "Cube", [](std::span<const Tensor> x) { return x[0] * x[0] * x[0]; },
      [](std::span<const Tensor> x, const Tensor&, const Tensor& g) { return Grads{g * 3.0 * square(x[0])}; });
  Tensor x = tensor({1.0, -2.0, 0.5}, float64);
  x.requires_grad_();
  Tensor y = cube({x});
  BOOST_TEST(std::string(y.grad_fn()->name) == "Cube");
  tft::check_close(y, {1, -8, 0.125});
  reduce_sum(y).backward();
  tft::check_close(x.grad(), {3, 12, 0.75});
  tft::check_grad([&](std::span<const Tensor> in) { return cube({in[0]}); }, {tft::rand64({3, 2})});

  // A custom op with a wrong backward is caught by gradcheck.
  CustomOp wrong(
      "Wrong", [](std::span<const Tensor> x) { return x[0] * x[0]; },
      [](std::span<const Tensor> x, const Tensor&, const Tensor& g) { return Grads{g * x[0]}; });
  TF_CHECK_THROWS_WITH(gradcheck([&](std::span<const Tensor> in) { return wrong({in[0]}); }, {tft::rand64({2})}),
                       AutogradError, "gradcheck: input 0", "finite differences give");

  // A backward returning the wrong shape is named.
  CustomOp bad_shape(
      "BadShape", [](std::span<const Tensor> x) { return x[0] * 2.0; },
      [](std::span<const Tensor>, const Tensor&, const Tensor&) { return Grads{ones({5}, float64)}; });
  Tensor z = bad_shape({x});
  TF_CHECK_THROWS_WITH(reduce_sum(z).backward(), AutogradError, "BadShape", "[5]", "[3]");
}

BOOST_AUTO_TEST_CASE(custom_op_name_outlives_the_op) {
  // The record names the op after the CustomOp object is gone: a second backward's error reads
  // the name (under AddressSanitizer, a heap-use-after-free when the record did not own it).
  Tensor x = tensor({1.0, 2.0}, float64).requires_grad_();
  Tensor y;
  {
    CustomOp twice(
        std::string("Twice") + "ForASecondBackward",  // built at run time: no literal outlives the op
        [](std::span<const Tensor> in) { return in[0] * 2.0; },
        [](std::span<const Tensor>, const Tensor&, const Tensor& g) { return Grads{g * 2.0}; });
    y = twice({x});
  }
  const Tensor seed = ones({2}, float64);
  y.backward(seed);
  tft::check_close(x.grad(), {2, 2});
  TF_CHECK_THROWS_WITH(y.backward(seed), AutogradError, "backward through 'TwiceForASecondBackward' a second time",
                       "retain_graph");
}

BOOST_AUTO_TEST_CASE(custom_op_in_graph_mode) {
  // With a shape function, a CustomOp builds a graph node named after it; Session::run runs its
  // forward, and its backward gives the gradients of graph mode too.
  CustomOp cube(
      "Cube", [](std::span<const Tensor> x) { return x[0] * x[0] * x[0]; },
      [](std::span<const Tensor> x, const Tensor&, const Tensor& g) { return Grads{g * 3.0 * square(x[0])}; },
      [](std::span<const Tensor> x) { return OutputSpec{x[0].shape(), x[0].dtype()}; });
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {-1}, "x");
  Tensor w = Variable(tensor({1.0, 2.0, 3.0}, float64), "w");
  Tensor y = cube({x * w});
  BOOST_TEST(y.name() == "Cube:0");
  BOOST_TEST(y.shape().str() == "[3]");  // [?] * [3]
  Tensor dw = gradients({reduce_sum(y)}, {w})[0];
  Session sess(g);
  sess.run(global_variables_initializer());
  auto out = sess.run({y, dw}, {{x, tensor({1.0, 1.0, 2.0}, float64)}});
  tft::check_close(out[0], {1, 8, 216});
  tft::check_close(out[1], {3, 12, 216});  // 3 (x w)^2 x
}

namespace {
// y0 = exp(x), y1 = x * w: two outputs; the backward reads a saved output (exp's), a saved input
// and a value from saved_data.
CustomOp exp_and_scale() {
  return CustomOp(
      "ExpAndScale",
      [](CustomOpContext& ctx, std::span<const Tensor> in) {
        Tensor e = exp(in[0]);
        ctx.save_for_backward({e, in[0], in[1]});
        ctx.saved_data["calls"] = std::int64_t{1};
        return std::vector<Tensor>{e, in[0] * in[1]};
      },
      [](CustomOpContext& ctx, std::span<const Tensor> g) {
        BOOST_TEST(std::get<std::int64_t>(ctx.saved_data.at("calls")) == 1);
        const std::vector<Tensor> s = ctx.saved_tensors();  // e, x, w
        const Tensor& e = s[0];
        const Tensor& x = s[1];
        const Tensor& w = s[2];
        return Grads{g[0] * e + g[1] * w, ctx.needs_input_grad(1) ? reduce_sum(g[1] * x, {0}) : Tensor()};
      },
      [](std::span<const Tensor> in) {
        return std::vector<OutputSpec>{{in[0].shape(), in[0].dtype()}, {in[0].shape(), in[0].dtype()}};
      });
}
}  // namespace

BOOST_AUTO_TEST_CASE(several_outputs_with_a_context) {
  const CustomOp op = exp_and_scale();
  Tensor x = tensor({{0.0, 1.0}, {2.0, -1.0}}, float64).requires_grad_();
  Tensor w = tensor({2.0, 3.0}, float64).requires_grad_();
  std::vector<Tensor> y = op.apply({x, w});
  BOOST_REQUIRE(y.size() == 2u);
  BOOST_TEST(std::string(y[0].grad_fn()->name) == "ExpAndScale");
  BOOST_TEST(y[0].grad_fn() == y[1].grad_fn());  // one record, two outputs
  tft::check_close(y[0], {1, std::exp(1.0), std::exp(2.0), std::exp(-1.0)});
  tft::check_close(y[1], {0, 3, 4, -3});
  // d/dx sum(y0 + 2 y1) = exp(x) + 2w; d/dw = 2 sum_rows(x).
  reduce_sum(y[0] + y[1] * 2.0).backward();
  tft::check_close(x.grad(), {1 + 4, std::exp(1.0) + 6, std::exp(2.0) + 4, std::exp(-1.0) + 6});
  tft::check_close(w.grad(), {4, 0});
  // Only y1 used: y0's gradient arrives as zeros.
  Tensor x2 = tensor({{1.0, 1.0}}, float64).requires_grad_();
  reduce_sum(op.apply({x2, w})[1]).backward();
  tft::check_close(x2.grad(), {2, 3});
  // First and second derivatives (the backward is written in ops, so it differentiates again).
  tft::check_grad([&](std::span<const Tensor> in) {
    std::vector<Tensor> o = op.apply({in[0], in[1]});
    return o[0] * 0.5 + o[1] * o[1];
  },
                  {tft::rand64({3, 2}), tft::rand64({2})});
}

BOOST_AUTO_TEST_CASE(a_saved_output_differentiates_through_the_op) {
  // y = exp(x) saving y; dy/dx = y from the saved output: the second derivative exp(x) needs the
  // saved output connected to the op's record while a create_graph backward records.
  CustomOp my_exp("MyExp",
                  [](CustomOpContext& ctx, std::span<const Tensor> in) {
                    Tensor y = exp(in[0]);
                    ctx.save_for_backward({y});
                    return std::vector<Tensor>{y};
                  },
                  [](CustomOpContext& ctx, std::span<const Tensor> g) { return Grads{g[0] * ctx.saved_tensors()[0]}; });
  Tensor x = tensor({0.5, -1.0}, float64).requires_grad_();
  Tensor d1 = autograd::grad({reduce_sum(my_exp({x}))}, {x}, {.create_graph = true})[0];
  Tensor d2 = autograd::grad({reduce_sum(d1)}, {x})[0];
  tft::check_close(d2, {std::exp(0.5), std::exp(-1.0)});
  tft::check_grad([&](std::span<const Tensor> in) { return my_exp({in[0]}); }, {tft::rand64({2, 3})});
}

BOOST_AUTO_TEST_CASE(several_outputs_in_graph_mode) {
  const CustomOp op = exp_and_scale();
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {-1, 2}, "x");
  Tensor w = Variable(tensor({2.0, 3.0}, float64), "w");
  std::vector<Tensor> y = op.apply({x, w});
  BOOST_TEST(y[0].name() == "ExpAndScale:0");
  BOOST_TEST(y[1].name() == "ExpAndScale:1");
  BOOST_TEST(y[1].shape().str() == "[?,2]");
  std::vector<Tensor> d = gradients({reduce_sum(y[0] + y[1] * 2.0)}, {x, w});
  Session sess(g);
  sess.run(global_variables_initializer());
  auto out = sess.run({y[1], d[0], d[1]}, {{x, tensor({{0.0, 1.0}}, float64)}});
  tft::check_close(out[0], {0, 3});
  tft::check_close(out[1], {1 + 4, std::exp(1.0) + 6});
  tft::check_close(out[2], {0, 2});
}

BOOST_AUTO_TEST_CASE(custom_op_errors) {
  const CustomOp op = exp_and_scale();
  Tensor x = tensor({{1.0, 2.0}}, float64);
  TF_CHECK_THROWS_WITH(op({x, tensor({1.0, 1.0}, float64)}), ValueError,
                       "CustomOp 'ExpAndScale' has 2 outputs; call apply() to get them all");
  CustomOp none("None", [](CustomOpContext&, std::span<const Tensor>) { return std::vector<Tensor>{}; },
                [](CustomOpContext&, std::span<const Tensor>) { return Grads{Tensor()}; });
  TF_CHECK_THROWS_WITH(none.apply({x}), ValueError, "CustomOp 'None': forward returned no outputs");
  CustomOp late("Late", [](CustomOpContext&, std::span<const Tensor> in) { return std::vector<Tensor>{in[0] * 2.0}; },
                [](CustomOpContext& ctx, std::span<const Tensor> g) {
                  ctx.save_for_backward({g[0]});
                  return Grads{g[0] * 2.0};
                });
  Tensor v = tensor({1.0}, float64).requires_grad_();
  TF_CHECK_THROWS_WITH(late({v}).backward(), AutogradError, "save_for_backward: call it in the forward");
  TF_CHECK_THROWS_WITH(CustomOp("Empty", CustomOp::Forward(), CustomOp::Backward()), ValueError,
                       "CustomOp 'Empty': needs both a forward and a backward");
}

BOOST_AUTO_TEST_SUITE_END()
