// Graph-mode training: gradients, optimizers (checked against the eager ones), global step,
// exponential_decay, control dependencies; and the eager/graph equivalence on a small network.
#include <cmath>

#include <cmath>
#include <limits>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/nn.h"
#include "tapeflow/optim.h"

using namespace tapeflow;

namespace {

// The same quadratic-ish problem in both modes: loss = mean((x·w + b - y)^2).
struct Problem {
  Tensor x = tft::rand64({8, 3}, -1.0, 1.0, 1).detach().to(float32);
  Tensor y = tft::rand64({8, 2}, -1.0, 1.0, 2).detach().to(float32);
  Tensor w0 = tft::rand64({3, 2}, -1.0, 1.0, 3).detach().to(float32);
  Tensor b0 = tft::rand64({2}, -1.0, 1.0, 4).detach().to(float32);
};

Tensor loss_of(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  return reduce_mean(square(matmul(x, w) + b - y));
}

// Trains `steps` steps eagerly with `opt` and returns the parameters.
std::vector<Tensor> train_eagerly(const Problem& p, optim::Optimizer& opt, std::vector<Tensor> params, int steps) {
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    loss_of(p.x, params[0], params[1], p.y).backward();
    opt.step();
  }
  return params;
}

// The same in graph mode with `make` building the graph optimizer.
template <class Make>
std::vector<Tensor> train_as_graph(const Problem& p, Make make, int steps) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x"), y = placeholder(float32, {-1, 2}, "y");
  Tensor w = Variable(p.w0.clone(), "w"), b = Variable(p.b0.clone(), "b");
  Tensor step = train::get_or_create_global_step();
  auto opt = make();
  Tensor train_op = opt.minimize(loss_of(x, w, b, y), step);
  Session sess(g);
  sess.run(global_variables_initializer());
  for (int i = 0; i < steps; ++i) sess.run(train_op, {{x, p.x}, {y, p.y}});
  BOOST_TEST(sess.run(step).item() == steps);
  return {sess.run(w), sess.run(b)};
}

void check_same(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) tft::check_close(a[i], b[i].to_vector<double>(), 1e-6, 1e-5);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_train)

BOOST_AUTO_TEST_CASE(gradients_of_a_function) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float64, {-1, 2}, "x");
  Tensor w = Variable(tensor({1.0, -2.0}, float64), "w");
  Tensor y = reduce_sum(square(w) * x);
  auto grads = gradients({y}, {w, x});
  BOOST_TEST(grads[0].shape().str() == "[2]");
  BOOST_TEST(grads[1].shape().str() == "[?,2]");
  BOOST_TEST(grads[0].impl()->node->type() == "Gradients");
  Session sess(g);
  sess.run(global_variables_initializer());
  Tensor xv = tensor({{1, 2}, {3, 4}}, float64);
  auto out = sess.run(grads, {{x, xv}});
  tft::check_close(out[0], {2 * 1 * (1 + 3), 2 * -2 * (2 + 4)});  // d/dw = 2 w sum_rows(x)
  tft::check_close(out[1], {1, 4, 1, 4});                           // d/dx = w^2 (x is fed: its value's gradient)
  // An evaluation run does not record the tape.
  BOOST_TEST(!sess.run(y, {{x, xv}}).requires_grad());
}

BOOST_AUTO_TEST_CASE(gradient_descent_matches_eager) {
  Problem p;
  std::vector<Tensor> params{p.w0.clone().requires_grad_(), p.b0.clone().requires_grad_()};
  optim::SGD opt(params, {.lr = 0.1});
  check_same(train_as_graph(p, [] { return train::GradientDescentOptimizer(0.1); }, 3), train_eagerly(p, opt, params, 3));
}

BOOST_AUTO_TEST_CASE(momentum_matches_eager) {
  Problem p;
  std::vector<Tensor> params{p.w0.clone().requires_grad_(), p.b0.clone().requires_grad_()};
  optim::Momentum opt(params, {.lr = 0.05, .momentum = 0.7});
  check_same(train_as_graph(p, [] { return train::MomentumOptimizer(0.05, 0.7); }, 4), train_eagerly(p, opt, params, 4));
}

BOOST_AUTO_TEST_CASE(adam_matches_eager) {
  Problem p;
  std::vector<Tensor> params{p.w0.clone().requires_grad_(), p.b0.clone().requires_grad_()};
  optim::Adam opt(params, {.lr = 0.01});
  check_same(train_as_graph(p, [] { return train::AdamOptimizer(0.01); }, 5), train_eagerly(p, opt, params, 5));
}

