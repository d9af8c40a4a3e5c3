// Graph mode's cosine_decay, polynomial_decay and linear_warmup as ops of the global step: the
// rate each run computes from the step's value (the eager schedule's, rounded to float32), their
// node names, a train op driven by them, and their errors.
#include <cmath>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/optim.h"

using namespace tapeflow;

namespace {

/// The float32 value of `rate` in a run with the step placeholder `step` fed `value`.
double rate_at(Session& sess, const Tensor& rate, const Tensor& step, std::int64_t value) {
  return sess.run(rate, {{step, scalar(static_cast<double>(value), int64)}}).item<double>();
}

double as_float32(double x) { return static_cast<double>(static_cast<float>(x)); }

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_schedules)

BOOST_AUTO_TEST_CASE(cosine_decay_of_a_step) {
  Graph g;
  auto scope = g.as_default();
  Tensor step = placeholder(int64, {}, "step");
  Tensor plain = train::cosine_decay(0.1, step, 100);
  Tensor warm = train::cosine_decay(0.1, step, 100, 0.2, 10);
  BOOST_TEST(plain.name() == "CosineDecay:0");
  BOOST_TEST(warm.name() == "CosineDecay_1:0");
  BOOST_TEST(tft::type_of(plain) == "CosineDecay");
  BOOST_TEST(plain.dtype() == float32);
  BOOST_TEST(plain.shape().str() == "[]");
  const auto& attrs = warm.impl()->node->attrs;
  BOOST_TEST(attr_text(attrs.at("alpha")) == "0.2");
  BOOST_TEST(attr_text(attrs.at("warmup_steps")) == "10");
  BOOST_TEST(attr_text(attrs.at("decay_steps")) == "100");
  Session sess(g);
  // Hand-computed: 0.1 * 0.5 * (1 + cos(pi * step / 100)), floored at alpha * 0.1 after warm-up.
  BOOST_TEST(rate_at(sess, plain, step, 0) == as_float32(0.1));
  BOOST_TEST(rate_at(sess, plain, step, 50) == as_float32(0.05));
  BOOST_TEST(rate_at(sess, plain, step, 25) == as_float32(0.05 * (1.0 + std::sqrt(0.5))),
             boost::test_tools::tolerance(1e-7));
  BOOST_TEST(rate_at(sess, plain, step, 300) == 0.0);
  BOOST_TEST(rate_at(sess, warm, step, 5) == as_float32(0.05));
  BOOST_TEST(rate_at(sess, warm, step, 10) == as_float32(0.1));
  BOOST_TEST(rate_at(sess, warm, step, 60) == as_float32(0.1 * (0.8 * 0.5 + 0.2)));
  BOOST_TEST(rate_at(sess, warm, step, 1000) == as_float32(0.02));
  // Every step: the eager schedule's value.
  for (std::int64_t s = 0; s < 130; s += 7)
    BOOST_TEST(rate_at(sess, warm, step, s) == as_float32(optim::cosine_decay(0.1, s, 100, 0.2, 10)), "step " << s);
  TF_CHECK_THROWS_WITH(rate_at(sess, plain, step, -4), ValueError,
                       "cosine_decay: invalid global_step: -4 (must be >= 0)");
}

BOOST_AUTO_TEST_CASE(polynomial_decay_of_the_global_step) {
  Graph g;
  auto scope = g.as_default();
  Tensor global_step = train::get_or_create_global_step();
  Tensor linear = train::polynomial_decay(0.1, global_step, 100, 0.01);
  Tensor cyclic = train::polynomial_decay(0.1, global_step, 100, 0.01, 2.0, true, "cyclic");
  BOOST_TEST(linear.name() == "PolynomialDecay:0");
  BOOST_TEST(cyclic.name() == "cyclic:0");
  BOOST_TEST(tft::type_of(cyclic) == "PolynomialDecay");
  BOOST_TEST(attr_text(cyclic.impl()->node->attrs.at("cycle")) == "true");
  Tensor advance = assign_add(global_step, scalar(50.0, int64));
  Session sess(g);
  sess.run(global_variables_initializer());
  // Steps 0, 50, 100, 150, 200, 250. Linear: (0.1 - 0.01) * (1 - min(step, 100) / 100) + 0.01.
  // Cyclic, power 2: d = 100 * ceil(step / 100) (100 at step 0).
  const std::vector<double> linear_rates = {0.1, 0.055, 0.01, 0.01, 0.01, 0.01};
  const std::vector<double> cyclic_rates = {0.1, 0.09 * 0.25 + 0.01, 0.01, 0.09 / 16 + 0.01, 0.01, 0.09 / 36 + 0.01};
  for (std::size_t k = 0; k < linear_rates.size(); ++k) {
    BOOST_TEST_CONTEXT("step " << 50 * k) {
      auto out = sess.run({linear, cyclic});
      BOOST_TEST(out[0].item<double>() == as_float32(linear_rates[k]), boost::test_tools::tolerance(1e-6));
      BOOST_TEST(out[1].item<double>() == as_float32(cyclic_rates[k]), boost::test_tools::tolerance(1e-6));
      BOOST_TEST(out[1].item<double>() ==
                 as_float32(optim::polynomial_decay(0.1, static_cast<std::int64_t>(50 * k), 100, 0.01, 2.0, true)));
      sess.run(advance);
    }
  }
}

