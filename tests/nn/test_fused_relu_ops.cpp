// A ReLU fused into a product's epilogue: relu_layer (tf.nn.relu_layer), Linear and Conv2d with
// .relu (TensorFlow's _FusedMatMul and _FusedConv2D with fused_ops BiasAdd, Relu): values by
// hand, gradchecks, the same bits as the unfused ops, graph mode's node.
#include "helpers.h"
#include "nn/bias.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn/layers.h"
#include "tapeflow/nn/linear.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(fused_relu_ops)

BOOST_AUTO_TEST_CASE(relu_layer_values) {
  // relu([[1,2],[3,4],[5,6]] · [[1,0,-1],[2,1,0]] + [-12,-3,0]) = relu([[-7,-1,-1],[-1,1,-3],[5,3,-5]])
  Tensor x = reshape(tensor({1.0, 2, 3, 4, 5, 6}, float64), {3, 2});
  Tensor w = reshape(tensor({1.0, 0, -1, 2, 1, 0}, float64), {2, 3});
  Tensor b = tensor({-12.0, -3, 0}, float64);
  tft::check_close(nn::relu_layer(x, w, b), {0, 0, 0, 0, 1, 0, 5, 3, 0});
  for (Tensor* t : {&x, &w, &b}) t->requires_grad_();
  Tensor y = nn::relu_layer(x, w, b);
  BOOST_TEST(std::string(y.grad_fn()->name) == "_FusedMatMul");
  reduce_sum(y).backward();
  // Only where the output is positive does the gradient flow: mask [[0,0,0],[0,1,0],[1,1,0]].
  tft::check_close(x.grad(), {0, 0, 0, 1, 1, 3});     // mask · wᵀ
  tft::check_close(w.grad(), {5, 8, 0, 6, 10, 0});    // xᵀ · mask
  tft::check_close(b.grad(), {1, 2, 0});              // the mask's column sums
}

BOOST_AUTO_TEST_CASE(relu_layer_gradients) {
  auto f = [](std::span<const Tensor> in) { return nn::relu_layer(in[0], in[1], in[2]); };
  tft::check_grad(f, {tft::rand64({1, 1}), tft::rand64({1, 1}, -1, 1, 3), tft::rand64({1}, -1, 1, 5)});
  tft::check_grad(f, {tft::rand64({4, 3}), tft::rand64({3, 5}, -1, 1, 3), tft::rand64({5}, -1, 1, 5)});
  tft::check_grad(f, {tft::rand64({2, 3, 4}), tft::rand64({4, 2}, -1, 1, 3), tft::rand64({2}, -1, 1, 5)});  // [..., in]
  auto conv = [](std::span<const Tensor> in) {
    return nn::detail::conv2d_fused(in[0], in[1], in[2], {1, 1}, nn::Padding::Same, nn::detail::Fused::bias_relu);
  };
  tft::check_grad(conv, {tft::rand64({2, 5, 4, 2}), tft::rand64({3, 3, 2, 3}, -1, 1, 5), tft::rand64({3}, -1, 1, 9)});
  tft::check_grad(conv, {tft::rand64({2, 3, 2, 4}), tft::rand64({1, 1, 4, 3}, -1, 1, 5), tft::rand64({3}, -1, 1, 9)});
}

