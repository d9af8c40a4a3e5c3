// xw_plus_b (tf.nn.xw_plus_b): values by hand, gradchecks, the fused op against matmul + bias_add,
// graph mode's two nodes, nn::Linear on top of it, and the error messages.
#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn/conv.h"
#include "tapeflow/nn/linear.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(linear_ops)

BOOST_AUTO_TEST_CASE(xw_plus_b_values) {
  // [[1,2],[3,4],[5,6]] · [[1,0,-1],[2,1,0]] + [10,20,30]
  Tensor x = reshape(tensor({1.0, 2, 3, 4, 5, 6}, float64), {3, 2});
  Tensor w = reshape(tensor({1.0, 0, -1, 2, 1, 0}, float64), {2, 3});
  Tensor b = tensor({10.0, 20, 30}, float64);
  tft::check_close(nn::xw_plus_b(x, w, b), {15, 22, 29, 21, 24, 27, 27, 26, 25});
  x.requires_grad_();
  w.requires_grad_();
  b.requires_grad_();
  Tensor y = nn::xw_plus_b(x, w, b);
  BOOST_TEST(std::string(y.grad_fn()->name) == "_FusedMatMul");
  reduce_sum(y).backward();
  tft::check_close(x.grad(), {0, 3, 0, 3, 0, 3});  // row sums of w
  tft::check_close(w.grad(), {9, 9, 9, 12, 12, 12});  // column sums of x
  tft::check_close(b.grad(), {3, 3, 3});
}

BOOST_AUTO_TEST_CASE(xw_plus_b_gradients) {
  auto f = [](std::span<const Tensor> in) { return nn::xw_plus_b(in[0], in[1], in[2]); };
  tft::check_grad(f, {tft::rand64({1, 1}), tft::rand64({1, 1}, -1, 1, 3), tft::rand64({1}, -1, 1, 5)});
  tft::check_grad(f, {tft::rand64({4, 3}), tft::rand64({3, 5}, -1, 1, 3), tft::rand64({5}, -1, 1, 5)});
  tft::check_grad(f, {tft::rand64({7, 2}), tft::rand64({2, 1}, -1, 1, 3), tft::rand64({1}, -1, 1, 5)});
  // Only some inputs requiring grad.
  Tensor w = tft::rand64({3, 2}, -1, 1, 3);
  tft::check_grad([&](std::span<const Tensor> in) { return nn::xw_plus_b(in[0], w, in[1]); },
                  {tft::rand64({2, 3}), tft::rand64({2}, -1, 1, 5)});
}

BOOST_AUTO_TEST_CASE(xw_plus_b_equals_matmul_plus_bias_add) {
  // Large enough for the threaded bias fill and Eigen's blocked GEMM.
  Tensor x = random_uniform({300, 257}, -1, 1), w = random_uniform({257, 130}, -1, 1), b = random_uniform({130}, -1, 1);
  for (Tensor* t : {&x, &w, &b}) t->requires_grad_();
  Tensor fused = nn::xw_plus_b(x, w, b), composed = nn::bias_add(matmul(x, w), b);
  BOOST_TEST(reduce_max(abs(fused - composed)).item<double>() < 1e-4);
  Tensor g = random_uniform(fused.shape(), -1, 1);
  auto grads = autograd::grad({reduce_sum(fused * g)}, {x, w, b});
  auto expected = autograd::grad({reduce_sum(composed * g)}, {x, w, b});
  for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(reduce_max(abs(grads[i] - expected[i])).item<double>() < 1e-4);
}

BOOST_AUTO_TEST_CASE(xw_plus_b_in_graph_mode_is_one_fused_matmul) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x");
  Tensor w = Variable(ones({3, 2}), "w"), b = Variable(tensor({1.0f, 2.0f}), "b");
  Tensor y = nn::xw_plus_b(x, w, b);
  BOOST_TEST(y.shape().str() == "[?,2]");
  // TensorFlow's fused op (its graph optimizer's MatMul + BiasAdd), with the attributes it has.
  const graph::Node& node = *y.impl()->node;
  BOOST_TEST(node.type() == "_FusedMatMul");
  BOOST_TEST(attr_text(node.attrs.at("fused_ops")) == "[BiasAdd]");
  BOOST_TEST(attr_text(node.attrs.at("transpose_a")) == "false");
  Session sess(g);
  sess.run(global_variables_initializer());
  const FeedDict feed = {{x, reshape(tensor({1.0f, 2, 3, 4, 5, 6}), {2, 3})}};
  Tensor got = sess.run(y, feed);
  tft::check_close(got, {7, 8, 16, 17});
}

BOOST_AUTO_TEST_CASE(linear_module_uses_it) {
  manual_seed(3);
  nn::Linear lin(4, 3);
  Tensor x = random_uniform({5, 4});
  Tensor y = lin(x);
  BOOST_TEST(std::string(y.grad_fn()->name) == "_FusedMatMul");
  BOOST_TEST(reduce_max(abs(y - (matmul(x, lin.weight()) + lin.bias()))).item<double>() < 1e-6);
  nn::Linear no_bias(4, 3, {.bias = false});
  BOOST_TEST(std::string(no_bias(x).grad_fn()->name) == "MatMul");
}

BOOST_AUTO_TEST_CASE(xw_plus_b_errors) {
  TF_CHECK_THROWS_WITH(nn::xw_plus_b(zeros({2, 3}), zeros({4, 5}), zeros({5})), ShapeError,
                       "xw_plus_b: cannot multiply x [2,3] by weights [4,5]", "[N, in]");
  TF_CHECK_THROWS_WITH(nn::xw_plus_b(zeros({3}), zeros({3, 5}), zeros({5})), ShapeError,
                       "xw_plus_b: x must have at least 2 dimensions, [..., in], got x [3]");
  TF_CHECK_THROWS_WITH(nn::xw_plus_b(zeros({2, 3}), zeros({3, 5}), zeros({4})), ShapeError,
                       "xw_plus_b: biases must be 1-D with one value per output", "[5] for weights [3,5]", "got [4]");
  TF_CHECK_THROWS_WITH(nn::xw_plus_b(zeros({2, 3}), zeros({3, 5}, float64), zeros({5})), DTypeError, "xw_plus_b");
  TF_CHECK_THROWS_WITH(nn::xw_plus_b(zeros({2, 3}), zeros({3, 5}), zeros({5}, float64)), DTypeError, "xw_plus_b");
  TF_CHECK_THROWS_WITH(nn::xw_plus_b(zeros({2, 3}), zeros({3, 5}), Tensor()), ValueError, "xw_plus_b");
  TF_CHECK_THROWS_WITH(nn::xw_plus_b(zeros({2, 3}, int64), zeros({3, 5}, int64), zeros({5}, int64)), DTypeError,
                       "xw_plus_b");
}

BOOST_AUTO_TEST_SUITE_END()
