// The nn ops in graph mode: static shapes with unknown dimensions, node types, runs that give
// exactly the eager result, build-time errors; and the Tensor overloads of dropout (keep_prob)
// and batch_norm (training) in both modes.
#include <cmath>
#include <string>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/graph/train.h"

using namespace tapeflow;

namespace {

using tft::check_same;
using tft::type_of;

Tensor uniform(const Shape& shape, unsigned seed, double lo = -1.0, double hi = 1.0, DType dtype = float32) {
  Generator gen(seed);
  return random_uniform(shape, lo, hi, dtype, &gen);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_nn_ops)

// ------------------------------------------------------------------------------- conv2d, bias_add

BOOST_AUTO_TEST_CASE(conv2d_shapes_types_and_run) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 28, 28, 1}, "images");
  Tensor w = uniform({5, 5, 1, 32}, 1), b = uniform({32}, 2);
  Tensor same = nn::conv2d(x, w, {1, 1}, nn::Padding::Same);
  BOOST_TEST(same.shape().str() == "[?,28,28,32]");
  BOOST_TEST(type_of(same) == "Conv2D");
  BOOST_TEST(nn::conv2d(x, w, {1, 1}, nn::Padding::Valid).shape().str() == "[?,24,24,32]");
  BOOST_TEST(nn::conv2d(x, w, {1, 2, 2, 1}, nn::Padding::Same).shape().str() == "[?,14,14,32]");
  BOOST_TEST(nn::conv2d(x, w, {3, 3}, nn::Padding::Valid).shape().str() == "[?,8,8,32]");
  // Unknown height, width and even channels propagate.
  Tensor any = placeholder(float32, {-1, -1, -1, -1});
  BOOST_TEST(nn::conv2d(any, w, {2, 2}, nn::Padding::Valid).shape().str() == "[?,?,?,32]");
  // A filter of unknown size: SAME's output does not depend on it, VALID's does.
  Tensor f = placeholder(float32, {-1, -1, 1, 8});
  BOOST_TEST(nn::conv2d(x, f, {2, 2}, nn::Padding::Same).shape().str() == "[?,14,14,8]");
  BOOST_TEST(nn::conv2d(x, f, {2, 2}, nn::Padding::Valid).shape().str() == "[?,?,?,8]");
  // The bias overload: one _FusedConv2D node (TensorFlow's fusion of Conv2D + BiasAdd), as eagerly.
  Tensor biased = nn::conv2d(x, w, b, {1, 1}, nn::Padding::Same);
  BOOST_TEST(biased.shape().str() == "[?,28,28,32]");
  BOOST_TEST(type_of(biased) == "_FusedConv2D");
  BOOST_TEST(biased.impl()->node->inputs().size() == 3u);
  BOOST_TEST(attr_text(biased.impl()->node->attrs.at("strides")) == "[1,1,1,1]");
  BOOST_TEST(attr_text(biased.impl()->node->attrs.at("padding")) == "SAME");
  BOOST_TEST(attr_text(biased.impl()->node->attrs.at("fused_ops")) == "[BiasAdd]");

  Session sess(g);
  Tensor xv = uniform({2, 28, 28, 1}, 3);
  check_same(sess.run(same, {{x, xv}}), nn::conv2d(xv, w, {1, 1}, nn::Padding::Same));
  check_same(sess.run(biased, {{x, xv}}), nn::conv2d(xv, w, b, {1, 1}, nn::Padding::Same));
  Tensor av = uniform({3, 9, 7, 1}, 4);
  Tensor strided = nn::conv2d(any, w, {2, 2}, nn::Padding::Valid);
  check_same(sess.run(strided, {{any, av}}), nn::conv2d(av, w, {2, 2}, nn::Padding::Valid));
  Tensor fv = uniform({3, 2, 1, 8}, 5);
  Tensor by_fed_filter = nn::conv2d(x, f, {2, 2}, nn::Padding::Valid);
  check_same(sess.run(by_fed_filter, {{x, xv}, {f, fv}}), nn::conv2d(xv, fv, {2, 2}, nn::Padding::Valid));
}

BOOST_AUTO_TEST_CASE(conv2d_errors_at_build_and_run_time) {
  Graph g;
  auto scope = g.as_default();
  Tensor x3 = placeholder(float32, {-1, 28, 28, 3}, "rgb");
  Tensor w = uniform({5, 5, 1, 32}, 1);
  TF_CHECK_THROWS_WITH(nn::conv2d(x3, w, {1, 1}, nn::Padding::Same), ShapeError, "conv2d", "[5,5,1,32]",
                       "[?,28,28,3]", "expects 1 input channels");
  TF_CHECK_THROWS_WITH(nn::conv2d(placeholder(float32, {-1, 4, 4, 1}), w, {1, 1}, nn::Padding::Valid), ShapeError,
                       "conv2d", "[5,5,1,32]", "[?,4,4,1]", "larger than the input");
  TF_CHECK_THROWS_WITH(nn::conv2d(placeholder(float32, {-1, 28, 28}), w, {1, 1}, nn::Padding::Same), ShapeError,
                       "conv2d", "4-D", "[?,28,28]");
  TF_CHECK_THROWS_WITH(nn::conv2d(placeholder(float64, {-1, 28, 28, 1}), w, {1, 1}, nn::Padding::Same), DTypeError,
                       "conv2d", "float64 [?,28,28,1]", "float32 [5,5,1,32]");
  TF_CHECK_THROWS_WITH(nn::conv2d(placeholder(int32, {-1, 28, 28, 1}), cast(w, int32), {1, 1}, nn::Padding::Same),
                       DTypeError, "conv2d", "int32 [?,28,28,1]", "float32 or float64");
  TF_CHECK_THROWS_WITH(nn::conv2d(placeholder(float32, {-1, 28, 28, 1}), w, {1, 0}, nn::Padding::Same), ValueError,
                       "conv2d", "strides", "positive");
  // An unknown size smaller than the filter is caught when the node runs, naming the node.
  Tensor any = placeholder(float32, {-1, -1, -1, 1}, "any");
  Tensor y = nn::conv2d(any, w, {1, 1}, nn::Padding::Valid);
  Session sess(g);
  TF_CHECK_THROWS_WITH(sess.run(y, {{any, ones({1, 3, 3, 1})}}), ShapeError, "larger than the input", "[1,3,3,1]",
                       "[[node Conv2D (Conv2D)]]");
  // Nothing was added to the graph by the failed builds but the placeholders.
  for (const auto& n : g.nodes()) BOOST_TEST((n->type() != "Conv2D" || n->name() == "Conv2D"));
}

