// tapeflow::losses (tf.losses) and nn::sigmoid_cross_entropy_with_logits, eagerly: values against
// PyTorch and numpy, TensorFlow 1.x's weights and reductions, stability, first and second
// derivatives over several shapes and weights, and the error messages. Graph mode:
// tests/graph/test_graph_losses.cpp.
//
// The reference numbers come from Debian's python3-torch 1.13 and numpy 1.24 (/usr/bin/python3),
// float64 throughout; each group below shows the Python that printed them, after this preamble:
//
//   import numpy as np, torch, torch.nn.functional as F
//   T = lambda v: torch.tensor(v, dtype=torch.float64)
//   def reduce(losses, w, reduction):   # TF 1.x's compute_weighted_loss (losses_impl.py) in numpy
//       w = np.asarray(w, dtype=np.float64); s = (losses * w).sum()
//       den = {'SUM': 1.0, 'MEAN': (np.ones_like(losses) * w).sum(), 'SUM_OVER_BATCH_SIZE': losses.size,
//              'SUM_BY_NONZERO_WEIGHTS': (np.ones_like(losses) * (w != 0)).sum()}[reduction]
//       return 0.0 if den == 0 else s / den       # div_no_nan
//   R = ['SUM', 'MEAN', 'SUM_OVER_BATCH_SIZE', 'SUM_BY_NONZERO_WEIGHTS']
#include <cmath>
#include <limits>
#include <string>

#include "helpers.h"

using namespace tapeflow;
using losses::Reduction;

