// Graph-mode layers: variable names, arg_scope, end points, batch norm's update ops, dropout's
// is_training switch, and a small convnet that trains.
#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(graph_layers)

BOOST_AUTO_TEST_CASE(variables_and_ops_are_named_by_scope) {
  Graph g;
  auto scope = g.as_default();
  Tensor images = placeholder(float32, {-1, 28, 28, 1}, "image");
  Tensor net = layers::conv2d(images, 32, {5, 5}, "conv1");
  BOOST_TEST(net.shape().str() == "[?,28,28,32]");
  BOOST_TEST(net.name() == "conv1/Relu:0");
  BOOST_TEST(g.get_operation_by_name("conv1/weights")->outputs()[0].shape.str() == "[5,5,1,32]");
  BOOST_TEST(g.get_operation_by_name("conv1/biases")->outputs()[0].shape.str() == "[32]");
  BOOST_TEST(g.get_operation_by_name("conv1/Conv2D")->type() == "Conv2D");
  net = layers::max_pool2d(net, {2, 2}, 2, "pool1");
  BOOST_TEST(net.shape().str() == "[?,14,14,32]");
  BOOST_TEST(net.name() == "pool1/MaxPool:0");
  net = layers::conv2d(net, 8, {14, 14}, "fc3", {.padding = nn::Padding::Valid});
  BOOST_TEST(net.shape().str() == "[?,1,1,8]");
  Tensor logits = layers::conv2d(net, 10, {1, 1}, "fc4", {.activation_fn = nullptr});
  BOOST_TEST(logits.name() == "fc4/BiasAdd:0");
  Tensor flat = layers::flatten(logits);
  BOOST_TEST(flat.shape().str() == "[?,10]");
  Tensor fc = layers::fully_connected(flat, 4);
  BOOST_TEST(g.get_operation_by_name("fully_connected/weights")->outputs()[0].shape.str() == "[10,4]");
  Tensor fc2 = layers::fully_connected(flat, 4);
  BOOST_TEST(g.get_operation_by_name("fully_connected_1/weights")->type() == "VariableV2");
  BOOST_TEST(trainable_variables().size() == 10u);
  TF_CHECK_THROWS_WITH(layers::fully_connected(images, 3), ShapeError, "layers::fully_connected",
                       "[?,28,28,1]", "flatten them first");
  TF_CHECK_THROWS_WITH(layers::conv2d(flat, 3, {3, 3}), ShapeError, "layers::conv2d", "rank >= 4", "[?,10]");
}

BOOST_AUTO_TEST_CASE(arg_scope_sets_defaults) {
  Graph g;
  auto scope = g.as_default();
  Tensor images = placeholder(float32, {-1, 8, 8, 1}, "image");
  Tensor net;
  {
    layers::arg_scope defaults({layers::Layer::Conv2d, layers::Layer::FullyConnected},
                               {.activation_fn = [](const Tensor& x) { return tanh(x); },
                                .weights_initializer = constant_initializer(0.5),
                                .weights_regularizer = nn::l2_regularizer(0.1),
                                .outputs_collections = std::vector<std::string>{"end_points"}});
    layers::arg_scope inner({layers::Layer::Conv2d}, {.padding = nn::Padding::Valid});
    net = layers::conv2d(images, 2, {3, 3}, "conv1");
    net = layers::conv2d(net, 2, {3, 3}, "conv2", {.activation_fn = nullptr});
  }
  Tensor after = layers::conv2d(images, 2, {3, 3}, "conv3");
  BOOST_TEST(net.shape().str() == "[?,4,4,2]");  // VALID twice
  BOOST_TEST(after.shape().str() == "[?,8,8,2]");  // SAME again outside
  BOOST_TEST(after.name() == "conv3/Relu:0");
  BOOST_TEST(g.get_operation_by_name("conv1/Tanh")->type() == "Tanh");
  BOOST_TEST(get_collection(GraphKeys::REGULARIZATION_LOSSES).size() == 2u);
  auto ends = layers::convert_collection_to_dict("end_points");
  BOOST_REQUIRE(ends.size() == 2u);
  BOOST_TEST(ends[0].first == "conv1");
  BOOST_TEST(ends[1].first == "conv2");
  BOOST_TEST(ends[1].second.name() == "conv2/BiasAdd:0");
  Session sess(g);
  sess.run(global_variables_initializer());
  // All-0.5 weights over a 3x3 window of ones, no bias: 4.5 then tanh.
  Tensor out = sess.run(layers::flatten(net), {{images, ones({1, 8, 8, 1})}});
  const double first = std::tanh(4.5) * 0.5 * 9;
  BOOST_TEST(out.to_vector<double>()[0] == first * 2, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(sess.run(get_collection(GraphKeys::REGULARIZATION_LOSSES)[0]).item() == 0.1 * 0.25 * 18 / 2,
             boost::test_tools::tolerance(1e-5));
}

BOOST_AUTO_TEST_CASE(batch_norm_updates_moving_statistics_through_update_ops) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x");
  Tensor is_training = placeholder(bool_, {}, "is_training");
  Tensor y = layers::batch_norm(x, {.decay = 0.5, .is_training = is_training});
  BOOST_TEST(y.shape().str() == "[?,3]");
  BOOST_TEST(g.get_operation_by_name("BatchNorm/beta")->type() == "VariableV2");
  BOOST_TEST(attr_text(g.get_operation_by_name("BatchNorm/moving_mean")->attrs.at("trainable")) == "false");
  auto updates = get_collection(GraphKeys::UPDATE_OPS);
  BOOST_REQUIRE(updates.size() == 2u);
  BOOST_TEST(updates[0].name() == "BatchNorm/moving_mean/AssignMovingAvg:0");
  Tensor train_op;
  {
    control_dependencies deps(updates);
    train_op = train::GradientDescentOptimizer(0.1).minimize(reduce_sum(square(y)));
  }
  Session sess(g);
  sess.run(global_variables_initializer());
  Tensor batch = tensor({{1, 2, 3}, {3, 6, 9}});
  // Training: normalised with the batch statistics (mean 2,4,6; variance 1,4,9).
  Tensor out = sess.run(y, {{x, batch}, {is_training, scalar(1, bool_)}});
  BOOST_TEST(out.to_vector<double>()[0] == -1 / std::sqrt(1 + 0.001), boost::test_tools::tolerance(1e-5));
  // Running y alone does not touch the moving statistics; the train op (with its updates) does.
  tft::check_close(sess.run(g.get_tensor_by_name("BatchNorm/moving_mean:0")), {0, 0, 0});
  sess.run(train_op, {{x, batch}, {is_training, scalar(1, bool_)}});
  tft::check_close(sess.run(g.get_tensor_by_name("BatchNorm/moving_mean:0")), {1, 2, 3});
  tft::check_close(sess.run(g.get_tensor_by_name("BatchNorm/moving_variance:0")), {1, 2.5, 5});
  // Inference uses the moving statistics, and updates nothing.
  Tensor inferred = sess.run(y, {{x, tensor({{1, 2, 3}})}, {is_training, scalar(0, bool_)}});
  tft::check_close(inferred, {0, 0, 0}, 1e-5);
  sess.run(updates, {{x, batch}, {is_training, scalar(0, bool_)}});
  tft::check_close(sess.run(g.get_tensor_by_name("BatchNorm/moving_mean:0")), {1, 2, 3});
}