BOOST_AUTO_TEST_CASE(bias_add_graph) {
  Graph g;
  auto scope = g.as_default();
  Tensor v = placeholder(float32, {-1, 10}), u = placeholder(float32, {-1, -1});
  Tensor b = uniform({10}, 1);
  Tensor y = nn::bias_add(v, b);
  BOOST_TEST(y.shape().str() == "[?,10]");
  BOOST_TEST(type_of(y) == "BiasAdd");
  BOOST_TEST(nn::bias_add(u, b).shape().str() == "[?,10]");  // the bias gives the channel count
  TF_CHECK_THROWS_WITH(nn::bias_add(v, uniform({5}, 1)), ShapeError, "bias_add", "[?,10]", "[5]");
  TF_CHECK_THROWS_WITH(nn::bias_add(placeholder(float32, {-1}), b), ShapeError, "bias_add", "at least 2", "[?]");
  TF_CHECK_THROWS_WITH(nn::bias_add(v, uniform({10}, 1, -1, 1, float64)), DTypeError, "bias_add", "float32 [?,10]",
                       "float64 [10]");
  Session sess(g);
  Tensor vv = uniform({4, 10}, 2);
  check_same(sess.run(y, {{v, vv}}), nn::bias_add(vv, b));
  Tensor uy = nn::bias_add(u, b);
  check_same(sess.run(uy, {{u, vv}}), nn::bias_add(vv, b));
  TF_CHECK_THROWS_WITH(sess.run(uy, {{u, ones({4, 3})}}), ShapeError, "bias_add", "[4,3]", "[10]", "[[node BiasAdd");
}

// ------------------------------------------------------------------------------------------ pools

BOOST_AUTO_TEST_CASE(pools_shapes_types_and_run) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 28, 28, 32});
  Tensor mp = nn::max_pool(x, {2, 2}, {2, 2}, nn::Padding::Same);
  Tensor ap = nn::avg_pool(x, {1, 3, 3, 1}, {1, 2, 2, 1}, nn::Padding::Valid);
  BOOST_TEST(mp.shape().str() == "[?,14,14,32]");
  BOOST_TEST(type_of(mp) == "MaxPool");
  BOOST_TEST(ap.shape().str() == "[?,13,13,32]");
  BOOST_TEST(type_of(ap) == "AvgPool");
  Tensor any = placeholder(float32, {-1, -1, 9, -1});
  Tensor mp_any = nn::max_pool(any, {3, 3}, {2, 2}, nn::Padding::Valid);
  Tensor ap_any = nn::avg_pool(any, {3, 3}, {2, 2}, nn::Padding::Same);
  BOOST_TEST(mp_any.shape().str() == "[?,?,4,?]");
  BOOST_TEST(ap_any.shape().str() == "[?,?,5,?]");

  Session sess(g);
  Tensor xv = uniform({2, 28, 28, 32}, 1);
  check_same(sess.run(mp, {{x, xv}}), nn::max_pool(xv, {2, 2}, {2, 2}, nn::Padding::Same));
  check_same(sess.run(ap, {{x, xv}}), nn::avg_pool(xv, {3, 3}, {2, 2}, nn::Padding::Valid));
  Tensor av = uniform({3, 7, 9, 2}, 2);
  check_same(sess.run(mp_any, {{any, av}}), nn::max_pool(av, {3, 3}, {2, 2}, nn::Padding::Valid));
  check_same(sess.run(ap_any, {{any, av}}), nn::avg_pool(av, {3, 3}, {2, 2}, nn::Padding::Same));
}

BOOST_AUTO_TEST_CASE(pool_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor small = placeholder(float32, {-1, 2, 2, 1});
  TF_CHECK_THROWS_WITH(nn::max_pool(small, {3, 3}, {1, 1}, nn::Padding::Valid), ShapeError, "max_pool", "3x3",
                       "[?,2,2,1]", "larger than the input");
  TF_CHECK_THROWS_WITH(nn::avg_pool(placeholder(float32, {-1, 10}), {2, 2}, {2, 2}, nn::Padding::Same), ShapeError,
                       "avg_pool", "4-D", "[?,10]");
  TF_CHECK_THROWS_WITH(nn::max_pool(placeholder(int32, {-1, 4, 4, 1}), {2, 2}, {2, 2}, nn::Padding::Same),
                       DTypeError, "max_pool", "int32 [?,4,4,1]");
  TF_CHECK_THROWS_WITH(nn::avg_pool(small, {2, 2, 2}, {2, 2}, nn::Padding::Same), ValueError, "avg_pool", "ksize",
                       "[2,2,2]");
  Tensor any = placeholder(float32, {-1, -1, -1, 1}, "any");
  Tensor y = nn::avg_pool(any, {3, 3}, {1, 1}, nn::Padding::Valid);
  Session sess(g);
  TF_CHECK_THROWS_WITH(sess.run(y, {{any, ones({1, 2, 2, 1})}}), ShapeError, "avg_pool", "larger than the input",
                       "[[node AvgPool (AvgPool)]]");
}

// ------------------------------------------------------------------------------------ normalisation

