// Tensor::register_hook (PyTorch's tensor hooks): see and replace the gradient flowing through a
// tensor, leaf or computed; removal handles; errors.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/tapeflow.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(hooks)

BOOST_AUTO_TEST_CASE(a_hook_on_a_computed_tensor_sees_and_replaces_its_gradient) {
  // y = x * 3; z = sum(y * y): dz/dy = 2y = 6x. A hook doubling dz/dy doubles dz/dx.
  Tensor x = tensor({1.0, -2.0}, float64).requires_grad_();
  Tensor y = x * 3.0;
  Tensor seen;
  y.register_hook([&](const Tensor& g) {
    seen = g.clone();
    return g * 2.0;
  });
  reduce_sum(y * y).backward();
  tft::check_close(seen, {6, -12});
  tft::check_close(x.grad(), {2 * 6 * 3, 2 * -12 * 3});
}

BOOST_AUTO_TEST_CASE(a_leaf_hook_sees_the_whole_gradient_once) {
  // x reaches the loss by two paths; the hook sees their sum, once (a norm clip is then right).
  Tensor x = tensor({3.0, 4.0}, float64).requires_grad_();
  int calls = 0;
  auto handle = x.register_hook([&](const Tensor& g) {
    ++calls;
    const double norm = std::sqrt(reduce_sum(g * g).item<double>());
    return norm > 1.0 ? g / norm : Tensor();  // clip the gradient's norm to 1
  });
  reduce_sum(x * 2.0 + x * 4.0).backward();  // gradient [6, 6], norm 8.49
  BOOST_TEST(calls == 1);
  tft::check_close(x.grad(), {1 / std::sqrt(2.0), 1 / std::sqrt(2.0)});
  // autograd::grad sees hooked gradients too; after remove() the hook is gone.
  tft::check_close(autograd::grad({reduce_sum(x * 6.0)}, {x})[0], {1 / std::sqrt(2.0), 1 / std::sqrt(2.0)});
  handle.remove();
  handle.remove();  // twice: nothing
  tft::check_close(autograd::grad({reduce_sum(x * 6.0)}, {x})[0], {6, 6});
  BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE(hooks_log_per_layer_gradient_norms) {
  // The use the issue names: a norm per layer, logged during training, without changing anything.
  Generator gen(5);
  nn::Linear first(3, 4, {.dtype = float64, .generator = &gen}), second(4, 1, {.dtype = float64, .generator = &gen});
  std::vector<double> norms;
  std::vector<HookHandle> handles;
  for (nn::Linear* layer : {&first, &second})
    handles.push_back(layer->weight().register_hook([&](const Tensor& g) {
      norms.push_back(std::sqrt(reduce_sum(g * g).item<double>()));
      return Tensor();
    }));
  Tensor x = random_normal({5, 3}, 0, 1, float64, &gen);
  reduce_mean(square(second(tanh(first(x))))).backward();
  BOOST_TEST(norms.size() == 2u);
  BOOST_TEST(norms[0] == std::sqrt(reduce_sum(square(first.weight().grad())).item<double>()), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(norms[1] == std::sqrt(reduce_sum(square(second.weight().grad())).item<double>()), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(several_hooks_run_in_order_on_a_multi_output_op) {
  Tensor x = tft::rand64({4, 2});
  nn::BatchNormOutput o = nn::fused_batch_norm(x, Tensor(), Tensor(), zeros({2}, float64), ones({2}, float64));
  std::string order;
  o.batch_mean.register_hook([&](const Tensor& g) { order += "a"; return g * 10.0; });
  o.batch_mean.register_hook([&](const Tensor& g) { order += "b"; return g + 1.0; });
  Tensor gx = autograd::grad({reduce_sum(o.batch_mean)}, {x})[0];
  BOOST_TEST(order == "ab");
  // d mean / dx = 1 / 4 per row, times the hooked gradient 1 * 10 + 1 = 11.
  tft::check_close(gx, std::vector<double>(8, 11.0 / 4));
}

BOOST_AUTO_TEST_CASE(graph_mode_hooks_run_in_the_sessions_runs) {
  // y = w * x, loss = sum(y^2): d loss / dy = 2y; a hook on the graph tensor y doubles it in every
  // run that takes gradients through y, and is taken off the values after each run.
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {2}, "x");
  Tensor w = Variable(tensor({1.0, 3.0}, float64), "w");
  Tensor y = w * x;
  Tensor loss = reduce_sum(y * y);
  int calls = 0;
  HookHandle handle = y.register_hook([&](const Tensor& grad) {
    ++calls;
    return grad * 2.0;
  });
  Tensor dw = gradients({loss}, {w})[0];
  Session sess(g);
  sess.run(global_variables_initializer());
  const Tensor xv = tensor({2.0, -1.0}, float64);
  tft::check_close(sess.run(dw, {{x, xv}}), {2 * 2 * (1 * 2) * 2, 2 * 2 * (3 * -1) * -1});  // 2 * 2y * x
  BOOST_TEST(calls == 1);
  sess.run(loss, {{x, xv}});  // no gradients in this run: no hook
  BOOST_TEST(calls == 1);
  // A hook on a variable's tensor (a leaf in each run), and removal.
  w.register_hook([](const Tensor& grad) { return grad * 0.0 + 1.0; });
  tft::check_close(sess.run(dw, {{x, xv}}), {1, 1});
  BOOST_TEST(calls == 2);
  handle.remove();
  const auto& left = sess.value(w).impl()->hooks;  // taken off the variable's value after the run
  BOOST_TEST((!left || left->entries.empty()));
}

BOOST_AUTO_TEST_CASE(hook_errors) {
  TF_CHECK_THROWS_WITH(tensor({1.0}, float64).register_hook([](const Tensor& g) { return g; }), AutogradError,
                       "register_hook: the tensor [1] does not require grad, so no gradient will reach a hook on it");
  Tensor x = tensor({1.0, 2.0}, float64).requires_grad_();
  Tensor y = x * 2.0;
  y.register_hook([](const Tensor&) { return zeros({3}, float64); });
  TF_CHECK_THROWS_WITH(reduce_sum(y).backward(), AutogradError,
                       "a gradient hook returned a tensor [3] float64 for a gradient [2] float64");
}

BOOST_AUTO_TEST_SUITE_END()