BOOST_AUTO_TEST_CASE(adamw_matches_eager) {
  // The same update code; graph mode keeps beta1^t and beta2^t in float32 variables, so the bias
  // corrections round differently from the eager float64 ones (hence check_same's tolerance).
  Problem p;
  std::vector<Tensor> params{p.w0.clone().requires_grad_(), p.b0.clone().requires_grad_()};
  optim::AdamW opt(params, {.lr = 0.01, .weight_decay = 0.5});
  check_same(train_as_graph(p, [] { return train::AdamWOptimizer(0.5, 0.01); }, 5), train_eagerly(p, opt, params, 5));
  // The decay matters: without it the graph ends elsewhere.
  std::vector<Tensor> no_decay = train_as_graph(p, [] { return train::AdamWOptimizer(0.0, 0.01); }, 5);
  BOOST_TEST(std::abs(no_decay[0].to_vector<double>()[0] - params[0].to_vector<double>()[0]) > 1e-4);
}

BOOST_AUTO_TEST_CASE(adamw_slots_and_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor w = Variable(ones({2}), "w");
  Tensor op = train::AdamWOptimizer(0.01).minimize(reduce_sum(w));
  BOOST_TEST(op.str() == "Operation(\"AdamW\")");
  BOOST_TEST(g.get_operation_by_name("w/AdamW")->type() == "VariableV2");
  BOOST_TEST(g.get_operation_by_name("w/AdamW_1")->type() == "VariableV2");
  BOOST_TEST(g.get_operation_by_name("beta2_power")->type() == "VariableV2");
  Session sess(g);
  sess.run(global_variables_initializer());
  sess.run(op);
  // Step 1 with gradient 1: w = 1 * (1 - 0.001 * 0.01) - 0.001 * 1 / (1 + 1e-8).
  tft::check_close(sess.run(w), {1.0 - 1e-5 - 0.001, 1.0 - 1e-5 - 0.001}, 1e-7, 1e-7);
  TF_CHECK_THROWS_WITH(train::AdamWOptimizer(-0.01), ValueError,
                       "AdamWOptimizer: invalid weight_decay: -0.01 (must be >= 0)");
  TF_CHECK_THROWS_WITH(train::AdamWOptimizer(0.01, -1.0), ValueError,
                       "AdamWOptimizer: invalid learning rate: -1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(train::AdamWOptimizer(0.01, 0.001, 1.0), ValueError,
                       "AdamWOptimizer: invalid beta1: 1 (must be in [0, 1))");
  TF_CHECK_THROWS_WITH(train::AdamOptimizer(0.001, 0.9, 2.0), ValueError,
                       "AdamOptimizer: invalid beta2: 2 (must be in [0, 1))");
}

// train.h's recipe for no decay on biases: one compute_gradients, an apply for each part. It
// trains as the eager AdamW with a group without decay.
BOOST_AUTO_TEST_CASE(adamw_without_decay_on_the_biases) {
  Problem p;
  std::vector<Tensor> params{p.w0.clone().requires_grad_(), p.b0.clone().requires_grad_()};
  optim::AdamW opt({{.params = {params[0]}}, {.params = {params[1]}, .weight_decay = 0.0}},
                   {.lr = 0.01, .weight_decay = 0.5});
  train_eagerly(p, opt, params, 4);

  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x"), y = placeholder(float32, {-1, 2}, "y");
  Tensor w = Variable(p.w0.clone(), "w"), b = Variable(p.b0.clone(), "b");
  train::AdamWOptimizer decayed(0.5, 0.01), undecayed(0.0, 0.01);
  const train::GradsAndVars gv = decayed.compute_gradients(loss_of(x, w, b, y), {w, b});
  Tensor train_op = group({decayed.apply_gradients({gv[0]}), undecayed.apply_gradients({gv[1]})});
  BOOST_TEST(g.get_operation_by_name("beta1_power_1")->type() == "VariableV2");  // each optimizer's own
  Session sess(g);
  sess.run(global_variables_initializer());
  for (int i = 0; i < 4; ++i) sess.run(train_op, {{x, p.x}, {y, p.y}});
  check_same({sess.run(w), sess.run(b)}, params);
}