BOOST_AUTO_TEST_CASE(lrn_graph) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 5, -1, 8});
  Tensor y = nn::local_response_normalization(x, 2, 1.0, 0.5, 0.75);
  BOOST_TEST(y.shape().str() == "[?,5,?,8]");
  BOOST_TEST(type_of(y) == "LRN");
  BOOST_TEST(type_of(nn::lrn(x)) == "LRN");
  TF_CHECK_THROWS_WITH(nn::lrn(placeholder(float32, {-1, 8})), ShapeError, "local_response_normalization", "[?,8]",
                       "4-D");
  TF_CHECK_THROWS_WITH(nn::lrn(x, -1), ValueError, "local_response_normalization", "depth_radius", "-1");
  TF_CHECK_THROWS_WITH(nn::lrn(placeholder(int64, {-1, 5, 5, 8})), DTypeError, "local_response_normalization",
                       "int64");
  Session sess(g);
  Tensor xv = uniform({2, 5, 3, 8}, 1);
  check_same(sess.run(y, {{x, xv}}), nn::local_response_normalization(xv, 2, 1.0, 0.5, 0.75));
}

BOOST_AUTO_TEST_CASE(moments_and_batch_normalization_graph) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 4, 4, 3});
  nn::Moments m = nn::moments(x, {0, 1, 2});
  BOOST_TEST(m.mean.shape().str() == "[3]");
  BOOST_TEST(m.variance.shape().str() == "[3]");
  BOOST_TEST(type_of(m.mean) == "Squeeze");  // of the kept-dims mean, as TensorFlow's moments
  BOOST_TEST(type_of(m.mean.impl()->node->inputs()[0]) == "Mean");
  BOOST_TEST(type_of(m.variance) == "Mean");
  BOOST_TEST(type_of(m.variance.impl()->node->inputs()[0]) == "Square");
  nn::Moments kept = nn::moments(x, {0, 1, 2}, true);
  BOOST_TEST(kept.mean.shape().str() == "[1,1,1,3]");
  BOOST_TEST(kept.variance.shape().str() == "[1,1,1,3]");
  nn::Moments per_row = nn::moments(x, {1, 2, 3});
  BOOST_TEST(per_row.mean.shape().str() == "[?]");
  Tensor gamma = uniform({3}, 1, 0.5, 1.5), beta = uniform({3}, 2);
  Tensor y = nn::batch_normalization(x, m.mean, m.variance, beta, gamma, 1e-3);
  BOOST_TEST(y.shape().str() == "[?,4,4,3]");
  Tensor y_plain = nn::batch_normalization(x, m.mean, m.variance, Tensor(), Tensor(), 1e-3);
  BOOST_TEST(y_plain.shape().str() == "[?,4,4,3]");
  TF_CHECK_THROWS_WITH(nn::batch_normalization(x, uniform({4}, 3), m.variance, beta, gamma, 1e-3), ShapeError,
                       "batch_normalization", "mean", "[4]", "[?,4,4,3]");
  TF_CHECK_THROWS_WITH(nn::batch_normalization(x, m.mean, m.variance, beta, cast(gamma, float64), 1e-3), DTypeError,
                       "batch_normalization", "scale", "float64");
  TF_CHECK_THROWS_WITH(nn::moments(placeholder(int32, {-1, 3}), {0}), DTypeError, "moments", "int32 [?,3]");

  Session sess(g);
  Tensor xv = uniform({5, 4, 4, 3}, 4, -2, 3);
  nn::Moments e = nn::moments(xv, {0, 1, 2});
  auto got = sess.run({m.mean, m.variance, kept.mean, kept.variance, per_row.mean, y, y_plain}, {{x, xv}});
  check_same(got[0], e.mean);
  check_same(got[1], e.variance);
  nn::Moments ek = nn::moments(xv, {0, 1, 2}, true);
  check_same(got[2], ek.mean);
  check_same(got[3], ek.variance);
  check_same(got[4], nn::moments(xv, {1, 2, 3}).mean);
  check_same(got[5], nn::batch_normalization(xv, e.mean, e.variance, beta, gamma, 1e-3));
  check_same(got[6], nn::batch_normalization(xv, e.mean, e.variance, Tensor(), Tensor(), 1e-3));
}

BOOST_AUTO_TEST_CASE(batch_norm_graph_normalises_without_updating) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 4, 4, 3}, "x");
  Tensor training = placeholder(bool_, {}, "is_training");
  Tensor gamma = Variable(uniform({3}, 1, 0.5, 1.5), "gamma"), beta = Variable(uniform({3}, 2), "beta");
  Tensor mm_init = uniform({3}, 3), mv_init = uniform({3}, 4, 0.5, 2.0);
  Tensor mm = Variable(mm_init, "moving_mean"), mv = Variable(mv_init, "moving_variance");
  Tensor y = nn::batch_norm(x, gamma, beta, mm, mv, training, 0.9, 1e-3);
  BOOST_TEST(y.shape().str() == "[?,4,4,3]");
  BOOST_TEST(type_of(y) == "FusedBatchNorm");
  BOOST_TEST(y.impl()->node->inputs().size() == 6u);
  Tensor y_train = nn::batch_norm(x, gamma, beta, mm, mv, true, 0.9, 1e-3);
  Tensor y_infer = nn::batch_norm(x, Tensor(), Tensor(), mm, mv, false);
  BOOST_TEST(type_of(y_train) == "FusedBatchNorm");
  BOOST_TEST(y_infer.shape().str() == "[?,4,4,3]");

  Session sess(g);
  sess.run(global_variables_initializer());
  Tensor xv = uniform({6, 4, 4, 3}, 5, -2, 3);
  Tensor gv = sess.run(gamma), bv = sess.run(beta);
  // Training: the batch statistics, as eager batch_norm (whose own copies of the moving
  // statistics it updates); the session's moving statistics stay as they were.
  Tensor emm = mm_init.clone(), emv = mv_init.clone();
  Tensor expect_train = nn::batch_norm(xv, gv, bv, emm, emv, true, 0.9, 1e-3);
  check_same(sess.run(y, {{x, xv}, {training, scalar(1, bool_)}}), expect_train);
  check_same(sess.run(y_train, {{x, xv}}), expect_train);
  check_same(sess.run(mm), mm_init);
  check_same(sess.run(mv), mv_init);
  BOOST_TEST(emm.to_vector<double>() != mm_init.to_vector<double>());  // eager did update its own
  // Inference: the moving statistics.
  check_same(sess.run(y, {{x, xv}, {training, scalar(0, bool_)}}),
             nn::batch_norm(xv, gv, bv, mm_init, mv_init, false, 0.9, 1e-3));
  check_same(sess.run(y_infer, {{x, xv}}), nn::batch_norm(xv, Tensor(), Tensor(), mm_init, mv_init, false));
  check_same(sess.run(mm), mm_init);
}