// The epilogue rectifies the same values the unfused ReLU would: equal bits, forward and
// backward, on products large enough to be split between threads and chunked.
BOOST_AUTO_TEST_CASE(fused_equals_unfused) {
  manual_seed(4);
  Tensor x = random_uniform({300, 257}, -1, 1), w = random_uniform({257, 130}, -1, 1), b = random_uniform({130}, -1, 1);
  for (Tensor* t : {&x, &w, &b}) t->requires_grad_();
  Tensor fused = nn::relu_layer(x, w, b), plain = relu(nn::xw_plus_b(x, w, b));
  BOOST_TEST(reduce_max(abs(fused - plain)).item<double>() == 0.0);
  Tensor g = random_uniform(fused.shape(), -1, 1);
  auto grads = autograd::grad({reduce_sum(fused * g)}, {x, w, b});
  auto expected = autograd::grad({reduce_sum(plain * g)}, {x, w, b});
  for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(reduce_max(abs(grads[i] - expected[i])).item<double>() == 0.0);

  for (int k : {5, 1}) {  // the chunked im2col path, and the 1x1 path whose patches are the input
    nn::Conv2d fused_conv(8, 24, k, {.relu = true});
    Tensor image = random_uniform({16, 20, 20, 8}, -1, 1).requires_grad_();
    Tensor y = fused_conv(image);
    BOOST_TEST(std::string(y.grad_fn()->name) == "_FusedConv2D");
    Tensor unfused = relu(nn::conv2d(image, fused_conv.weight(), fused_conv.bias(), {1, 1}, nn::Padding::Same));
    BOOST_TEST(reduce_max(abs(y - unfused)).item<double>() == 0.0);
    Tensor gy = random_uniform(y.shape(), -1, 1);
    auto got = autograd::grad({reduce_sum(y * gy)}, {image, fused_conv.weight(), fused_conv.bias()});
    auto want = autograd::grad({reduce_sum(unfused * gy)}, {image, fused_conv.weight(), fused_conv.bias()});
    for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(reduce_max(abs(got[i] - want[i])).item<double>() == 0.0);
  }
}

BOOST_AUTO_TEST_CASE(modules_with_relu) {
  manual_seed(3);
  nn::Linear lin(4, 3, {.relu = true});
  BOOST_TEST(lin.str() == "Linear(4, 3, relu=true)");
  Tensor x = random_uniform({5, 4}, -1, 1);
  Tensor y = lin(x);
  BOOST_TEST(std::string(y.grad_fn()->name) == "_FusedMatMul");
  BOOST_TEST(reduce_max(abs(y - relu(matmul(x, lin.weight()) + lin.bias()))).item<double>() < 1e-6);
  nn::Linear no_bias(4, 3, {.bias = false, .relu = true});
  BOOST_TEST(std::string(no_bias(x).grad_fn()->name) == "Relu");
  BOOST_TEST(reduce_min(no_bias(x)).item<double>() >= 0.0);
  nn::Conv2d conv(2, 3, 3, {.relu = true});
  BOOST_TEST(conv.str() == "Conv2d(2, 3, kernel_size=[3,3], strides=[1,1], padding=SAME, relu=true)");
  nn::Conv2d conv_no_bias(2, 3, 3, {.bias = false, .relu = true});
  Tensor image = random_uniform({1, 4, 4, 2}, -1, 1);
  BOOST_TEST(std::string(conv_no_bias(image).grad_fn()->name) == "Relu");
}

BOOST_AUTO_TEST_CASE(graph_mode_node) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 2}, "x");
  Tensor w = Variable(reshape(tensor({1.0f, 0, -1, 2, 1, 0}), {2, 3}), "w"), b = Variable(tensor({-12.0f, -3, 0}), "b");
  Tensor y = nn::relu_layer(x, w, b);
  const graph::Node& node = *y.impl()->node;
  BOOST_TEST(node.type() == "_FusedMatMul");
  BOOST_TEST(attr_text(node.attrs.at("fused_ops")) == "[BiasAdd,Relu]");
  Session sess(g);
  sess.run(global_variables_initializer());
  tft::check_close(sess.run(y, {{x, reshape(tensor({1.0f, 2, 3, 4, 5, 6}), {3, 2})}}), {0, 0, 0, 0, 1, 0, 5, 3, 0});
}

BOOST_AUTO_TEST_CASE(errors_name_relu_layer) {
  TF_CHECK_THROWS_WITH(nn::relu_layer(zeros({2, 3}), zeros({4, 5}), zeros({5})), ShapeError,
                       "relu_layer: cannot multiply x [2,3] by weights [4,5]");
  TF_CHECK_THROWS_WITH(nn::relu_layer(zeros({2, 3}), zeros({3, 5}), zeros({4})), ShapeError,
                       "relu_layer: biases must be 1-D with one value per output", "got [4]");
  TF_CHECK_THROWS_WITH(nn::relu_layer(zeros({3}), zeros({3, 5}), zeros({5})), ShapeError,
                       "relu_layer: x must have at least 2 dimensions");
  TF_CHECK_THROWS_WITH(nn::relu_layer(zeros({2, 3}, int64), zeros({3, 5}, int64), zeros({5}, int64)), DTypeError,
                       "relu_layer");
}

BOOST_AUTO_TEST_SUITE_END()
