// Graph mode's gradients with respect to any graph tensor (placeholders, intermediates, variables),
// gradients of gradients, tf.hessians, grad_ys, and stop_gradient at every order.
#include <boost/test/unit_test.hpp>

#include "helpers.h"
#include "tapeflow/graph.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(graph_higher_order)

BOOST_AUTO_TEST_CASE(the_gradient_with_respect_to_a_placeholder) {
  // The program: dy/dx was [0, 0, 0].
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {3}, "x");
  Tensor w = Variable(tensor({1.0, -2.0, 0.5}, float64), "w");
  Tensor y = reduce_sum(w * x * x);
  auto grads = gradients({y}, {x, w});
  Session sess(g);
  sess.run(global_variables_initializer());
  auto out = sess.run(grads, {{x, tensor({3.0, 1.0, -2.0}, float64)}});
  tft::check_close(out[0], {2 * 1.0 * 3, 2 * -2.0 * 1, 2 * 0.5 * -2});  // 2 w x
  tft::check_close(out[1], {9, 1, 4});                                  // x^2
}

BOOST_AUTO_TEST_CASE(the_gradient_with_respect_to_intermediates_and_constants) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {2}, "x");
  Tensor c = constant(tensor({2.0, 3.0}, float64), "c");
  Tensor h = x * c;                    // an intermediate
  Tensor y = reduce_sum(square(h));    // dy/dh = 2 h, dy/dc = 2 h x, dy/dx = 2 h c
  auto grads = gradients({y}, {h, c, x});
  Session sess(g);
  auto out = sess.run(grads, {{x, tensor({1.0, -1.0}, float64)}});
  tft::check_close(out[0], {4, -6});
  tft::check_close(out[1], {4, 6});
  tft::check_close(out[2], {8, -18});
  // y does not depend on an unrelated placeholder: zeros (TF's None).
  Tensor z = placeholder(float64, {2}, "z");
  tft::check_close(sess.run(gradients({y}, {z})[0], {{x, tensor({1.0, -1.0}, float64)}, {z, tensor({5.0, 5.0}, float64)}}),
                   {0, 0});
}

BOOST_AUTO_TEST_CASE(gradients_of_gradients) {
  // y = sum(w x^3): dy/dx = 3 w x^2, and d/dx sum(v * dy/dx) = 6 w x v (a Hessian-vector product).
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {3}, "x");
  Tensor w = Variable(tensor({1.0, 2.0, -1.0}, float64), "w");
  Tensor v = constant(tensor({1.0, 0.5, 2.0}, float64), "v");
  Tensor y = reduce_sum(w * x * x * x);
  Tensor dx = gradients({y}, {x})[0];
  auto second = gradients({reduce_sum(dx * v)}, {x, w});
  Session sess(g);
  sess.run(global_variables_initializer());
  // Both orders fetched in one run: the first backward keeps its records for the second.
  auto out = sess.run({dx, second[0], second[1]}, {{x, tensor({1.0, -1.0, 2.0}, float64)}});
  tft::check_close(out[0], {3, 6, -12});
  tft::check_close(out[1], {6 * 1 * 1 * 1.0, 6 * 2 * -1 * 0.5, 6 * -1 * 2 * 2.0});
  tft::check_close(out[2], {3 * 1 * 1.0, 3 * 1 * 0.5, 3 * 4 * 2.0});  // d/dw sum(3 w x^2 v) = 3 x^2 v
  // The second order alone (the first gradients node records its backward, as it must).
  tft::check_close(sess.run(second[0], {{x, tensor({1.0, -1.0, 2.0}, float64)}}), {6, -6, -24});
  // A third order: d/dx sum(6 w x v) = 6 w v.
  Tensor third = gradients({reduce_sum(second[0])}, {x})[0];
  tft::check_close(sess.run(third, {{x, tensor({1.0, -1.0, 2.0}, float64)}}), {6, 6, -12});
}