BOOST_AUTO_TEST_CASE(batch_norm_graph_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 3}, "x");
  Tensor c3 = ones({3}), mm = zeros({3}), mv = ones({3});
  Tensor training = placeholder(bool_, {}, "training");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, zeros({4}), mv, training), ShapeError, "batch_norm", "moving_mean",
                       "[4]", "[?,3]");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, ones({2}), c3, mm, mv, true), ShapeError, "batch_norm", "scale (gamma)",
                       "[2]", "[?,3]");
  TF_CHECK_THROWS_WITH(nn::batch_norm(placeholder(float32, {-1}), c3, c3, mm, mv, training), ShapeError,
                       "batch_norm", "rank >= 2", "[?]");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, zeros({3}, float64), mv, training), DTypeError, "batch_norm",
                       "moving_mean", "float64");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, mm, mv, placeholder(float32, {})), DTypeError, "batch_norm",
                       "training must be bool", "float32 []");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, mm, mv, placeholder(bool_, {2})), ShapeError, "batch_norm",
                       "training must be a bool scalar", "bool [2]");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, mm, mv, training, 1.5), ValueError, "decay", "1.5");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, mm, mv, Tensor()), ValueError, "batch_norm", "undefined");
  // Channels unknown at build time are checked when the node runs.
  Tensor any = placeholder(float32, {-1, -1}, "any");
  Tensor y = nn::batch_norm(any, c3, c3, mm, mv, training);
  BOOST_TEST(y.shape().str() == "[?,?]");
  Session sess(g);
  TF_CHECK_THROWS_WITH(sess.run(y, {{any, ones({2, 4})}, {training, scalar(1, bool_)}}), ShapeError, "batch_norm",
                       "[2,4]", "[3]", "[[node FusedBatchNorm");
  TF_CHECK_THROWS_WITH(sess.run(y, {{any, ones({0, 3})}, {training, scalar(1, bool_)}}), ValueError, "batch_norm",
                       "[0,3]", "empty");
}

BOOST_AUTO_TEST_CASE(batch_norm_tensor_training_eager_matches_bool) {
  for (bool training : {true, false}) {
    Tensor x = uniform({4, 2, 2, 3}, 1, -2, 2), gamma = uniform({3}, 2, 0.5, 1.5), beta = uniform({3}, 3);
    Tensor mm1 = uniform({3}, 4), mv1 = uniform({3}, 5, 0.5, 2.0);
    Tensor mm2 = mm1.clone(), mv2 = mv1.clone();
    Tensor by_tensor = nn::batch_norm(x, gamma, beta, mm1, mv1, scalar(training ? 1 : 0, bool_), 0.9, 1e-3);
    Tensor by_bool = nn::batch_norm(x, gamma, beta, mm2, mv2, training, 0.9, 1e-3);
    check_same(by_tensor, by_bool);
    // The same moving-statistics update (training) or none (inference).
    check_same(mm1, mm2);
    check_same(mv1, mv2);
  }
  Tensor x = ones({2, 3});
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, Tensor(), Tensor(), zeros({3}), ones({3}), scalar(1.0)), DTypeError,
                       "batch_norm", "training must be bool", "float32 []");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, Tensor(), Tensor(), zeros({3}), ones({3}), ones({1}, bool_)), ShapeError,
                       "training must be a bool scalar", "bool [1]");
}

BOOST_AUTO_TEST_CASE(batch_norm_tensor_training_gradcheck) {
  for (bool training : {true, false}) {
    for (const Shape& s : std::vector<Shape>{Shape{1, 1}, Shape{3, 2}, Shape{2, 2, 2, 3}}) {
      const std::int64_t C = s.dim(-1);
      Tensor flag = scalar(training ? 1 : 0, bool_);
      Tensor mm = tft::rand64({C}, -1, 1, 3).detach(), mv = tft::rand64({C}, 0.5, 2, 4).detach();
      tft::check_grad(
          [&](std::span<const Tensor> t) {
            // Fresh moving statistics each call: training updates them in place.
            return nn::batch_norm(t[0], t[1], t[2], mm.clone(), mv.clone(), flag, 0.9, 1e-3);
          },
          {tft::rand64(s, -2, 2), tft::rand64({C}, 0.5, 1.5, 1), tft::rand64({C}, -1, 1, 2)});
      // And the gradients equal the bool overload's.
      Tensor xt = tft::rand64(s, -2, 2), xb = xt.detach().clone();
      xb.requires_grad_();
      reduce_sum(square(nn::batch_norm(xt, Tensor(), Tensor(), mm.clone(), mv.clone(), flag))).backward();
      reduce_sum(square(nn::batch_norm(xb, Tensor(), Tensor(), mm.clone(), mv.clone(), training))).backward();
      check_same(xt.grad(), xb.grad());
    }
  }
}

// ------------------------------------------------------------------------------ softmax and losses

BOOST_AUTO_TEST_CASE(softmax_graph) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 10});
  Tensor s = nn::softmax(x), ls = nn::log_softmax(x), s0 = nn::softmax(x, 0);
  BOOST_TEST(s.shape().str() == "[?,10]");
  BOOST_TEST(type_of(s) == "Softmax");
  BOOST_TEST(ls.shape().str() == "[?,10]");
  BOOST_TEST(type_of(ls) == "LogSoftmax");
  TF_CHECK_THROWS_WITH(nn::softmax(x, 2), ValueError, "softmax", "axis 2");
  TF_CHECK_THROWS_WITH(nn::log_softmax(placeholder(float32, {-1, 0})), ShapeError, "log_softmax", "[?,0]");
  TF_CHECK_THROWS_WITH(nn::softmax(placeholder(int32, {-1, 3})), DTypeError, "softmax", "int32 [?,3]");
  Session sess(g);
  Tensor xv = uniform({3, 10}, 1, -5, 5);
  auto got = sess.run({s, ls, s0}, {{x, xv}});
  check_same(got[0], nn::softmax(xv));
  check_same(got[1], nn::log_softmax(xv));
  check_same(got[2], nn::softmax(xv, 0));
}