BOOST_AUTO_TEST_CASE(dropout_switches_with_is_training) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 1000}, "x");
  Tensor keep = placeholder(float32, {}, "keep_prob");
  Tensor training = placeholder(bool_, {}, "is_training");
  Tensor y = layers::dropout(x, keep, training, "dropout1");
  BOOST_TEST(y.shape().str() == "[?,1000]");
  Session sess(g);
  Tensor ones_in = ones({2, 1000});
  tft::check_close(sess.run(y, {{x, ones_in}, {keep, scalar(0.5)}, {training, scalar(0, bool_)}}),
                   std::vector<double>(2000, 1.0));
  Tensor dropped = sess.run(y, {{x, ones_in}, {keep, scalar(0.5)}, {training, scalar(1, bool_)}});
  const double zeros_fraction = nn::zero_fraction(dropped).item();
  BOOST_TEST(zeros_fraction > 0.4);
  BOOST_TEST(zeros_fraction < 0.6);
  BOOST_TEST(reduce_max(dropped).item() == 2.0);
}

BOOST_AUTO_TEST_CASE(a_small_convnet_trains) {
  manual_seed(3);
  Graph g;
  auto scope = g.as_default();
  Tensor images = placeholder(float32, {-1, 6, 6, 1}, "image");
  Tensor labels = placeholder(int64, {-1}, "labels");
  Tensor is_training = placeholder(bool_, {}, "is_training");
  Tensor logits;
  {
    layers::arg_scope defaults({layers::Layer::Conv2d},
                               {.weights_initializer = variance_scaling_initializer(1.0, "FAN_AVG"),
                                .normalizer_fn = layers::batch_norm_fn({.is_training = is_training})});
    Tensor net = layers::conv2d(images, 4, {3, 3}, "conv1");
    net = layers::max_pool2d(net, {2, 2}, 2, "pool1");
    logits = squeeze(layers::conv2d(net, 2, {3, 3}, "fc", {.activation_fn = nullptr, .normalizer_fn = nullptr,
                                                          .padding = nn::Padding::Valid}),
                     {1, 2});
  }
  BOOST_TEST(logits.shape().str() == "[?,2]");
  Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(labels, logits));
  Tensor train_op;
  {
    control_dependencies deps(get_collection(GraphKeys::UPDATE_OPS));
    train_op = train::AdamOptimizer(0.05).minimize(loss, train::get_or_create_global_step());
  }
  // Class 1: a bright top half; class 0: a bright bottom half.
  Tensor x = zeros({8, 6, 6, 1});
  std::vector<std::int64_t> y;
  float* px = x.data<float>();
  for (int n = 0; n < 8; ++n) {
    y.push_back(n % 2);
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) px[(n * 6 + i) * 6 + j] = ((i < 3) == (n % 2 == 1)) ? 1.0f : 0.0f;
  }
  Tensor yt = from_vector(y);
  Session sess(g);
  sess.run(global_variables_initializer());
  const double first = sess.run(loss, {{images, x}, {labels, yt}, {is_training, scalar(1, bool_)}}).item();
  for (int i = 0; i < 30; ++i) sess.run(train_op, {{images, x}, {labels, yt}, {is_training, scalar(1, bool_)}});
  const double last = sess.run(loss, {{images, x}, {labels, yt}, {is_training, scalar(0, bool_)}}).item();
  BOOST_TEST(last < 0.2 * first);
}

BOOST_AUTO_TEST_SUITE_END()