BOOST_AUTO_TEST_CASE(hessians_of_a_quadratic_form_are_its_matrix) {
  // y = x^T A x: the Hessian is A + A^T; with 0.5 x^T S x, S symmetric: S.
  Graph g;
  auto scope = g.as_default();
  Tensor a = constant(tensor({{2.0, 1.0, 0.0}, {-1.0, 3.0, 0.5}, {4.0, 0.0, 1.0}}, float64), "A");
  Tensor x = placeholder(float64, {3}, "x");
  Tensor col = reshape(x, {3, 1});
  Tensor y = reduce_sum(matmul(matmul(reshape(x, {1, 3}), a), col));
  auto h = hessians({y}, {x});
  BOOST_TEST(h[0].shape().str() == "[3,3]");
  BOOST_TEST(h[0].impl()->name.rfind("hessians/", 0) == 0);
  Session sess(g);
  Tensor hv = sess.run(h[0], {{x, tensor({0.3, -1.2, 2.0}, float64)}});
  tft::check_close(hv, {4, 0, 4, 0, 6, 0.5, 4, 0.5, 2});
  // A matrix-shaped x: the Hessian of sum(x^3) is diagonal, 6 x, with shape [2,2,2,2].
  Tensor m = placeholder(float64, {2, 2}, "m");
  Tensor hm = hessians({reduce_sum(m * m * m)}, {m})[0];
  BOOST_TEST(hm.shape().str() == "[2,2,2,2]");
  Tensor hmv = sess.run(hm, {{m, tensor({{1.0, 2.0}, {3.0, 4.0}}, float64)}});
  std::vector<double> expected(16, 0.0);
  for (int i = 0; i < 4; ++i) expected[static_cast<std::size_t>(i * 4 + i)] = 6.0 * (i + 1);
  tft::check_close(hmv, expected);
}

BOOST_AUTO_TEST_CASE(stop_gradient_at_every_order) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {2}, "x");
  // Inside the function: y = sg(x) x^2, dy/dx = 2 sg(x) x, d2y/dx2 = 2 sg(x) (not 6x as for x^3).
  Tensor y = reduce_sum(stop_gradient(x) * x * x);
  Tensor dx = gradients({y}, {x})[0];
  Tensor d2 = gradients({reduce_sum(dx)}, {x})[0];
  // Around a gradient: nothing flows through it.
  Tensor cut = gradients({reduce_sum(stop_gradient(dx))}, {x})[0];
  Session sess(g);
  auto out = sess.run({dx, d2, cut}, {{x, tensor({2.0, -3.0}, float64)}});
  tft::check_close(out[0], {8, 18});
  tft::check_close(out[1], {4, -6});
  tft::check_close(out[2], {0, 0});
}

BOOST_AUTO_TEST_CASE(grad_ys_weight_the_ys) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {2}, "x");
  Tensor y = x * x;
  Tensor gy = placeholder(float64, {2}, "gy");
  Tensor dx = gradients({y}, {x}, {gy})[0];  // 2 x gy
  Session sess(g);
  tft::check_close(sess.run(dx, {{x, tensor({1.0, 2.0}, float64)}, {gy, tensor({3.0, -1.0}, float64)}}), {6, -4});
  TF_CHECK_THROWS_WITH(gradients({y}, {x}, {gy, gy}), ValueError,
                       "gradients: 1 ys but 2 grad_ys; give one gradient per y, or none (ones)");
  Tensor wrong = placeholder(float64, {3}, "wrong");
  TF_CHECK_THROWS_WITH(gradients({y}, {x}, {wrong}), ShapeError,
                       "gradients: grad_ys[0] 'wrong:0' is [3] float64, but its y 'mul:0' is [2] float64");
}

BOOST_AUTO_TEST_CASE(hessians_need_known_shapes) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {-1}, "x");
  TF_CHECK_THROWS_WITH(hessians({reduce_sum(x * x)}, {x}), ValueError,
                       "hessians: 'x:0' has shape [?]; the Hessian needs a fully defined shape");
  Tensor big = placeholder(float64, {1, 1, 1, 1, 1}, "big");
  TF_CHECK_THROWS_WITH(hessians({reduce_sum(big)}, {big}), ValueError,
                       "its Hessian would have rank 10, more than tapeflow's 8");
}

BOOST_AUTO_TEST_SUITE_END()