BOOST_AUTO_TEST_CASE(cross_entropy_graph) {
  Graph g;
  auto scope = g.as_default();
  Tensor logits = placeholder(float32, {-1, 10}, "logits");
  Tensor probs = placeholder(float32, {-1, 10}, "probs");
  Tensor ids = placeholder(int64, {-1}, "ids");
  Tensor dense = nn::softmax_cross_entropy_with_logits(probs, logits);
  Tensor sparse = nn::sparse_softmax_cross_entropy_with_logits(ids, logits);
  BOOST_TEST(dense.shape().str() == "[?]");
  BOOST_TEST(type_of(dense) == "SoftmaxCrossEntropyWithLogits");
  BOOST_TEST(sparse.shape().str() == "[?]");
  BOOST_TEST(type_of(sparse) == "SparseSoftmaxCrossEntropyWithLogits");
  // Known dimensions of either side fill the other's unknown ones.
  BOOST_TEST(nn::softmax_cross_entropy_with_logits(placeholder(float32, {4, -1}), logits).shape().str() == "[4]");
  BOOST_TEST(nn::sparse_softmax_cross_entropy_with_logits(placeholder(int32, {4}), logits).shape().str() == "[4]");

  TF_CHECK_THROWS_WITH(nn::softmax_cross_entropy_with_logits(placeholder(float32, {-1, 5}), logits), ShapeError,
                       "softmax_cross_entropy_with_logits", "[?,5]", "[?,10]");
  TF_CHECK_THROWS_WITH(nn::softmax_cross_entropy_with_logits(placeholder(float64, {-1, 10}), logits), DTypeError,
                       "softmax_cross_entropy_with_logits", "float64", "float32");
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(placeholder(int64, {-1, 2}), logits), ShapeError,
                       "sparse_softmax_cross_entropy_with_logits", "[?,2]", "[?,10]");
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(placeholder(int64, {3}),
                                                                    placeholder(float32, {4, 10})),
                       ShapeError, "[3]", "[4,10]");
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(placeholder(float32, {-1}), logits), DTypeError,
                       "labels must be int32 or int64", "float32 [?]");
  TF_CHECK_THROWS_WITH(nn::sparse_softmax_cross_entropy_with_logits(ids, placeholder(int32, {-1, 10})), DTypeError,
                       "sparse_softmax_cross_entropy_with_logits", "int32 [?,10]");

  Session sess(g);
  Tensor lv = uniform({5, 10}, 1, -4, 4), pv = nn::softmax(uniform({5, 10}, 2));
  Tensor iv = tensor({3, 0, 9, 9, 1}, int64);
  auto got = sess.run({dense, sparse}, {{logits, lv}, {probs, pv}, {ids, iv}});
  check_same(got[0], nn::softmax_cross_entropy_with_logits(pv, lv));
  check_same(got[1], nn::sparse_softmax_cross_entropy_with_logits(iv, lv));
  // Label values are checked when the node runs.
  TF_CHECK_THROWS_WITH(sess.run(sparse, {{logits, lv}, {ids, tensor({3, 0, 10, 9, 1}, int64)}}), ValueError,
                       "label value of 10", "[0, 10)", "[[node SparseSoftmaxCrossEntropyWithLogits");
}

BOOST_AUTO_TEST_CASE(l2_loss_and_in_top_k_graph) {
  Graph g;
  auto scope = g.as_default();
  Tensor w = placeholder(float32, {-1, 3});
  Tensor l2 = nn::l2_loss(w);
  BOOST_TEST(l2.shape().str() == "[]");
  BOOST_TEST(type_of(l2) == "L2Loss");
  TF_CHECK_THROWS_WITH(nn::l2_loss(placeholder(int32, {2})), DTypeError, "l2_loss", "int32");

  Tensor pred = placeholder(float32, {-1, 10}), target = placeholder(int32, {-1});
  Tensor hit = nn::in_top_k(pred, target, 3);
  BOOST_TEST(hit.shape().str() == "[?]");
  BOOST_TEST(hit.dtype() == bool_);
  BOOST_TEST(type_of(hit) == "InTopKV2");
  BOOST_TEST(nn::in_top_k(placeholder(float32, {-1, 10}), placeholder(int64, {6}), 1).shape().str() == "[6]");
  TF_CHECK_THROWS_WITH(nn::in_top_k(placeholder(float32, {4, 10}), placeholder(int32, {5}), 1), ShapeError,
                       "in_top_k", "[4,10]", "[5]");
  TF_CHECK_THROWS_WITH(nn::in_top_k(pred, placeholder(float32, {-1}), 1), DTypeError, "in_top_k", "float32");

  Session sess(g);
  Tensor wv = uniform({4, 3}, 1), pv = uniform({6, 10}, 2), tv = tensor({0, 3, 9, 2, 2, 7}, int32);
  auto got = sess.run({l2, hit}, {{w, wv}, {pred, pv}, {target, tv}});
  check_same(got[0], nn::l2_loss(wv));
  check_same(got[1], nn::in_top_k(pv, tv, 3));
}

// ---------------------------------------------------------------------------------------- dropout

