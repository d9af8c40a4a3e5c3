// Batch norm is one formula in both modes: the same network trained 20 steps eagerly (nn::batch_norm
// updating its moving statistics in place) and as a graph (layers::batch_norm, its update ops run
// with the train op) gives bitwise-equal moving statistics, losses and weights. Both take the
// FusedBatchNorm op's batch statistics and move the averages with the one AssignSub op.
#include <cstring>

#include <boost/test/unit_test.hpp>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/graph/layers.h"
#include "tapeflow/graph/train.h"
#include "tapeflow/tapeflow.h"

using namespace tapeflow;

namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

constexpr double kDecay = 0.9, kEpsilon = 1e-3, kLearningRate = 0.1;

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_batch_norm)

BOOST_AUTO_TEST_CASE(eager_and_graph_training_are_bitwise_equal) {
  // conv 3x3 (4 channels) -> batch norm (scale and center) -> relu -> dense 10 -> cross-entropy.
  Generator gen(11);
  const Tensor filter0 = random_normal({3, 3, 1, 4}, 0, 0.3, float32, &gen);
  const Tensor dense0 = random_normal({6 * 6 * 4, 10}, 0, 0.1, float32, &gen);
  std::vector<Tensor> images, labels;
  for (int step = 0; step < 20; ++step) {
    images.push_back(random_normal({8, 6, 6, 1}, 0.5, 2.0, float32, &gen));  // far from zero mean and unit variance
    labels.push_back(cast(random_uniform({8}, 0, 10, float32, &gen), int64));
  }

  // Eager.
  Tensor filter = filter0.clone().requires_grad_(), dense = dense0.clone().requires_grad_();
  Tensor gamma = ones({4}).requires_grad_(), beta = zeros({4}).requires_grad_();
  Tensor moving_mean = zeros({4}), moving_variance = ones({4});
  optim::SGD opt({filter, dense, gamma, beta}, {.lr = kLearningRate});
  std::vector<Tensor> eager_losses;
  for (int step = 0; step < 20; ++step) {
    Tensor h = nn::conv2d(images[step], filter, {1, 1}, nn::Padding::Same);
    h = relu(nn::batch_norm(h, gamma, beta, moving_mean, moving_variance, true, kDecay, kEpsilon));
    Tensor logits = matmul(reshape(h, {-1, 6 * 6 * 4}), dense);
    Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(labels[step], logits));
    opt.zero_grad();
    loss.backward();
    opt.step();
    eager_losses.push_back(loss.detach());
  }

  // Graph.
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 6, 6, 1}, "x"), y = placeholder(int64, {-1}, "y");
  Tensor is_training = placeholder(bool_, {}, "is_training");
  Tensor filter_var = Variable(filter0, "filter"), dense_var = Variable(dense0, "dense");
  Tensor h = nn::conv2d(x, filter_var, {1, 1}, nn::Padding::Same);
  h = relu(layers::batch_norm(h, {.decay = kDecay, .scale = true, .epsilon = kEpsilon, .is_training = is_training}));
  Tensor logits = matmul(reshape(h, {-1, 6 * 6 * 4}), dense_var);
  Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits));
  Tensor train_op;
  {
    control_dependencies after_updates(get_collection(GraphKeys::UPDATE_OPS));
    train_op = train::GradientDescentOptimizer(kLearningRate).minimize(loss);
  }
  BOOST_TEST(get_collection(GraphKeys::UPDATE_OPS).size() == 2u);
  Session sess(g);
  sess.run(global_variables_initializer());
  for (int step = 0; step < 20; ++step) {
    auto out = sess.run({loss, train_op}, {{x, images[step]}, {y, labels[step]}, {is_training, scalar(1, bool_)}});
    BOOST_TEST_CONTEXT("step " << step) { BOOST_TEST(bitwise_equal(out[0], eager_losses[step])); }
  }

  BOOST_TEST(bitwise_equal(sess.run(g.get_tensor_by_name("BatchNorm/moving_mean:0")), moving_mean));
  BOOST_TEST(bitwise_equal(sess.run(g.get_tensor_by_name("BatchNorm/moving_variance:0")), moving_variance));
  BOOST_TEST(bitwise_equal(sess.run(g.get_tensor_by_name("BatchNorm/gamma:0")), gamma.detach()));
  BOOST_TEST(bitwise_equal(sess.run(g.get_tensor_by_name("BatchNorm/beta:0")), beta.detach()));
  BOOST_TEST(bitwise_equal(sess.run(filter_var), filter.detach()));
  BOOST_TEST(bitwise_equal(sess.run(dense_var), dense.detach()));
  // The statistics moved away from their initial 0 and 1 (20 steps at decay 0.9).
  BOOST_TEST(reduce_max(abs(moving_mean)).item() > 0.01);
  BOOST_TEST(reduce_max(abs(moving_variance - 1.0)).item() > 0.1);

  // Inference: the moving statistics normalise, in both modes alike.
  Tensor test_images = random_normal({5, 6, 6, 1}, 0.5, 2.0, float32, &gen);
  Tensor eager_eval = nn::batch_norm(nn::conv2d(test_images, filter.detach(), {1, 1}, nn::Padding::Same),
                                     gamma.detach(), beta.detach(), moving_mean, moving_variance, false, kDecay,
                                     kEpsilon);
  Tensor graph_eval = sess.run(h.impl()->node->inputs()[0], {{x, test_images}, {is_training, scalar(0, bool_)}});
  BOOST_TEST(bitwise_equal(graph_eval, eager_eval));
  BOOST_TEST(bitwise_equal(sess.run(g.get_tensor_by_name("BatchNorm/moving_mean:0")), moving_mean));  // unchanged
}

