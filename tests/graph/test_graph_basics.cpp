// Graph building (names, scopes, static shapes, collections) and Session::run.
#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(graph_basics)

BOOST_AUTO_TEST_CASE(names_follow_tensorflow) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 784}, "images");
  BOOST_TEST(x.name() == "images:0");
  BOOST_TEST(x.shape().str() == "[?,784]");
  Tensor w1, w2, h;
  {
    name_scope s("hidden1");
    BOOST_TEST(s.name() == "hidden1/");
    w1 = Variable(zeros({784, 128}), "weights");
    h = matmul(x, w1);
  }
  {
    name_scope s("hidden1");
    BOOST_TEST(s.name() == "hidden1_1/");
    w2 = Variable(zeros({784, 128}), "weights");
    Tensor h2 = matmul(x, w2);
    BOOST_TEST(h2.name() == "hidden1_1/MatMul:0");
  }
  Tensor m1 = matmul(x, w1), m2 = matmul(x, w1);
  BOOST_TEST(w1.name() == "hidden1/weights:0");
  BOOST_TEST(w2.name() == "hidden1_1/weights:0");
  BOOST_TEST(h.name() == "hidden1/MatMul:0");
  BOOST_TEST(m1.name() == "MatMul:0");
  BOOST_TEST(m2.name() == "MatMul_1:0");
  BOOST_TEST(h.shape().str() == "[?,128]");
  // Python's operator names: `a + b` is an Add node called "add".
  Tensor s1 = h + h, s2 = h * 2.0;
  BOOST_TEST(s1.name() == "add:0");
  BOOST_TEST(s1.impl()->node->type() == "Add");
  BOOST_TEST(s2.name() == "mul:0");
  BOOST_TEST(g.get_operation_by_name("hidden1/weights/Assign")->type() == "Assign");
  BOOST_TEST(g.get_tensor_by_name("hidden1/MatMul:0").shape().str() == "[?,128]");
  TF_CHECK_THROWS_WITH(g.get_operation_by_name("nope"), ValueError, "no node called 'nope'");
}

BOOST_AUTO_TEST_CASE(named_gives_the_last_node_a_name) {
  Graph g;
  auto scope = g.as_default();
  Tensor w = Variable(ones({2, 2}), "w");
  Tensor l1 = named("l1", reduce_sum(abs(w)));
  BOOST_TEST(l1.name() == "l1:0");
  BOOST_TEST(l1.impl()->node->type() == "Sum");
  // The auto name it dropped is free again, as if the node had been built with name="l1".
  Tensor s = reduce_sum(w);
  BOOST_TEST(s.name() == "Sum:0");
  Tensor b = abs(w);
  Tensor c = abs(w);
  TF_CHECK_THROWS_WITH(named("x", b), ValueError, "named('x'): node 'Abs_1' is not the last node built");
  (void)c;
}

BOOST_AUTO_TEST_CASE(static_shape_errors_name_the_op_and_shapes) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 784});
  Tensor w = Variable(zeros({100, 10}));
  TF_CHECK_THROWS_WITH(matmul(x, w), ShapeError, "matmul", "[?,784]", "[100,10]", "784 != 100",
                       "while building node 'MatMul' (MatMul) from 'Placeholder:0' [?,784], 'Variable:0' [100,10]");
  {
    name_scope s("conv1");
    Tensor images = placeholder(float32, {-1, 28, 28, 3}, "images");
    TF_CHECK_THROWS_WITH(nn::conv2d(images, zeros({5, 5, 1, 8}), {1, 1}, nn::Padding::Same), ShapeError,
                         "conv2d: filter [5,5,1,8] expects 1 input channels but the input [?,28,28,3] has 3",
                         "while building node 'conv1/Conv2D' (Conv2D) from 'conv1/images:0' [?,28,28,3], a constant "
                         "[5,5,1,8]");
  }
  Tensor y = placeholder(float32, {-1, 3});
  TF_CHECK_THROWS_WITH(y + placeholder(float32, {-1, 4}), ShapeError, "add", "[?,3]", "[?,4]");
  TF_CHECK_THROWS_WITH(y + placeholder(float64, {-1, 3}), DTypeError, "add", "float32", "float64");
  TF_CHECK_THROWS_WITH(y.item(), Error, "'Placeholder_1:0'", "is a graph tensor");
}