BOOST_AUTO_TEST_CASE(dropout_graph_seeded_runs_match_eager) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 100}, "x");
  Tensor keep_prob = placeholder(float32, {}, "keep_prob");
  Generator graph_gen(42), eager_gen(42);
  Tensor y = nn::dropout(x, keep_prob, &graph_gen);
  BOOST_TEST(y.shape().str() == "[?,100]");
  BOOST_TEST(type_of(y) == "Dropout");
  BOOST_TEST(y.impl()->node->inputs().size() == 2u);
  Tensor y_fixed = nn::dropout(x, 0.5, &graph_gen);
  BOOST_TEST(type_of(y_fixed) == "Dropout");
  BOOST_TEST(nn::dropout(x, 1.0).is_same(x));  // as TensorFlow 1.x: keep_prob 1 is no op at all

  Session sess(g);
  Tensor xv = uniform({8, 100}, 1, 1, 2);
  // Each run draws a new mask from the generator, exactly as successive eager calls do.
  Tensor first = sess.run(y, {{x, xv}, {keep_prob, scalar(0.5)}});
  check_same(first, nn::dropout(xv, 0.5, &eager_gen));
  Tensor second = sess.run(y, {{x, xv}, {keep_prob, scalar(0.5)}});
  check_same(second, nn::dropout(xv, 0.5, &eager_gen));
  BOOST_TEST(first.to_vector<double>() != second.to_vector<double>());
  check_same(sess.run(y_fixed, {{x, xv}}), nn::dropout(xv, 0.5, &eager_gen));
  check_same(sess.run(y, {{x, xv}, {keep_prob, scalar(0.25)}}), nn::dropout(xv, 0.25, &eager_gen));
  // Evaluation feeds keep_prob 1: the input unchanged (and no draw).
  check_same(sess.run(y, {{x, xv}, {keep_prob, scalar(1.0)}}), xv);
  check_same(sess.run(y, {{x, xv}, {keep_prob, scalar(0.5)}}), nn::dropout(xv, 0.5, &eager_gen));
  // The range check happens when the node runs, with the eager message.
  TF_CHECK_THROWS_WITH(sess.run(y, {{x, xv}, {keep_prob, scalar(0.0)}}), ValueError,
                       "dropout: keep_prob must be in (0, 1], got 0", "[[node Dropout (Dropout)]]");
  TF_CHECK_THROWS_WITH(sess.run(y, {{x, xv}, {keep_prob, scalar(1.5)}}), ValueError,
                       "keep_prob must be in (0, 1], got 1.5");
}

BOOST_AUTO_TEST_CASE(dropout_graph_statistics_default_generator) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, -1});
  Tensor keep_prob = placeholder(float32, {});
  Tensor y = nn::dropout(x, keep_prob);
  Session sess(g);
  const float kp = 0.3f;
  std::vector<double> previous;
  for (int run = 0; run < 2; ++run) {
    std::vector<double> v = sess.run(y, {{x, ones({200, 100})}, {keep_prob, scalar(kp)}}).to_vector<double>();
    std::int64_t kept = 0;
    bool values_ok = true;
    for (double e : v) {
      if (e != 0.0) {
        ++kept;
        values_ok = values_ok && static_cast<float>(e) == 1.0f / kp;
      }
    }
    BOOST_TEST(values_ok);
    // sd of the kept fraction: sqrt(0.3 * 0.7 / 2e4) = 0.0032.
    BOOST_TEST(std::abs(static_cast<double>(kept) / 20000.0 - 0.3) < 0.016);
    if (run == 1) BOOST_TEST(v != previous);  // a new mask every run
    previous = v;
  }
}

BOOST_AUTO_TEST_CASE(dropout_graph_errors) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 10});
  TF_CHECK_THROWS_WITH(nn::dropout(x, placeholder(float64, {})), DTypeError, "dropout", "float64 []",
                       "float32 [?,10]");
  TF_CHECK_THROWS_WITH(nn::dropout(x, placeholder(float32, {1})), ShapeError, "dropout", "scalar", "[1]");
  TF_CHECK_THROWS_WITH(nn::dropout(placeholder(int32, {-1, 10}), placeholder(int32, {})), DTypeError, "dropout",
                       "int32 [?,10]");
  // A keep_prob known when building is checked then.
  TF_CHECK_THROWS_WITH(nn::dropout(x, scalar(1.5)), ValueError, "dropout: keep_prob must be in (0, 1], got 1.5");
  TF_CHECK_THROWS_WITH(nn::dropout(x, 0.0), ValueError, "dropout: keep_prob must be in (0, 1], got 0");
  TF_CHECK_THROWS_WITH(nn::dropout(x, Tensor()), ValueError, "dropout", "undefined");
}

BOOST_AUTO_TEST_CASE(dropout_tensor_keep_prob_eager_matches_double) {
  Tensor x = uniform({30, 40}, 1, 1, 2);
  Generator a(5), b(5);
  check_same(nn::dropout(x, scalar(0.5), &a), nn::dropout(x, 0.5, &b));
  check_same(nn::dropout(x, scalar(0.25), &a), nn::dropout(x, 0.25, &b));  // the generators stay in step
  BOOST_TEST(nn::dropout(x, scalar(1.0), &a).is_same(x));
  check_same(nn::dropout(x, scalar(0.5), &a), nn::dropout(x, 0.5, &b));
  TF_CHECK_THROWS_WITH(nn::dropout(x, scalar(0.0)), ValueError, "dropout: keep_prob must be in (0, 1], got 0",
                       "not of dropping it");
  TF_CHECK_THROWS_WITH(nn::dropout(x, scalar(-0.5)), ValueError, "got -0.5");
  TF_CHECK_THROWS_WITH(nn::dropout(x, scalar(0.5, float64)), DTypeError, "dropout", "float64 []", "float32 [30,40]");
  // The gradient of x: the same mask over keep_prob.
  Generator c(9), d(9);
  Tensor x64 = uniform({6, 7}, 2, -1, 1, float64);
  check_same(tft::grad_of_sum([&](const Tensor& t) { return nn::dropout(t, scalar(0.4, float64), &c); }, x64),
             tft::grad_of_sum([&](const Tensor& t) { return nn::dropout(t, 0.4, &d); }, x64));
}