BOOST_AUTO_TEST_CASE(rmsprop_matches_eager) {
  Problem p;
  std::vector<Tensor> params{p.w0.clone().requires_grad_(), p.b0.clone().requires_grad_()};
  optim::RMSProp opt(params, {.lr = 0.01, .momentum = 0.5});
  check_same(train_as_graph(p, [] { return train::RMSPropOptimizer(0.01, 0.9, 0.5); }, 4),
             train_eagerly(p, opt, params, 4));
}

BOOST_AUTO_TEST_CASE(adagrad_matches_eager) {
  Problem p;
  std::vector<Tensor> params{p.w0.clone().requires_grad_(), p.b0.clone().requires_grad_()};
  optim::Adagrad opt(params, {.lr = 0.1});
  check_same(train_as_graph(p, [] { return train::AdagradOptimizer(0.1); }, 4), train_eagerly(p, opt, params, 4));
}

BOOST_AUTO_TEST_CASE(slots_are_named_variables) {
  Graph g;
  auto scope = g.as_default();
  Tensor w;
  {
    name_scope s("hidden1");
    w = Variable(ones({2, 2}), "weights");
  }
  Tensor loss = reduce_sum(w);
  Tensor op = train::AdamOptimizer(0.1).minimize(loss);
  BOOST_TEST(op.str() == "Operation(\"Adam\")");
  BOOST_TEST(g.get_operation_by_name("Adam/learning_rate")->type() == "Const");
  BOOST_TEST(g.get_operation_by_name("hidden1/weights/Adam")->type() == "VariableV2");
  BOOST_TEST(g.get_operation_by_name("hidden1/weights/Adam_1")->type() == "VariableV2");
  BOOST_TEST(g.get_operation_by_name("beta1_power")->type() == "VariableV2");
  BOOST_TEST(trainable_variables().size() == 1u);
  BOOST_TEST(global_variables().size() == 5u);
  Session sess(g);
  TF_CHECK_THROWS_WITH(sess.run(op), ValueError, "Attempting to use uninitialized value");
  sess.run(global_variables_initializer());
  sess.run(op);
  BOOST_TEST(sess.run(g.get_tensor_by_name("beta1_power:0")).item() == 0.81, boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(exponential_decay_of_the_global_step) {
  Graph g;
  auto scope = g.as_default();
  Tensor step = train::get_or_create_global_step();
  BOOST_TEST(step.name() == "global_step:0");
  BOOST_TEST(step.dtype() == int64);
  BOOST_TEST(train::get_or_create_global_step().impl()->node == step.impl()->node);
  TF_CHECK_THROWS_WITH(train::create_global_step(), ValueError, "already has a global step");
  Tensor lr = train::exponential_decay(0.1, step, 10, 0.5);
  Tensor stair = train::exponential_decay(0.1, step, 10, 0.5, true);
  BOOST_TEST(lr.name() == "ExponentialDecay:0");
  BOOST_TEST(stair.name() == "ExponentialDecay_1:0");
  Tensor bump = assign_add(step, scalar(15.0, int64));
  Session sess(g);
  sess.run(global_variables_initializer());
  BOOST_TEST(sess.run(lr).item() == 0.1, boost::test_tools::tolerance(1e-6));
  sess.run(bump);
  BOOST_TEST(sess.run(lr).item() == 0.1 * std::pow(0.5, 1.5), boost::test_tools::tolerance(1e-6));
  BOOST_TEST(sess.run(stair).item() == 0.05, boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(learning_rate_as_a_graph_tensor) {
  Graph g;
  auto scope = g.as_default();
  Tensor w = Variable(tensor({1.0}), "w");
  Tensor rate = placeholder(float32, {}, "rate");
  Tensor op = train::GradientDescentOptimizer(rate).minimize(reduce_sum(w * 2.0));
  Session sess(g);
  sess.run(global_variables_initializer());
  sess.run(op, {{rate, scalar(0.25)}});
  tft::check_close(sess.run(w), {0.5});
  sess.run(op, {{rate, scalar(0.0)}});
  tft::check_close(sess.run(w), {0.5});
}

BOOST_AUTO_TEST_CASE(update_ops_run_before_the_train_op) {
  Graph g;
  auto scope = g.as_default();
  Tensor w = Variable(tensor({1.0}), "w");
  Tensor counter = Variable(zeros({}), "counter", {.trainable = false});
  add_to_collection(GraphKeys::UPDATE_OPS, assign_add(counter, scalar(1.0)));
  Tensor train_op;
  {
    control_dependencies deps(get_collection(GraphKeys::UPDATE_OPS));
    train_op = train::GradientDescentOptimizer(0.1).minimize(reduce_sum(square(w)));
  }
  Session sess(g);
  sess.run(global_variables_initializer());
  sess.run(train_op);
  sess.run(train_op);
  BOOST_TEST(sess.run(counter).item() == 2.0);
  tft::check_close(sess.run(w), {1.0 * 0.8 * 0.8});
}

BOOST_AUTO_TEST_CASE(optimizer_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor w = Variable(tensor({1.0}), "w");
  Tensor unused = Variable(tensor({1.0}), "unused");
  Tensor x = placeholder(float32, {1}, "x");
  train::GradientDescentOptimizer opt(0.1);
  auto gv = opt.compute_gradients(reduce_sum(w), {w, unused});
  BOOST_TEST(gv[0].first.defined());
  BOOST_TEST(!gv[1].first.defined());  // TensorFlow's None
  TF_CHECK_THROWS_WITH(opt.minimize(reduce_sum(x), Tensor(), {unused}), ValueError,
                       "No gradients provided for any variable", "unused:0");
  TF_CHECK_THROWS_WITH(opt.minimize(reduce_sum(x), Tensor(), {x}), ValueError, "'x:0' in var_list is not a variable");
  TF_CHECK_THROWS_WITH(train::GradientDescentOptimizer(-1.0), ValueError, "invalid learning rate: -1");
  // NaN passed every check once (fully_connected_feed --learning_rate nan trained to accuracy 0).
  TF_CHECK_THROWS_WITH(train::GradientDescentOptimizer(std::nan("")), ValueError,
                       "GradientDescentOptimizer: invalid learning rate: nan (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(train::AdamOptimizer(std::numeric_limits<double>::infinity()), ValueError,
                       "AdamOptimizer: invalid learning rate: inf");
  TF_CHECK_THROWS_WITH(opt.minimize(reduce_sum(w), x), ValueError, "global_step must be a variable");
}

// The proof that graph mode is the tape: the same network, seed and data give the same losses
// trained eagerly and as a graph.
BOOST_AUTO_TEST_CASE(eager_and_graph_training_agree) {
  manual_seed(7);
  nn::Linear fc1(6, 16), fc2(16, 3);
  std::vector<Tensor> init;
  for (auto* m : {&fc1, &fc2}) {
    init.push_back(m->weight().clone());
    init.push_back(m->bias().clone());
  }
  Tensor images = tft::rand64({32, 6}, -1.0, 1.0, 11).detach().to(float32);
  Tensor labels = cast(argmax(tft::rand64({32, 3}, -1.0, 1.0, 12).detach(), 1), int64);

  std::vector<double> eager_losses;
  optim::Adam eager_opt({fc1.weight(), fc1.bias(), fc2.weight(), fc2.bias()}, {.lr = 0.01});
  for (int step = 0; step < 10; ++step) {
    Tensor batch_x = slice(images, {(step % 4) * 8, 0}, {8, -1}), batch_y = slice(labels, {(step % 4) * 8}, {8});
    Tensor logits = fc2(relu(fc1(batch_x)));
    Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(batch_y, logits));
    eager_opt.zero_grad();
    loss.backward();
    eager_opt.step();
    eager_losses.push_back(loss.item());
  }

  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 6}, "x");
  Tensor y = placeholder(int64, {-1}, "y");
  Tensor h, logits;
  {
    name_scope s("fc1");
    h = relu(matmul(x, Variable(init[0], "weights")) + Variable(init[1], "biases"));
  }
  {
    name_scope s("fc2");
    logits = matmul(h, Variable(init[2], "weights")) + Variable(init[3], "biases");
  }
  Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits));
  Tensor train_op = train::AdamOptimizer(0.01).minimize(loss, train::get_or_create_global_step());
  Session sess(g);
  sess.run(global_variables_initializer());
  for (int step = 0; step < 10; ++step) {
    Tensor batch_x = slice(images, {(step % 4) * 8, 0}, {8, -1}), batch_y = slice(labels, {(step % 4) * 8}, {8});
    auto out = sess.run({train_op, loss}, {{x, batch_x}, {y, batch_y}});
    // nn::Linear adds its bias inside the GEMM; the graph adds it after: float32 rounding apart.
    BOOST_TEST(out[1].item() == eager_losses[static_cast<std::size_t>(step)], boost::test_tools::tolerance(1e-5));
  }
}

BOOST_AUTO_TEST_SUITE_END()