BOOST_AUTO_TEST_CASE(run_feeds_and_fetches) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 2}, "x");
  Tensor w = Variable(tensor({{1, 2}, {3, 4}}), "w");
  Tensor y = matmul(x, w) + 1.0;
  Session sess(g);
  sess.run(global_variables_initializer());
  Tensor out = sess.run(y, {{x, tensor({{1, 1}})}});
  tft::check_close(out, {5, 7});
  auto both = sess.run({y, w}, {{x, tensor({{0, 1}, {1, 0}})}});
  tft::check_close(both[0], {4, 5, 2, 3});
  tft::check_close(both[1], {1, 2, 3, 4});
  // A fetched variable is a copy: changing it does not change the session's value.
  fill_(both[1], 0.0);
  tft::check_close(sess.run(w), {1, 2, 3, 4});
  // Feeding an intermediate tensor cuts the graph there.
  Tensor product = g.get_tensor_by_name("MatMul:0");
  tft::check_close(sess.run(y, {{product, tensor({{1, 1}})}}), {2, 2});
}

BOOST_AUTO_TEST_CASE(run_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 2}, "images");
  Tensor w = Variable(ones({2, 2}), "weights");
  Tensor y = matmul(x, w);
  Session sess(g);
  TF_CHECK_THROWS_WITH(sess.run(y, {{x, ones({1, 2})}}), ValueError, "Attempting to use uninitialized value weights",
                       "[2,2]", "global_variables_initializer()");
  sess.run(global_variables_initializer());
  TF_CHECK_THROWS_WITH(sess.run(y), ValueError,
                       "You must feed a value for placeholder tensor 'images' with dtype float32 and shape [?,2]");
  TF_CHECK_THROWS_WITH(sess.run(y, {{x, ones({1, 3})}}), ShapeError,
                       "cannot feed a value of shape [1,3] for tensor 'images:0', which has shape [?,2]");
  TF_CHECK_THROWS_WITH(sess.run(y, {{x, ones({1, 2}, float64)}}), DTypeError,
                       "cannot feed a value of dtype float64 for tensor 'images:0', which has dtype float32");
  Graph other;
  Tensor z;
  {
    auto s2 = other.as_default();
    z = placeholder(float32, {1});
  }
  TF_CHECK_THROWS_WITH(sess.run(z), ValueError, "fetch 'Placeholder:0' belongs to another graph");
  TF_CHECK_THROWS_WITH(y + z, ValueError, "belongs to another graph");
  TF_CHECK_THROWS_WITH(sess.run(ones({1})), ValueError, "is an eager tensor, not a graph tensor");
}

BOOST_AUTO_TEST_CASE(each_node_runs_once_and_only_what_is_needed) {
  Graph g;
  auto scope = g.as_default();
  Tensor counter = Variable(zeros({}), "counter");
  Tensor bump = assign_add(counter, scalar(1.0));
  Tensor unfed = placeholder(float32, {}, "unfed");
  Tensor unused = unfed * 2.0;
  (void)unused;
  Session sess(g);
  sess.run(global_variables_initializer());
  // bump appears twice in the fetches (and under an identity): it runs once.
  auto out = sess.run({bump, bump, identity(bump)});
  BOOST_TEST(out[0].item() == 1.0);
  BOOST_TEST(sess.run(counter).item() == 1.0);
  sess.run(bump);
  BOOST_TEST(sess.run(counter).item() == 2.0);
  Tensor dec = assign_sub(counter, scalar(0.5));
  BOOST_TEST(sess.run(dec).item() == 1.5);
}

BOOST_AUTO_TEST_CASE(control_dependencies_and_group) {
  Graph g;
  auto scope = g.as_default();
  Tensor a = Variable(zeros({}), "a"), b = Variable(zeros({}), "b");
  Tensor inc_a = assign_add(a, scalar(1.0));
  Tensor read_b;
  {
    control_dependencies deps({inc_a});
    read_b = identity(b) + 0.0;
  }
  Tensor both = group({inc_a, assign_add(b, scalar(10.0))});
  BOOST_TEST(is_operation(both));
  BOOST_TEST(both.str() == "Operation(\"group_deps\")");
  Session sess(g);
  sess.run(global_variables_initializer());
  sess.run(read_b);
  BOOST_TEST(sess.run(a).item() == 1.0);
  BOOST_TEST(!sess.run(both).defined());
  BOOST_TEST(sess.run(a).item() == 2.0);
  BOOST_TEST(sess.run(b).item() == 10.0);
  TF_CHECK_THROWS_WITH(both + 1.0, ValueError, "'group_deps' is an operation");
}