BOOST_AUTO_TEST_CASE(linear_warmup_in_front_of_graph_schedules) {
  Graph g;
  auto scope = g.as_default();
  Tensor step = placeholder(int64, {}, "step");
  // In front of exponential_decay (built of ops) and of cosine_decay (one node).
  Tensor halving = train::linear_warmup(step, 4, [](const Tensor& s) { return train::exponential_decay(1.0, s, 1, 0.5); });
  Tensor cosine = train::linear_warmup(step, 10, [](const Tensor& s) { return train::cosine_decay(0.1, s, 100); });
  BOOST_TEST(halving.name() == "LinearWarmup:0");
  BOOST_TEST(cosine.name() == "LinearWarmup_1:0");
  BOOST_TEST(tft::type_of(g.get_tensor_by_name("LinearWarmup_1/CosineDecay:0")) == "CosineDecay");
  // No warm-up: the schedule itself, no warm-up ops.
  Tensor bare = train::linear_warmup(step, 0, [](const Tensor& s) { return train::cosine_decay(0.1, s, 100); });
  BOOST_TEST(tft::type_of(bare) == "CosineDecay");
  Session sess(g);
  const std::vector<double> halving_rates = {0.0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.25, 0.125};
  for (std::int64_t s = 0; s < 8; ++s)
    BOOST_TEST(rate_at(sess, halving, step, s) == halving_rates[static_cast<std::size_t>(s)],
               boost::test_tools::tolerance(1e-6));
  for (std::int64_t s = 0; s < 130; s += 3) {
    const double eager = optim::linear_warmup(s, 10, [](std::int64_t k) { return optim::cosine_decay(0.1, k, 100); });
    BOOST_TEST(rate_at(sess, cosine, step, s) == eager, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(rate_at(sess, bare, step, s) == as_float32(optim::cosine_decay(0.1, s, 100)));
  }
}

BOOST_AUTO_TEST_CASE(a_schedule_drives_a_train_op) {
  // d(sum(w))/dw = 1: each run moves w by the rate of the step before the run's increment, 0, 0.5
  // (2 warm-up steps), 1, 0.5 (cosine over 2 steps), 0 ...
  Graph g;
  auto scope = g.as_default();
  Tensor w = Variable(tensor({0.0}), "w");
  Tensor global_step = train::get_or_create_global_step();
  Tensor lr = train::cosine_decay(1.0, global_step, 2, 0.0, 2);
  Tensor train_op = train::GradientDescentOptimizer(lr).minimize(reduce_sum(w), global_step);
  Session sess(g);
  sess.run(global_variables_initializer());
  const std::vector<double> after = {0.0, -0.5, -1.5, -2.0, -2.0, -2.0};
  for (std::size_t k = 0; k < after.size(); ++k) {
    sess.run(train_op);
    tft::check_close(sess.run(w), {after[k]}, 1e-6, 1e-6);
  }
  BOOST_TEST(sess.run(global_step).item() == 6.0);
}

BOOST_AUTO_TEST_CASE(schedule_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor step = train::get_or_create_global_step();
  // The eager schedules' checks and messages, when the node is built.
  TF_CHECK_THROWS_WITH(train::cosine_decay(-0.1, step, 100), ValueError,
                       "cosine_decay: invalid learning rate: -0.1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(train::cosine_decay(0.1, step, 0), ValueError,
                       "cosine_decay: invalid decay_steps: 0 (must be > 0)");
  TF_CHECK_THROWS_WITH(train::cosine_decay(0.1, step, 100, 2.0), ValueError, "cosine_decay: invalid alpha: 2");
  TF_CHECK_THROWS_WITH(train::cosine_decay(0.1, step, 100, 0.0, -1), ValueError,
                       "cosine_decay: invalid warmup_steps: -1 (must be >= 0)");
  TF_CHECK_THROWS_WITH(train::polynomial_decay(0.1, step, 100, 0.01, 0.0), ValueError,
                       "polynomial_decay: invalid power: 0 (must be a finite number > 0; 1 decays linearly)");
  TF_CHECK_THROWS_WITH(train::polynomial_decay(0.1, step, 100, -1.0), ValueError,
                       "polynomial_decay: invalid end_learning_rate: -1");
  TF_CHECK_THROWS_WITH(train::linear_warmup(step, -3, [](const Tensor& s) { return train::cosine_decay(0.1, s, 10); }),
                       ValueError, "linear_warmup: invalid warmup_steps: -3 (must be >= 0)");
  TF_CHECK_THROWS_WITH(train::linear_warmup(step, 3, nullptr), ValueError,
                       "linear_warmup: the schedule is empty; pass a function of the step tensor");
  // The step: an integer scalar of a graph.
  Tensor float_step = placeholder(float32, {}, "float_step");
  TF_CHECK_THROWS_WITH(train::cosine_decay(0.1, float_step, 100), DTypeError,
                       "cosine_decay: the step 'float_step:0' is float32 []; pass an int32/int64 scalar such as "
                       "train::get_or_create_global_step()");
  Tensor steps = placeholder(int64, {3}, "steps");
  TF_CHECK_THROWS_WITH(train::polynomial_decay(0.1, steps, 100), ShapeError,
                       "polynomial_decay: the step 'steps:0' is int64 [3]; pass a scalar");
  TF_CHECK_THROWS_WITH(train::cosine_decay(0.1, scalar(3.0, int64), 100), ValueError,
                       "cosine_decay: expected a graph tensor or operation, got an eager tensor [] int64");
  // The warm-up's schedule must return a float scalar graph tensor.
  TF_CHECK_THROWS_WITH(train::linear_warmup(step, 3, [](const Tensor& s) { return s; }), ValueError,
                       "linear_warmup: the schedule returned 'LinearWarmup/Maximum:0' int64 []; it must return a "
                       "float32/float64 scalar graph tensor (the learning rate)");
  TF_CHECK_THROWS_WITH(train::linear_warmup(step, 3, [](const Tensor&) { return scalar(0.1); }), ValueError,
                       "linear_warmup: the schedule returned an eager tensor");
}

BOOST_AUTO_TEST_SUITE_END()