namespace {

constexpr Reduction kReductions[] = {Reduction::NONE, Reduction::SUM, Reduction::MEAN, Reduction::SUM_OVER_BATCH_SIZE,
                                     Reduction::SUM_BY_NONZERO_WEIGHTS};
/// The scalar reductions, in the order of R in the Python above.
constexpr Reduction kScalarReductions[] = {Reduction::SUM, Reduction::MEAN, Reduction::SUM_OVER_BATCH_SIZE,
                                           Reduction::SUM_BY_NONZERO_WEIGHTS};

// y = T([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]]); p = T([[0.3, 2.7, 1.2], [0.4, -0.9, 1.75]])
Tensor labels_2x3() { return tensor({{0.0, 1.0, 2.0}, {3.0, -1.0, 0.5}}, float64); }
Tensor predictions_2x3() { return tensor({{0.3, 2.7, 1.2}, {0.4, -0.9, 1.75}}, float64); }
/// A column of weights, [2,1] (one weight per row).
Tensor column(double a, double b, DType dt = float64) { return reshape(tensor({a, b}, dt), {2, 1}); }

void check_finite(const Tensor& t) {
  for (double v : t.to_vector<double>()) BOOST_CHECK_MESSAGE(std::isfinite(v), "non-finite value " << v << " in " << t);
}

/// Random float64 weights in [0.5, 1.5) of `shape` (away from 0: no change in the nonzero count
/// under finite differences), requiring grad.
Tensor weights64(const Shape& shape) { return tft::rand64(shape, 0.5, 1.5, 31); }

/// A loss of (labels, predictions, weights, reduction), for the gradient checks.
using LossFn = std::function<Tensor(const Tensor&, const Tensor&, const losses::Weights&, Reduction)>;

struct GradCase {
  Shape shape;    // labels and predictions
  Shape weights;  // a weights tensor's shape (the same rank, dimensions 1 or equal), or [] for a scalar
};

/// The shapes every loss of (labels, predictions) of one shape is checked on: a vector, 1x1, a
/// matrix with per-row weights, a 3-D tensor with weights along the middle axis and a scalar
/// weights tensor.
const std::vector<GradCase> kGradCases = {
    {{3}, {3}}, {{1, 1}, {1, 1}}, {{2, 3}, {2, 1}}, {{2, 3, 2}, {1, 3, 1}}, {{2, 2}, {}}};

/// gradcheck and gradgradcheck in labels, predictions and weights (a tensor), and in labels and
/// predictions with a number as weights, for every reduction and every case.
void check_loss_grads(const std::string& name, const LossFn& loss, double lo, double hi, double label_lo,
                      double label_hi) {
  for (const GradCase& c : kGradCases) {
    for (Reduction r : kReductions) {
      BOOST_TEST_CONTEXT(name << " " << c.shape << " weights " << c.weights << " " << losses::reduction_name(r)) {
        tft::check_grad([&](std::span<const Tensor> in) { return loss(in[0], in[1], in[2], r); },
                        {tft::rand64(c.shape, label_lo, label_hi, 5), tft::rand64(c.shape, lo, hi, 6), weights64(c.weights)});
        tft::check_grad([&](std::span<const Tensor> in) { return loss(in[0], in[1], 0.7, r); },
                        {tft::rand64(c.shape, label_lo, label_hi, 5), tft::rand64(c.shape, lo, hi, 6)});
      }
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tf_losses)

// ---------------------------------------------------------------------------- weights and reductions

BOOST_AUTO_TEST_CASE(mean_squared_error_values_for_every_weights_and_reduction) {
  // print(F.mse_loss(p, y, reduction='none'))
  //   for w in [1.0, 0.5, 0.0, [[0.0], [3.0]], [[1.0, 0.0, 2.0], [0.5, 0.0, -1.0]], [[2.0, 0.0, 1.0]]]:
  //     print([reduce(F.mse_loss(p, y, reduction='none').numpy(), w, k) for k in R])
  const Tensor y = labels_2x3(), p = predictions_2x3();
  Tensor none = losses::mean_squared_error(y, p, 1.0, Reduction::NONE);
  BOOST_TEST(none.shape() == Shape({2, 3}));
  BOOST_TEST(none.dtype() == float64);
  tft::check_close(none, {0.09, 2.8900000000000006, 0.6400000000000001, 6.760000000000001, 0.009999999999999995, 1.5625});
  struct Case {
    losses::Weights weights;
    std::vector<double> expected;  // SUM, MEAN, SUM_OVER_BATCH_SIZE, SUM_BY_NONZERO_WEIGHTS
  };
  const std::vector<Case> cases = {
      {1.0, {11.9525, 1.9920833333333334, 1.9920833333333334, 1.9920833333333334}},
      {0.5, {5.97625, 1.9920833333333334, 0.9960416666666667, 0.9960416666666667}},
      {0.0, {0.0, 0.0, 0.0, 0.0}},  // div_no_nan: 0 / 0 is 0
      {column(0, 3), {24.997500000000002, 2.7775000000000003, 4.166250000000001, 8.332500000000001}},
      {tensor({{1, 0, 2}, {0.5, 0, -1}}, float64),
       {3.187500000000001, 1.2750000000000004, 0.5312500000000001, 0.7968750000000002}},
      {tensor({{2, 0, 1}}, float64), {15.902500000000002, 2.650416666666667, 2.650416666666667, 3.9756250000000004}},
  };
  for (const Case& c : cases)
    for (std::size_t i = 0; i < 4; ++i) {
      Tensor l = losses::mean_squared_error(y, p, c.weights, kScalarReductions[i]);
      BOOST_TEST(l.shape() == Shape{});
      tft::check_close(l, {c.expected[i]}, 1e-12, 1e-12);
    }
  // NONE multiplies by the weights: print(F.mse_loss(p, y, reduction='none').numpy() * np.array([[0.0], [3.0]]))
  tft::check_close(losses::mean_squared_error(y, p, column(0, 3), Reduction::NONE),
                   {0.0, 0.0, 0.0, 20.28, 0.029999999999999985, 4.6875});
  // SUM_BY_NONZERO_WEIGHTS is the default, and SUM_OVER_NONZERO_WEIGHTS another name for it.
  tft::check_close(losses::mean_squared_error(y, p, column(0, 3)), {8.332500000000001});
  BOOST_TEST(static_cast<int>(Reduction::SUM_OVER_NONZERO_WEIGHTS) ==
             static_cast<int>(Reduction::SUM_BY_NONZERO_WEIGHTS));
  // A scalar weights tensor is the number.
  tft::check_close(losses::mean_squared_error(y, p, scalar(0.5, float64), Reduction::SUM_OVER_BATCH_SIZE),
                   {0.9960416666666667});
}

BOOST_AUTO_TEST_CASE(weights_of_other_dtypes_are_converted_and_gradients_reach_them) {
  const Tensor y = labels_2x3(), p = predictions_2x3();
  // int32 and bool masks, as TensorFlow casts weights: bool {false, true} is column(0, 1).
  tft::check_close(losses::mean_squared_error(y, p, reshape(tensor({0, 3}, int32), {2, 1})), {8.332500000000001});
  tft::check_close(losses::mean_squared_error(y, p, reshape(tensor({0, 1}, bool_), {2, 1}), Reduction::SUM),
                   {6.760000000000001 + 0.009999999999999995 + 1.5625});
  // d MEAN / dw: the weights are in the numerator and the denominator.
  // mse = F.mse_loss(p, y, reduction='none'); w = T([[2.0], [1.0]]).requires_grad_()
  // print(torch.autograd.grad((mse * w).sum() / (torch.ones_like(mse) * w).sum(), w))
  Tensor w = column(2, 1).requires_grad_();
  losses::mean_squared_error(y, p, w, Reduction::MEAN).backward();
  tft::check_close(w.grad(), {-0.174537037037037, 0.349074074074074}, 1e-12, 1e-12);
}

BOOST_AUTO_TEST_CASE(reduction_names_are_tensorflows) {
  BOOST_TEST(std::string(losses::reduction_name(Reduction::NONE)) == "none");
  BOOST_TEST(std::string(losses::reduction_name(Reduction::SUM)) == "weighted_sum");
  BOOST_TEST(std::string(losses::reduction_name(Reduction::MEAN)) == "weighted_mean");
  BOOST_TEST(std::string(losses::reduction_name(Reduction::SUM_OVER_BATCH_SIZE)) == "weighted_sum_over_batch_size");
  BOOST_TEST(std::string(losses::reduction_name(Reduction::SUM_BY_NONZERO_WEIGHTS)) ==
             "weighted_sum_by_nonzero_weights");
}

BOOST_AUTO_TEST_CASE(compute_weighted_loss_and_empty_losses) {
  Tensor l = tensor({{1, 2, 3}, {4, 5, 6}});
  tft::check_close(losses::compute_weighted_loss(l, column(1, 0, float32)), {2});
  tft::check_close(losses::compute_weighted_loss(l, tensor({{1, 1, 0}}), Reduction::MEAN), {3});
  BOOST_TEST(losses::compute_weighted_loss(l, 2.0, Reduction::NONE).dtype() == float32);
  // No elements: every scalar reduction gives 0, not NaN (div_no_nan).
  for (Reduction r : kScalarReductions) tft::check_close(losses::compute_weighted_loss(zeros({0, 3}), 1.0, r), {0});
  BOOST_TEST(losses::compute_weighted_loss(zeros({0, 3}), 1.0, Reduction::NONE).shape() == Shape({0, 3}));
}

BOOST_AUTO_TEST_CASE(weights_errors) {
  const Tensor y = labels_2x3(), p = predictions_2x3();
  // TensorFlow's rule, not numpy's: [2] against [2,3] would broadcast along the wrong axis.
  TF_CHECK_THROWS_WITH(losses::mean_squared_error(y, p, tensor({1, 2}, float64)), ShapeError, "mean_squared_error",
                       "weights [2] cannot be broadcast to the losses [2,3]", "scalar or have the losses' rank 2",
                       "each dimension 1 or equal");
  // weights [2] against losses [2,1]: numpy would make [2,2]; the message says how to fit them.
  TF_CHECK_THROWS_WITH(losses::absolute_difference(column(1, 2), column(1, 2), tensor({1, 2}, float64)), ShapeError,
                       "absolute_difference", "weights [2]", "losses [2,1]", "reshape the weights to [2,1]");
  TF_CHECK_THROWS_WITH(losses::mean_squared_error(y, p, tensor({{1, 2}}, float64)), ShapeError, "mean_squared_error",
                       "weights [1,2]", "losses [2,3]");
  TF_CHECK_THROWS_WITH(losses::mean_squared_error(y, p, ones({2, 3, 1}, float64)), ShapeError, "weights [2,3,1]");
  TF_CHECK_THROWS_WITH(losses::mean_squared_error(y, p, 1.0, static_cast<Reduction>(17)), ValueError,
                       "mean_squared_error", "invalid reduction 17");
  TF_CHECK_THROWS_WITH(losses::compute_weighted_loss(tensor({1, 2}, int32)), DTypeError, "compute_weighted_loss",
                       "losses must be float32 or float64", "int32 [2]");
}

// ---------------------------------------------------------------------------- regression losses

BOOST_AUTO_TEST_CASE(absolute_difference_and_huber_values) {
  // print(F.l1_loss(p, y, reduction='none'))
  // print(F.huber_loss(p, y, reduction='none', delta=1.0)); print(F.huber_loss(p, y, reduction='none', delta=0.5))
  // wb = [[1.0, 0.0, 2.0], [0.5, 0.0, -1.0]]
  // print(reduce(F.l1_loss(p, y, reduction='none').numpy(), wb, 'SUM_BY_NONZERO_WEIGHTS'))
  // print(reduce(F.huber_loss(p, y, reduction='none', delta=1.0).numpy(), wb, 'SUM_BY_NONZERO_WEIGHTS'))
  const Tensor y = labels_2x3(), p = predictions_2x3(), wb = tensor({{1, 0, 2}, {0.5, 0, -1}}, float64);
  tft::check_close(losses::absolute_difference(y, p, 1.0, Reduction::NONE),
                   {0.3, 1.7000000000000002, 0.8, 2.6, 0.09999999999999998, 1.25});
  tft::check_close(losses::absolute_difference(y, p, wb), {0.48750000000000004});
  tft::check_close(losses::huber_loss(y, p, 1.0, 1.0, Reduction::NONE),
                   {0.045, 1.2000000000000002, 0.32000000000000006, 2.1, 0.0049999999999999975, 0.75});
  tft::check_close(losses::huber_loss(y, p, 1.0, 0.5, Reduction::NONE),
                   {0.045, 0.7250000000000001, 0.275, 1.175, 0.0049999999999999975, 0.5});
  tft::check_close(losses::huber_loss(y, p, wb), {0.24625000000000008});
  // float32 predictions with int labels: the labels take the predictions' dtype (as TensorFlow).
  Tensor l32 = losses::huber_loss(tensor({0, 1, 2}, int32), tensor({0.25, 3, 2}), 1.0, 1.0, Reduction::NONE);
  BOOST_TEST(l32.dtype() == float32);
  tft::check_close(l32, {0.03125, 1.5, 0});
}

BOOST_AUTO_TEST_CASE(huber_gradient_is_not_doubled_at_delta) {
  // At |error| == delta TensorFlow's quadratic/linear split gives the gradient delta (not 2 delta).
  Tensor p = tensor({1.5, -0.5, 0.25}, float64).requires_grad_();
  losses::huber_loss(zeros({3}, float64), p, 1.0, 0.5, Reduction::SUM).backward();
  tft::check_close(p.grad(), {0.5, -0.5, 0.25});
}

BOOST_AUTO_TEST_CASE(log_loss_values) {
  // q = T([[0.1, 0.6, 0.95], [0.5, 0.02, 0.7]]); z = T([[0.0, 1.0, 1.0], [1.0, 0.0, 0.25]])
  // zn, qn = z.numpy(), q.numpy()
  // print(-zn * np.log(qn + 1e-7) - (1 - zn) * np.log(1 - qn + 1e-7))      # TensorFlow's epsilon
  // print(F.binary_cross_entropy(q, z, reduction='none'))                  # epsilon = 0
  // print(reduce(-zn * np.log(qn + 1e-7) - (1 - zn) * np.log(1 - qn + 1e-7), 1.0, 'SUM_BY_NONZERO_WEIGHTS'))
  const Tensor z = tensor({{0, 1, 1}, {1, 0, 0.25}}, float64), q = tensor({{0.1, 0.6, 0.95}, {0.5, 0.02, 0.7}}, float64);
  tft::check_close(losses::log_loss(z, q, 1.0, 1e-7, Reduction::NONE),
                   {0.1053604045467214, 0.510825457099338, 0.05129318912439828, 0.6931469805599654, 0.0202026052767084,
                    0.9921480535148934},
                   1e-12, 1e-12);
  tft::check_close(losses::log_loss(z, q, 1.0, 0.0, Reduction::NONE),
                   {0.10536051565782628, 0.5108256237659907, 0.05129329438755058, 0.6931471805599453,
                    0.020202707317519466, 0.992148339229135},
                   1e-12, 1e-12);
  tft::check_close(losses::log_loss(z, q), {0.3954961150203375}, 1e-12, 1e-12);
  // epsilon keeps log(0) away: predictions of exactly 0 and 1 give finite losses.
  check_finite(losses::log_loss(tensor({1, 0}), tensor({0, 1}), 1.0, 1e-7, Reduction::NONE));
}

BOOST_AUTO_TEST_CASE(regression_losses_gradcheck) {
  check_loss_grads("mean_squared_error", [](auto& y, auto& p, auto& w, Reduction r) {
    return losses::mean_squared_error(y, p, w, r);
  }, -2, 2, -2, 2);
  // Away from the kinks: with predictions in [0.1, 2) and labels in [-1, -0.2), |error| >= 0.3
  // stays off 0 (abs) and off delta 0.1 (huber's linear part); delta 10 keeps huber quadratic.
  check_loss_grads("absolute_difference", [](auto& y, auto& p, auto& w, Reduction r) {
    return losses::absolute_difference(y, p, w, r);
  }, 0.1, 2, -1, -0.2);
  check_loss_grads("huber_loss (quadratic part)", [](auto& y, auto& p, auto& w, Reduction r) {
    return losses::huber_loss(y, p, w, 10.0, r);
  }, -2, 2, -2, 2);
  check_loss_grads("huber_loss (linear part)", [](auto& y, auto& p, auto& w, Reduction r) {
    return losses::huber_loss(y, p, w, 0.1, r);
  }, 0.1, 2, -1, -0.2);
  check_loss_grads("log_loss", [](auto& y, auto& p, auto& w, Reduction r) {
    return losses::log_loss(y, p, w, 1e-7, r);
  }, 0.05, 0.95, 0, 1);
}

// ---------------------------------------------------------------------------- sigmoid cross-entropy

BOOST_AUTO_TEST_CASE(sigmoid_cross_entropy_values) {
  // x = T([[-2.0, 0.0, 3.5], [40.0, -40.0, 0.7]]); z = T([[0.0, 1.0, 1.0], [1.0, 0.0, 0.25]])
  // print(F.binary_cross_entropy_with_logits(x, z, reduction='none'))
  // print(F.binary_cross_entropy_with_logits(x, z * 0.8 + 0.1, reduction='none'))
  // print(reduce(F.binary_cross_entropy_with_logits(x, z * 0.8 + 0.1, reduction='none').numpy(), [[1.0], [0.0]],
  //              'SUM_BY_NONZERO_WEIGHTS'))
  // print(torch.sigmoid(x) - z)
  const Tensor z = tensor({{0, 1, 1}, {1, 0, 0.25}}, float64);
  Tensor x = tensor({{-2, 0, 3.5}, {40, -40, 0.7}}, float64).requires_grad_();
  const std::vector<double> expected = {0.1269280110429726, 0.6931471805599453, 0.029750418272620652, 0.0, 0.0,
                                        0.9281860488854577};
  Tensor nn_loss = nn::sigmoid_cross_entropy_with_logits(z, x);
  BOOST_TEST(nn_loss.shape() == Shape({2, 3}));
  tft::check_close(nn_loss, expected, 1e-15, 1e-12);
  tft::check_close(losses::sigmoid_cross_entropy(z, x, 1.0, 0.0, Reduction::NONE), expected, 1e-15, 1e-12);
  tft::check_close(losses::sigmoid_cross_entropy(z, x, 1.0, 0.2, Reduction::NONE),
                   {0.32692801104297253, 0.6931471805599453, 0.37975041827262057, 3.999999999999999, 4.0,
                    0.8931860488854577},
                   1e-12, 1e-12);
  tft::check_close(losses::sigmoid_cross_entropy(z, x, column(1, 0), 0.2), {0.4666085366251795}, 1e-12, 1e-12);
  // The gradient is sigmoid(x) - z, exactly at x = 0 too.
  reduce_sum(nn::sigmoid_cross_entropy_with_logits(z, x)).backward();
  tft::check_close(x.grad(), {0.11920292202211755, -0.5, -0.02931223075135636, 0.0, 4.248354255291589e-18,
                              0.41818777216816616},
                   1e-15, 1e-12);
  // {0, 1} int labels, as TensorFlow's multi_class_labels.
  tft::check_close(losses::sigmoid_cross_entropy(tensor({{0, 1}}, int64), tensor({{0, 0}}), 1.0, 0.0, Reduction::SUM),
                   {2 * 0.6931471805599453});
}

BOOST_AUTO_TEST_CASE(sigmoid_cross_entropy_is_stable_for_logits_of_1e4) {
  for (DType dt : {float32, float64}) {
    Tensor x = tensor({1e4, -1e4, 1e4, -1e4, 0}, dt).requires_grad_();
    Tensor z = tensor({1, 0, 0, 1, 0.5}, dt);
    Tensor l = nn::sigmoid_cross_entropy_with_logits(z, x);
    check_finite(l);
    tft::check_close(l, {0, 0, 1e4, 1e4, 0.6931471805599453}, 1e-6, 1e-6);
    reduce_sum(l).backward();
    check_finite(x.grad());
    tft::check_close(x.grad(), {0, 0, 1, -1, 0}, 1e-6);
  }
}

BOOST_AUTO_TEST_CASE(sigmoid_cross_entropy_gradcheck) {
  for (const Shape& s : {Shape{}, Shape{1, 1}, Shape{4}, Shape{2, 3, 2}}) {
    tft::check_grad([](std::span<const Tensor> in) { return nn::sigmoid_cross_entropy_with_logits(in[0], in[1]); },
                    {tft::rand64(s, 0, 1, 3), tft::rand64(s, -4, 4, 4)});
    // logits of exactly 0 (a zero-initialized last layer): the selects take one side consistently
    Tensor fixed = tft::rand64(s, 0, 1, 3).detach();
    tft::check_grad([&](std::span<const Tensor> in) { return nn::sigmoid_cross_entropy_with_logits(fixed, in[0]); },
                    {zeros(s, float64).requires_grad_()});
  }
  for (double ls : {0.0, 0.3})
    check_loss_grads("sigmoid_cross_entropy", [ls](auto& z, auto& x, auto& w, Reduction r) {
      return losses::sigmoid_cross_entropy(z, x, w, ls, r);
    }, -4, 4, 0, 1);
}

// ---------------------------------------------------------------------------- softmax cross-entropies

// lg = T([[1.0, 2.0, 0.5, -1.0], [0.0, -3.0, 2.5, 1.0], [4.0, 4.0, 4.0, 4.5]]); ids = torch.tensor([1, 2, 3])
// soft = T([[0.2, 0.3, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 1.0, 0.0]])
Tensor logits_3x4() { return tensor({{1, 2, 0.5, -1}, {0, -3, 2.5, 1}, {4, 4, 4, 4.5}}, float64); }

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_values_and_label_smoothing) {
  // print(F.cross_entropy(lg, ids, reduction='none'))
  // print(F.cross_entropy(lg, ids, reduction='none', label_smoothing=0.1))
  // print(F.cross_entropy(lg, F.one_hot(ids, 4).double() * 0.9 + 0.1 / 4, reduction='none'))   # the same
  // print(F.cross_entropy(lg, soft, reduction='none')); print(F.cross_entropy(lg, soft * 0.7 + 0.3 / 4, reduction='none'))
  const Tensor lg = logits_3x4(), ids = tensor({1, 2, 3}, int64), onehot = one_hot(ids, 4, 1, 0, float64);
  const Tensor soft = tensor({{0.2, 0.3, 0.5, 0}, {0.25, 0.25, 0.25, 0.25}, {0, 0, 1, 0}}, float64);
  const std::vector<double> plain = {0.49518189808585605, 0.2694941174815943, 1.0365921862326963};
  const std::vector<double> smoothed = {0.6326818980858561, 0.5069941174815943, 1.0740921862326962};
  tft::check_close(losses::softmax_cross_entropy(onehot, lg, 1.0, 0.0, Reduction::NONE), plain, 1e-12, 1e-12);
  tft::check_close(losses::softmax_cross_entropy(onehot, lg, 1.0, 0.1, Reduction::NONE), smoothed, 1e-12, 1e-12);
  tft::check_close(losses::sparse_softmax_cross_entropy(ids, lg, 1.0, 0.0, Reduction::NONE), plain, 1e-12, 1e-12);
  tft::check_close(losses::sparse_softmax_cross_entropy(ids, lg, 1.0, 0.1, Reduction::NONE), smoothed, 1e-12, 1e-12);
  tft::check_close(losses::softmax_cross_entropy(soft, lg, 1.0, 0.0, Reduction::NONE),
                   {1.4451818980858562, 2.644494117481594, 1.5365921862326963}, 1e-12, 1e-12);
  tft::check_close(losses::softmax_cross_entropy(soft, lg, 1.0, 0.3, Reduction::NONE),
                   {1.572681898085856, 2.644494117481594, 1.499092186232696}, 1e-12, 1e-12);
  // int one-hot labels are converted; int32 class ids too.
  tft::check_close(losses::softmax_cross_entropy(one_hot(ids, 4, 1, 0, int32), lg, 1.0, 0.1, Reduction::NONE),
                   smoothed, 1e-12, 1e-12);
  tft::check_close(losses::sparse_softmax_cross_entropy(tensor({1, 2, 3}, int32), lg, 1.0, 0.1, Reduction::NONE),
                   smoothed, 1e-12, 1e-12);
  // print([reduce(F.cross_entropy(lg, ids, reduction='none', label_smoothing=0.1).numpy(), [2.0, 0.0, 1.0], k)
  //        for k in ['SUM_BY_NONZERO_WEIGHTS', 'MEAN', 'SUM']])
  const Tensor w = tensor({2, 0, 1}, float64);
  const std::vector<double> reduced = {1.1697279912022043, 0.7798186608014696, 2.3394559824044086};
  const Reduction rs[] = {Reduction::SUM_BY_NONZERO_WEIGHTS, Reduction::MEAN, Reduction::SUM};
  for (std::size_t i = 0; i < 3; ++i) {
    tft::check_close(losses::sparse_softmax_cross_entropy(ids, lg, w, 0.1, rs[i]), {reduced[i]}, 1e-12, 1e-12);
    tft::check_close(losses::softmax_cross_entropy(onehot, lg, w, 0.1, rs[i]), {reduced[i]}, 1e-12, 1e-12);
  }
}

BOOST_AUTO_TEST_CASE(sparse_labels_and_weights_of_one_more_dimension_are_squeezed) {
  const Tensor lg = logits_3x4();
  const Tensor ids = reshape(tensor({1, 2, 3}, int64), {3, 1});  // [batch, 1], as Keras-style labels
  Tensor none = losses::sparse_softmax_cross_entropy(ids, lg, 1.0, 0.0, Reduction::NONE);
  BOOST_TEST(none.shape() == Shape({3}));
  tft::check_close(none, {0.49518189808585605, 0.2694941174815943, 1.0365921862326963}, 1e-12, 1e-12);
  Tensor w = reshape(tensor({2, 0, 1}, float64), {3, 1});
  tft::check_close(losses::sparse_softmax_cross_entropy(ids, lg, w, 0.1), {1.1697279912022043}, 1e-12, 1e-12);
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_of_sequences) {
  // [batch, time, classes] logits, [batch, time] labels and a [batch, time] mask: the language-model
  // loss, averaged over the unmasked positions (SUM_BY_NONZERO_WEIGHTS), equals the mean over them.
  Generator gen(3);
  Tensor logits = random_uniform({2, 5, 7}, -2, 2, float64, &gen);
  Tensor ids = tensor({{1, 6, 0, 3, 3}, {2, 2, 5, 0, 4}}, int64);
  Tensor mask = tensor({{1, 1, 1, 0, 0}, {1, 1, 1, 1, 1}}, float64);
  Tensor per_token = nn::sparse_softmax_cross_entropy_with_logits(ids, logits);
  std::vector<double> v = per_token.to_vector<double>(), m = mask.to_vector<double>();
  double sum = 0;
  for (std::size_t i = 0; i < v.size(); ++i) sum += v[i] * m[i];
  tft::check_close(losses::sparse_softmax_cross_entropy(ids, logits, mask), {sum / 8}, 1e-12, 1e-12);
  tft::check_close(losses::softmax_cross_entropy(one_hot(ids, 7, 1, 0, float64), logits, mask), {sum / 8}, 1e-12,
                   1e-12);
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_gives_no_gradient_to_the_labels) {
  // As TensorFlow's (stop_gradient on the labels); the logits get (softmax - labels) g.
  Tensor labels = tensor({{0.25, 0.75}}, float64).requires_grad_();
  Tensor logits = tensor({{0.0, 0.0}}, float64).requires_grad_();
  losses::softmax_cross_entropy(labels, logits, 1.0, 0.0, Reduction::SUM).backward();
  BOOST_TEST(!labels.grad().defined());
  tft::check_close(logits.grad(), {0.25, -0.25});
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropies_gradcheck) {
  struct Case {
    Shape logits, weights;
  };
  for (const Case& c : std::vector<Case>{{{3}, {}}, {{1, 1}, {1}}, {{4, 3}, {4}}, {{2, 3, 5}, {1, 3}}}) {
    Shape losses_shape(std::span<const std::int64_t>(c.logits.begin(), c.logits.end() - 1));
    Generator gen(11);
    Tensor ids = cast(floor(random_uniform(losses_shape, 0, static_cast<double>(c.logits.dim(-1)) - 1e-9, float64,
                                           &gen)),
                      int64);
    Tensor onehot = tft::rand64(c.logits, 0, 1, 8).detach();
    for (double ls : {0.0, 0.2})
      for (Reduction r : kReductions) {
        BOOST_TEST_CONTEXT(c.logits << " weights " << c.weights << " ls " << ls << " " << losses::reduction_name(r)) {
          tft::check_grad([&](std::span<const Tensor> in) {
            return losses::softmax_cross_entropy(onehot, in[0], in[1], ls, r);
          }, {tft::rand64(c.logits, -3, 3, 9), weights64(c.weights)});
          tft::check_grad([&](std::span<const Tensor> in) {
            return losses::sparse_softmax_cross_entropy(ids, in[0], in[1], ls, r);
          }, {tft::rand64(c.logits, -3, 3, 9), weights64(c.weights)});
        }
      }
  }
}

// ---------------------------------------------------------------------------- kl_divergence

BOOST_AUTO_TEST_CASE(kl_divergence_values_as_keras) {
  // t = T([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]]); u = T([[0.3, 0.3, 0.4], [0.1, 0.6, 0.3]])
  // tc, uc = np.clip(t.numpy(), 1e-7, 1), np.clip(u.numpy(), 1e-7, 1)
  // print(np.sum(tc * np.log(tc / uc), axis=-1))                          # tf.keras.losses.KLD
  // print(F.kl_div(torch.log(T(uc)), T(tc), reduction='none').sum(-1))    # PyTorch on the clipped inputs
  // print(F.kl_div(torch.log(u), t, reduction='none').sum(-1))            # PyTorch, unclipped: 0.7035703807877485, ...
  const Tensor t = tensor({{0.2, 0.8, 0}, {0.5, 0.25, 0.25}}, float64), u = tensor({{0.3, 0.3, 0.4}, {0.1, 0.6, 0.3}}, float64);
  Tensor none = losses::kl_divergence(t, u, 1.0, 1e-7, Reduction::NONE);
  BOOST_TEST(none.shape() == Shape({2}));
  tft::check_close(none, {0.7035688606072562, 0.5402713826800866}, 1e-12, 1e-12);
  tft::check_close(losses::kl_divergence(t, u, tensor({1, 0}, float64), 1e-7, Reduction::SUM), {0.7035688606072562},
                   1e-12, 1e-12);
  tft::check_close(losses::kl_divergence(t, t, 1.0, 1e-7, Reduction::NONE), {0, 0}, 1e-12);
}

BOOST_AUTO_TEST_CASE(kl_divergence_gradcheck) {
  struct Case {
    Shape shape, weights;
  };
  for (const Case& c : std::vector<Case>{{{3}, {}}, {{1, 1}, {1}}, {{4, 3}, {4}}, {{2, 3, 5}, {2, 1}}})
    for (Reduction r : kReductions)
      tft::check_grad([&](std::span<const Tensor> in) { return losses::kl_divergence(in[0], in[1], in[2], 1e-7, r); },
                      {tft::rand64(c.shape, 0.05, 1, 12), tft::rand64(c.shape, 0.05, 1, 13), weights64(c.weights)});
}

// ---------------------------------------------------------------------------- errors

BOOST_AUTO_TEST_CASE(shape_and_dtype_errors_name_the_loss) {
  const Tensor a = ones({2, 3}), b = ones({2, 4});
  for (auto [name, fn] : std::vector<std::pair<std::string, std::function<Tensor()>>>{
           {"mean_squared_error", [&] { return losses::mean_squared_error(a, b); }},
           {"absolute_difference", [&] { return losses::absolute_difference(a, b); }},
           {"huber_loss", [&] { return losses::huber_loss(a, b); }},
           {"log_loss", [&] { return losses::log_loss(a, b); }},
           {"kl_divergence", [&] { return losses::kl_divergence(a, b); }}})
    TF_CHECK_THROWS_WITH(fn(), ShapeError, name + ": labels [2,3] and predictions [2,4] must have the same shape");
  TF_CHECK_THROWS_WITH(losses::sigmoid_cross_entropy(a, b), ShapeError,
                       "sigmoid_cross_entropy: multi_class_labels [2,3] and logits [2,4] must have the same shape");
  TF_CHECK_THROWS_WITH(losses::softmax_cross_entropy(a, b), ShapeError,
                       "softmax_cross_entropy: onehot_labels [2,3] and logits [2,4] must have the same shape");
  TF_CHECK_THROWS_WITH(nn::sigmoid_cross_entropy_with_logits(a, b), ShapeError,
                       "sigmoid_cross_entropy_with_logits: labels [2,3] and logits [2,4] must have the same shape");
  // [n] against [n,1]: the message says which to reshape; class ids go to the sparse loss
  TF_CHECK_THROWS_WITH(losses::mean_squared_error(tensor({1, 2}), column(1, 2, float32)), ShapeError,
                       "mean_squared_error: labels [2] and predictions [2,1] must have the same shape; reshape the "
                       "labels to [2,1]");
  TF_CHECK_THROWS_WITH(losses::log_loss(column(1, 0, float32), tensor({0.5, 0.5})), ShapeError,
                       "labels [2,1] and predictions [2] must have the same shape; reshape the predictions to [2,1]");
  TF_CHECK_THROWS_WITH(losses::softmax_cross_entropy(tensor({0, 2}, int64), ones({2, 3})), ShapeError,
                       "softmax_cross_entropy: onehot_labels [2] and logits [2,3] must have the same shape; for class "
                       "ids (one per example) use sparse_softmax_cross_entropy");
  // predictions and logits must be floating; the message says how to fix it
  TF_CHECK_THROWS_WITH(losses::mean_squared_error(a, ones({2, 3}, int32)), DTypeError,
                       "mean_squared_error: predictions must be float32 or float64, got int32 [2,3]",
                       "cast(predictions, float32)");
  TF_CHECK_THROWS_WITH(losses::softmax_cross_entropy(a, ones({2, 3}, int64)), DTypeError, "softmax_cross_entropy",
                       "logits must be float32 or float64, got int64");
  TF_CHECK_THROWS_WITH(nn::sigmoid_cross_entropy_with_logits(ones({2}, int32), ones({2})), DTypeError,
                       "sigmoid_cross_entropy_with_logits: labels are int32 but logits are float32",
                       "cast(labels, float32)");
  TF_CHECK_THROWS_WITH(losses::mean_squared_error(Tensor(), a), ValueError,
                       "mean_squared_error: labels must not be an undefined tensor");
}

BOOST_AUTO_TEST_CASE(classification_errors) {
  const char* op = "sparse_softmax_cross_entropy";
  TF_CHECK_THROWS_WITH(losses::sparse_softmax_cross_entropy(tensor({0.0, 1.0}), ones({2, 3})), DTypeError, op,
                       "labels must be int32 or int64 class ids, got float32 [2]", "use softmax_cross_entropy");
  TF_CHECK_THROWS_WITH(losses::sparse_softmax_cross_entropy(tensor({0, 1, 2}, int64), ones({2, 3})), ShapeError, op,
                       "labels [3] must have the shape of logits [2,3] without its last dimension ([2])");
  TF_CHECK_THROWS_WITH(losses::sparse_softmax_cross_entropy(tensor({{0, 1}}, int64), ones({2, 3})), ShapeError, op,
                       "labels [1,2]", "logits [2,3]");
  // the label range is checked by the op underneath, with and without label smoothing
  for (double ls : {0.0, 0.1})
    TF_CHECK_THROWS_WITH(losses::sparse_softmax_cross_entropy(tensor({0, 3}, int64), ones({2, 3}), 1.0, ls), ValueError,
                         "label value of 3", "[0, 3)");
  TF_CHECK_THROWS_WITH(losses::softmax_cross_entropy(scalar(1), scalar(1)), ShapeError, "softmax_cross_entropy",
                       "logits must have rank >= 1", "got []");
  TF_CHECK_THROWS_WITH(losses::sparse_softmax_cross_entropy(tensor({0}, int64), ones({1, 0})), ShapeError, op,
                       "at least one class", "[1,0]");
  TF_CHECK_THROWS_WITH(losses::kl_divergence(scalar(1), scalar(1)), ShapeError, "kl_divergence",
                       "predictions must have rank >= 1");
}

BOOST_AUTO_TEST_CASE(argument_errors) {
  const Tensor a = ones({2, 3});
  TF_CHECK_THROWS_WITH(losses::huber_loss(a, a, 1.0, 0.0), ValueError, "huber_loss: delta must be a finite number > 0, got 0");
  TF_CHECK_THROWS_WITH(losses::log_loss(a, a, 1.0, -1e-7), ValueError, "log_loss: epsilon must be a finite number >= 0");
  TF_CHECK_THROWS_WITH(losses::kl_divergence(a, a, 1.0, 0.0), ValueError, "kl_divergence: epsilon must be in (0, 1), got 0");
  TF_CHECK_THROWS_WITH(losses::sigmoid_cross_entropy(a, a, 1.0, 1.5), ValueError,
                       "sigmoid_cross_entropy: label_smoothing must be in [0, 1], got 1.5");
  TF_CHECK_THROWS_WITH(losses::softmax_cross_entropy(a, a, 1.0, -0.1), ValueError,
                       "softmax_cross_entropy: label_smoothing must be in [0, 1], got -0.1");
  TF_CHECK_THROWS_WITH(losses::sparse_softmax_cross_entropy(tensor({0, 1}, int64), a, 1.0, 2.0), ValueError,
                       "sparse_softmax_cross_entropy: label_smoothing must be in [0, 1], got 2");
}

BOOST_AUTO_TEST_SUITE_END()