BOOST_AUTO_TEST_CASE(dropout_tensor_keep_prob_gradcheck) {
  // Differentiable in x and keep_prob (y = x * mask / keep_prob); each call re-seeds its
  // generator, so the finite differences see one mask.
  for (const Shape& s : std::vector<Shape>{Shape{}, Shape{1, 1}, Shape{3, 4}, Shape{2, 3, 5}}) {
    for (double kp : {0.3, 0.75}) {
      Tensor keep_prob = scalar(kp, float64);
      keep_prob.requires_grad_();
      tft::check_grad(
          [](std::span<const Tensor> t) {
            Generator gen(11);
            return nn::dropout(t[0], t[1], &gen);
          },
          {tft::rand64(s), keep_prob});
    }
  }
  // keep_prob 1 keeps everything: y = x, d_keep_prob = -sum(g * x).
  Tensor x = tft::rand64({2, 3});
  Tensor keep_prob = scalar(1.0, float64);
  keep_prob.requires_grad_();
  Tensor y = nn::dropout(x, keep_prob);
  check_same(y.detach(), x.detach());
  reduce_sum(y * 2.0).backward();
  tft::check_close(keep_prob.grad(), {-2.0 * reduce_sum(x).item()}, 1e-12);
  tft::check_close(x.grad(), std::vector<double>(6, 2.0), 1e-12);
}

BOOST_AUTO_TEST_CASE(flatten_graph) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 7, 7, 64});
  Tensor f = nn::flatten(x);
  BOOST_TEST(f.shape().str() == "[?,3136]");
  BOOST_TEST(type_of(f) == "Reshape");
  Tensor u = placeholder(float32, {5, -1, 3});
  BOOST_TEST(nn::flatten(u).shape().str() == "[5,?]");
  BOOST_TEST(nn::flatten(placeholder(float32, {-1})).shape().str() == "[?,1]");
  TF_CHECK_THROWS_WITH(nn::flatten(placeholder(float32, {})), ShapeError, "flatten", "[]");
  Session sess(g);
  Tensor xv = uniform({2, 7, 7, 64}, 1), uv = uniform({5, 2, 3}, 2);
  check_same(sess.run(f, {{x, xv}}), nn::flatten(xv));
  check_same(sess.run(nn::flatten(u), {{u, uv}}), nn::flatten(uv));
}

// ---------------------------------------------------------------------------------------- metrics

BOOST_AUTO_TEST_CASE(metrics_graph) {
  Graph g;
  auto scope = g.as_default();
  Tensor x = placeholder(float32, {-1, 5}), xi = placeholder(int32, {-1});
  Tensor zf = nn::zero_fraction(x);
  BOOST_TEST(zf.shape().str() == "[]");
  BOOST_TEST(zf.dtype() == float32);
  BOOST_TEST(type_of(zf) == "ZeroFraction");
  Tensor zfi = nn::zero_fraction(xi);

  Tensor labels = placeholder(int64, {-1}), predictions = placeholder(int64, {-1});
  Tensor cm = nn::confusion_matrix(labels, predictions, 4);
  BOOST_TEST(cm.shape().str() == "[4,4]");
  BOOST_TEST(cm.dtype() == int32);
  BOOST_TEST(type_of(cm) == "ConfusionMatrix");
  Tensor cm_inferred = nn::confusion_matrix(labels, predictions);
  BOOST_TEST(cm_inferred.shape().str() == "[?,?]");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(placeholder(float32, {-1}), predictions), DTypeError,
                       "confusion_matrix", "labels", "float32 [?]");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(labels, placeholder(int64, {-1, 2})), ShapeError, "confusion_matrix",
                       "predictions", "[?,2]");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(placeholder(int64, {3}), placeholder(int64, {4})), ShapeError,
                       "confusion_matrix", "[3]", "[4]");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(labels, predictions, -2), ValueError, "num_classes", "-2");

  Session sess(g);
  Tensor xv = relu(uniform({6, 5}, 1)), xiv = tensor({0, 1, 0, 2}, int32);
  Tensor lv = tensor({0, 1, 3, 3, 2}, int64), pv = tensor({0, 2, 3, 1, 2}, int64);
  auto got = sess.run({zf, zfi, cm, cm_inferred}, {{x, xv}, {xi, xiv}, {labels, lv}, {predictions, pv}});
  check_same(got[0], nn::zero_fraction(xv));
  check_same(got[1], nn::zero_fraction(xiv));
  check_same(got[2], nn::confusion_matrix(lv, pv, 4));
  check_same(got[3], nn::confusion_matrix(lv, pv));
  TF_CHECK_THROWS_WITH(sess.run(cm, {{labels, lv}, {predictions, tensor({0, 2, 4, 1, 2}, int64)}}), ValueError,
                       "confusion_matrix", "the value 4", "[[node ConfusionMatrix");
}

// ----------------------------------------------------------------------------------- regularizers

BOOST_AUTO_TEST_CASE(regularizers_compose_in_graph_mode) {
  Graph g;
  auto scope = g.as_default();
  Tensor w1v = uniform({3, 4}, 1), w2v = uniform({4}, 2);
  Tensor w1 = Variable(w1v, "w1"), w2 = Variable(w2v, "w2");
  Tensor l1 = nn::l1_loss({w1, w2}), l2 = nn::l2_loss({w1, w2});
  Tensor both = nn::l1_l2_regularization({w1, w2}, 0.01, 0.02);
  Tensor applied = nn::apply_regularization(nn::l1_l2_regularizer(0.1, 0.2), {w1, w2});
  for (const Tensor& t : {l1, l2, both, applied}) {
    BOOST_TEST(t.is_symbolic());
    BOOST_TEST(t.shape().str() == "[]");
    BOOST_TEST(type_of(t) == "Add");
  }
  BOOST_TEST(type_of(l2.impl()->node->inputs()[0]) == "L2Loss");
  TF_CHECK_THROWS_WITH(nn::l2_loss(std::vector<Tensor>{w1, placeholder(int32, {2})}), DTypeError, "l2_loss",
                       "parameter 1", "int32 [2]");
  Session sess(g);
  sess.run(global_variables_initializer());
  auto got = sess.run({l1, l2, both, applied});
  check_same(got[0], nn::l1_loss({w1v, w2v}));
  check_same(got[1], nn::l2_loss({w1v, w2v}));
  check_same(got[2], nn::l1_l2_regularization({w1v, w2v}, 0.01, 0.02));
  check_same(got[3], nn::apply_regularization(nn::l1_l2_regularizer(0.1, 0.2), {w1v, w2v}));
}