BOOST_AUTO_TEST_CASE(batch_statistics_are_outputs_of_the_fused_op) {
  // tf.nn.fused_batch_norm's outputs: y, the batch mean and the biased batch variance.
  Tensor x = reshape(tensor({1, 2, 3, 4, 5, 6, 7, 8}, float64), {4, 2});
  nn::BatchNormOutput out = nn::fused_batch_norm(x, Tensor(), Tensor(), zeros({2}, float64), ones({2}, float64), 0.0);
  tft::check_close(out.batch_mean, {4, 5});
  tft::check_close(out.batch_variance, {5, 5});  // ((-3)^2 + (-1)^2 + 1 + 9) / 4, not / 3
  tft::check_close(out.y, {-3 / std::sqrt(5.0), -3 / std::sqrt(5.0), -1 / std::sqrt(5.0), -1 / std::sqrt(5.0),
                           1 / std::sqrt(5.0), 1 / std::sqrt(5.0), 3 / std::sqrt(5.0), 3 / std::sqrt(5.0)});
  BOOST_TEST(std::string(out.y.grad_fn() ? out.y.grad_fn()->name : "") == "");  // nothing required grad

  // Gradients through all three outputs against finite differences.
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 3, 3, 2}}) {
    Tensor xs = random_normal(shape, 0.2, 1.5, float64).requires_grad_();
    const std::int64_t c = shape[shape.rank() - 1];
    Tensor scale = random_uniform({c}, 0.5, 1.5, float64).requires_grad_();
    Tensor offset = random_normal({c}, 0, 1, float64).requires_grad_();
    tft::check_grad(
        [&](std::span<const Tensor> in) {
          nn::BatchNormOutput o = nn::fused_batch_norm(in[0], in[1], in[2], zeros({c}, float64), ones({c}, float64));
          return reduce_sum(o.y * o.y) + reduce_sum(square(o.batch_mean)) * 3.0 + reduce_sum(o.batch_variance) * 0.5;
        },
        {xs, scale, offset});
  }
}

BOOST_AUTO_TEST_CASE(records_of_the_fused_op_are_freed) {
  // Its backward must not own its outputs (the batch statistics): a record that owned itself
  // would never be freed when no backward() runs to release it (an evaluation, an exception).
  const std::int64_t before = autograd::live_records();
  for (bool run_backward : {false, true}) {
    {
      Tensor x = random_normal({4, 3}).requires_grad_(), gamma = ones({3}).requires_grad_();
      Tensor mm = zeros({3}), mv = ones({3});
      Tensor y = nn::batch_norm(x, gamma, Tensor(), mm, mv, true);
      nn::BatchNormOutput out = nn::fused_batch_norm(x, gamma, Tensor(), mm, mv);
      BOOST_TEST(autograd::live_records() > before);
      if (run_backward) reduce_sum(y * out.batch_mean).backward();
    }
    BOOST_TEST(autograd::live_records() == before);
  }
}

BOOST_AUTO_TEST_CASE(assign_moving_average_is_tensorflows) {
  Tensor moving = tensor({1.0, 2.0}, float64), value = tensor({3.0, -2.0}, float64);
  nn::assign_moving_average(moving, value, 0.75, scalar(1, bool_));
  tft::check_close(moving, {1.0 - (1.0 - 3.0) * 0.25, 2.0 - (2.0 + 2.0) * 0.25});
  nn::assign_moving_average(moving, value, 0.75, scalar(0, bool_));  // not training: unchanged
  tft::check_close(moving, {1.5, 1.0});
  TF_CHECK_THROWS_WITH(nn::assign_moving_average(moving, zeros({3}, float64), 0.5, scalar(1, bool_)), ShapeError,
                       "assign_moving_average", "[3]", "[2]");
  TF_CHECK_THROWS_WITH(nn::assign_moving_average(moving, value, 1.5, scalar(1, bool_)), ValueError, "decay", "1.5");
}

BOOST_AUTO_TEST_SUITE_END()