BOOST_AUTO_TEST_CASE(collections) {
  Graph g;
  auto scope = g.as_default();
  Tensor w = Variable(zeros({2}), "w");
  Tensor step = Variable(zeros({}, int64), "step", {.trainable = false});
  BOOST_TEST(global_variables().size() == 2u);
  BOOST_TEST(trainable_variables().size() == 1u);
  BOOST_TEST(trainable_variables()[0].name() == "w:0");
  add_to_collection("regularizer_worthy_params", w);
  add_to_collections({"a", "b"}, step);
  BOOST_TEST(get_collection("regularizer_worthy_params").size() == 1u);
  BOOST_TEST(get_collection("b")[0].name() == "step:0");
  BOOST_TEST(get_collection("missing").empty());
  BOOST_TEST(g.get_collection(GraphKeys::GLOBAL_VARIABLES, "s").size() == 1u);
  auto keys = g.get_all_collection_keys();
  BOOST_TEST((keys == std::vector<std::string>{"a", "b", "regularizer_worthy_params", "trainable_variables",
                                               "variables"}));
}

BOOST_AUTO_TEST_CASE(get_variable_and_reuse) {
  Graph g;
  auto scope = g.as_default();
  Tensor w1, w2, y1, y2;
  Tensor x = placeholder(float32, {-1, 3});
  {
    variable_scope vs("conv1");
    w1 = get_variable("weights", {3, 2}, {.initializer = ones_initializer()});
    y1 = matmul(x, w1);
  }
  {
    variable_scope vs("conv1", {.reuse = true});
    w2 = get_variable("weights", {3, 2});
    y2 = matmul(x, w2);
  }
  BOOST_TEST(w1.name() == "conv1/weights:0");
  BOOST_TEST(w1.impl()->node == w2.impl()->node);
  BOOST_TEST(y1.name() == "conv1/MatMul:0");
  BOOST_TEST(y2.name() == "conv1_1/MatMul:0");
  {
    variable_scope vs("conv1");
    TF_CHECK_THROWS_WITH(get_variable("weights", {3, 2}), ValueError,
                         "Variable conv1/weights already exists, disallowed. Did you mean to set reuse=true");
  }
  {
    variable_scope vs("conv1", {.reuse = true});
    TF_CHECK_THROWS_WITH(get_variable("biases", {2}), ValueError, "Variable conv1/biases does not exist");
    TF_CHECK_THROWS_WITH(get_variable("weights", {3, 3}), ShapeError,
                         "Trying to share variable conv1/weights, but specified shape [3,3] and found shape [3,2]");
  }
  {
    variable_scope outer("net", {.regularizer = [](const Tensor& w) { return reduce_sum(square(w)); }});
    variable_scope inner("fc");
    Tensor b = get_variable("b", {2}, {.initializer = constant_initializer(3.0)});
    BOOST_TEST(b.name() == "net/fc/b:0");
  }
  auto losses = get_collection(GraphKeys::REGULARIZATION_LOSSES);
  BOOST_REQUIRE(losses.size() == 1u);
  Session sess(g);
  sess.run(global_variables_initializer());
  tft::check_close(sess.run(y2, {{x, ones({1, 3})}}), {3, 3});
  BOOST_TEST(sess.run(losses[0]).item() == 18.0);
}

BOOST_AUTO_TEST_CASE(default_graph_and_destroyed_graph) {
  reset_default_graph();
  Tensor p = placeholder(float32, {2}, "p");
  BOOST_TEST(get_default_graph().nodes().size() == 1u);
  reset_default_graph();
  BOOST_TEST(get_default_graph().nodes().empty());
  TF_CHECK_THROWS_WITH(p + 1.0, ValueError, "'p:0' belongs to a Graph that no longer exists");
}

BOOST_AUTO_TEST_SUITE_END()