// --------------------------------------------------------------------------------------- together

BOOST_AUTO_TEST_CASE(lenet_forward_in_graph_mode) {
  // The seeds' CNN: conv-relu-pool twice, flatten, dense, dropout, logits, mean sparse loss.
  Graph g;
  auto scope = g.as_default();
  Tensor images = placeholder(float32, {-1, 28, 28, 1}, "images");
  Tensor labels = placeholder(int64, {-1}, "labels");
  Tensor keep_prob = placeholder(float32, {}, "keep_prob");
  Tensor w1 = uniform({5, 5, 1, 4}, 1, -0.2, 0.2), b1 = uniform({4}, 2, 0, 0.1);
  Tensor w2 = uniform({5, 5, 4, 8}, 3, -0.2, 0.2), b2 = uniform({8}, 4, 0, 0.1);
  Tensor w3 = uniform({392, 16}, 5, -0.1, 0.1), w4 = uniform({16, 10}, 6, -0.3, 0.3);
  Generator graph_gen(77), eager_gen(77);
  auto net = [&](const Tensor& x, const Tensor& kp, Generator* gen) {
    Tensor h = nn::max_pool(relu(nn::conv2d(x, w1, b1, {1, 1}, nn::Padding::Same)), {2, 2}, {2, 2},
                            nn::Padding::Same);
    h = nn::max_pool(relu(nn::conv2d(h, w2, b2, {1, 1}, nn::Padding::Same)), {2, 2}, {2, 2}, nn::Padding::Same);
    Tensor flat = nn::flatten(h);
    Tensor dense = nn::dropout(relu(matmul(flat, w3)), kp, gen);
    return matmul(dense, w4);
  };
  Tensor logits = net(images, keep_prob, &graph_gen);
  BOOST_TEST(logits.shape().str() == "[?,10]");
  Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(labels, logits));
  BOOST_TEST(loss.shape().str() == "[]");
  BOOST_TEST(g.get_tensor_by_name("Reshape:0").shape().str() == "[?,392]");

  Session sess(g);
  Tensor xv = uniform({3, 28, 28, 1}, 8, 0, 1);
  Tensor lv = tensor({1, 7, 3}, int64);
  Tensor got = sess.run(loss, {{images, xv}, {labels, lv}, {keep_prob, scalar(0.5)}});
  Tensor expected = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(lv, net(xv, scalar(0.5), &eager_gen)));
  check_same(got, expected);
}

BOOST_AUTO_TEST_CASE(gradients_flow_through_the_nn_nodes) {
  // tf.gradients through Conv2D, BiasAdd, FusedBatchNorm (training fed), MaxPool, LRN, Reshape,
  // Dropout (keep_prob fed), SparseSoftmaxCrossEntropyWithLogits and L2Loss equal eager autograd's.
  Graph g;
  auto scope = g.as_default();
  Tensor images = placeholder(float32, {-1, 8, 8, 2}, "images");
  Tensor labels = placeholder(int32, {-1}, "labels");
  Tensor keep_prob = placeholder(float32, {}, "keep_prob");
  Tensor training = placeholder(bool_, {}, "training");
  Tensor wv = uniform({3, 3, 2, 4}, 1, -0.3, 0.3), bv = uniform({4}, 2), gv = uniform({4}, 3, 0.5, 1.5),
         betav = uniform({4}, 4), dv = uniform({64, 5}, 5, -0.2, 0.2);
  Tensor w = Variable(wv, "w"), b = Variable(bv, "b"), gamma = Variable(gv, "gamma"), beta = Variable(betav, "beta"),
         dense = Variable(dv, "dense");
  Tensor mm = zeros({4}), mv = ones({4});
  Generator graph_gen(3), eager_gen(3);
  auto net = [&](const Tensor& x, const Tensor& y, const Tensor& kp, const Tensor& is_training, const Tensor& pw,
                 const Tensor& pb, const Tensor& pg, const Tensor& pbeta, const Tensor& pd, Generator* gen) {
    Tensor h = nn::conv2d(x, pw, pb, {1, 1}, nn::Padding::Same);
    h = relu(nn::batch_norm(h, pg, pbeta, mm, mv, is_training));
    h = nn::lrn(nn::max_pool(h, {2, 2}, {2, 2}, nn::Padding::Valid), 2);
    Tensor logits = matmul(nn::dropout(nn::flatten(h), kp, gen), pd);
    return reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, logits)) + nn::l2_loss(pd) * 0.01;
  };
  Tensor loss = net(images, labels, keep_prob, training, w, b, gamma, beta, dense, &graph_gen);
  BOOST_TEST(loss.shape().str() == "[]");
  std::vector<Tensor> grads = gradients({loss}, {w, b, gamma, beta, dense});
  Session sess(g);
  sess.run(global_variables_initializer());
  Tensor xv = uniform({3, 8, 8, 2}, 6), lv = tensor({0, 4, 2}, int32);
  std::vector<Tensor> fetches = grads;
  fetches.push_back(loss);
  auto got = sess.run(fetches, {{images, xv}, {labels, lv}, {keep_prob, scalar(0.75)}, {training, scalar(1, bool_)}});

  std::vector<Tensor> params{wv.clone(), bv.clone(), gv.clone(), betav.clone(), dv.clone()};
  for (Tensor& p : params) p.requires_grad_();
  Tensor eager_loss = net(xv, lv, scalar(0.75), scalar(1, bool_), params[0], params[1], params[2], params[3],
                          params[4], &eager_gen);
  std::vector<Tensor> expected = autograd::grad({eager_loss}, {params[0], params[1], params[2], params[3], params[4]});
  check_same(got[5], eager_loss.detach());
  for (std::size_t i = 0; i < expected.size(); ++i) check_same(got[i], expected[i]);
}

BOOST_AUTO_TEST_SUITE_END()
