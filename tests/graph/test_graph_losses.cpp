// tapeflow::losses and nn::sigmoid_cross_entropy_with_logits in graph mode: placeholders with an
// unknown batch (and unknown classes), static shapes, runs that give exactly the eager result,
// gradients (first and second order) against the eager tape, and errors at build time.
#include <functional>
#include <set>
#include <string>

#include "helpers.h"
#include "tapeflow/graph.h"
#include "tapeflow/graph/train.h"

using namespace tapeflow;
using losses::Reduction;
using tft::check_same;

namespace {

Tensor uniform(const Shape& shape, unsigned seed, double lo = -1.0, double hi = 1.0) {
  Generator gen(seed);
  return random_uniform(shape, lo, hi, float64, &gen);
}

/// The node types of the default graph.
std::set<std::string> node_types() {
  std::set<std::string> types;
  for (const auto& n : get_default_graph().nodes()) types.insert(n->type());
  return types;
}

/// A loss of (labels, predictions or logits, weights, reduction).
using LossFn = std::function<Tensor(const Tensor&, const Tensor&, const losses::Weights&, Reduction)>;

struct Named {
  std::string name;
  LossFn fn;
  double lo, hi;              // predictions / logits
  double label_lo, label_hi;  // labels
};

/// The losses of (labels, predictions) of one shape [batch, 3].
std::vector<Named> same_shape_losses() {
  return {
      {"mean_squared_error", [](auto& y, auto& p, auto& w, Reduction r) { return losses::mean_squared_error(y, p, w, r); },
       -2, 2, -2, 2},
      {"absolute_difference",
       [](auto& y, auto& p, auto& w, Reduction r) { return losses::absolute_difference(y, p, w, r); }, 0.1, 2, -1, -0.2},
      {"huber_loss", [](auto& y, auto& p, auto& w, Reduction r) { return losses::huber_loss(y, p, w, 0.5, r); }, -2, 2,
       -2, 2},
      {"log_loss", [](auto& y, auto& p, auto& w, Reduction r) { return losses::log_loss(y, p, w, 1e-7, r); }, 0.05, 0.95,
       0, 1},
      {"sigmoid_cross_entropy",
       [](auto& y, auto& p, auto& w, Reduction r) { return losses::sigmoid_cross_entropy(y, p, w, 0.1, r); }, -4, 4, 0,
       1},
      {"softmax_cross_entropy",
       [](auto& y, auto& p, auto& w, Reduction r) { return losses::softmax_cross_entropy(y, p, w, 0.1, r); }, -3, 3, 0,
       1},
      {"kl_divergence", [](auto& y, auto& p, auto& w, Reduction r) { return losses::kl_divergence(y, p, w, 1e-7, r); },
       0.05, 1, 0.05, 1},
  };
}

constexpr Reduction kReductions[] = {Reduction::NONE, Reduction::SUM, Reduction::MEAN, Reduction::SUM_OVER_BATCH_SIZE,
                                     Reduction::SUM_BY_NONZERO_WEIGHTS};

/// Whether the loss reduces the last axis (the per-example losses are [batch], not [batch, 3]).
bool per_row(const std::string& name) { return name == "softmax_cross_entropy" || name == "kl_divergence"; }

}  // namespace

BOOST_AUTO_TEST_SUITE(graph_losses)

BOOST_AUTO_TEST_CASE(every_loss_runs_as_eagerly_with_an_unknown_batch) {
  // Labels, predictions and weights are all fed; the weights broadcast along the classes ([?,1])
  // or are per example ([?]) for the losses that reduce the last axis. Batches of 4 and 1.
  for (const Named& l : same_shape_losses())
    for (Reduction r : kReductions) {
      BOOST_TEST_CONTEXT(l.name << " " << losses::reduction_name(r)) {
        Graph g;
        auto scope = g.as_default();
        Tensor y = placeholder(float64, {-1, 3}, "labels"), p = placeholder(float64, {-1, 3}, "predictions");
        Tensor w = placeholder(float64, per_row(l.name) ? Shape{-1} : Shape{-1, 1}, "weights");
        Tensor loss = l.fn(y, p, w, r);
        BOOST_TEST(loss.is_symbolic());
        const std::string shape = r != Reduction::NONE ? "[]" : per_row(l.name) ? "[?]" : "[?,3]";
        BOOST_TEST(loss.shape().str() == shape);
        Tensor by_number = l.fn(y, p, 0.5, r);  // a number as weights: a constant
        Session sess(g);
        for (std::int64_t batch : {4, 1}) {
          const Tensor yv = uniform({batch, 3}, 1, l.label_lo, l.label_hi), pv = uniform({batch, 3}, 2, l.lo, l.hi);
          // some zero weights, so that SUM_BY_NONZERO_WEIGHTS differs from SUM_OVER_BATCH_SIZE
          Tensor wv = uniform(w.rank() == 1 ? Shape{batch} : Shape{batch, 1}, 3, 0, 2);
          wv = where(less(wv, scalar(0.6, float64)), zeros({}, float64), wv);
          check_same(sess.run(loss, {{y, yv}, {p, pv}, {w, wv}}), l.fn(yv, pv, wv, r));
          check_same(sess.run(by_number, {{y, yv}, {p, pv}}), l.fn(yv, pv, 0.5, r));
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(sparse_softmax_cross_entropy_of_sequences_in_graph_mode) {
  // The language-model loss: logits [?, ?, classes], labels [?, ?], a mask [?, ?] as weights;
  // with label smoothing the number of classes may even be unknown.
  for (double ls : {0.0, 0.1}) {
    Graph g;
    auto scope = g.as_default();
    Tensor labels = placeholder(int64, {-1, -1}, "labels"), logits = placeholder(float64, {-1, -1, 5}, "logits");
    Tensor mask = placeholder(float64, {-1, -1}, "mask");
    Tensor any = placeholder(float64, {-1, -1, -1}, "any_logits");
    Tensor loss = losses::sparse_softmax_cross_entropy(labels, logits, mask, ls);
    Tensor loss_any = losses::sparse_softmax_cross_entropy(labels, any, mask, ls);
    BOOST_TEST(loss.shape().str() == "[]");
    BOOST_TEST(losses::sparse_softmax_cross_entropy(labels, logits, 1.0, ls, Reduction::NONE).shape().str() == "[?,?]");
    Session sess(g);
    const Tensor lv = tensor({{1, 4, 0}, {2, 2, 3}}, int64), xv = uniform({2, 3, 5}, 4, -2, 2);
    const Tensor mv = tensor({{1, 1, 0}, {1, 0, 0}}, float64);
    check_same(sess.run(loss, {{labels, lv}, {logits, xv}, {mask, mv}}),
               losses::sparse_softmax_cross_entropy(lv, xv, mv, ls));
    check_same(sess.run(loss_any, {{labels, lv}, {any, xv}, {mask, mv}}),
               losses::sparse_softmax_cross_entropy(lv, xv, mv, ls));
    // A label out of range is caught when the graph runs, by the op underneath.
    TF_CHECK_THROWS_WITH(sess.run(loss, {{labels, tensor({{1, 5, 0}, {2, 2, 3}}, int64)}, {logits, xv}, {mask, mv}}),
                         ValueError, "label value of 5");
  }
}

BOOST_AUTO_TEST_CASE(gradients_in_graph_mode_are_the_eager_ones) {
  // dL/dpredictions and dL/dweights through a gradients node, against the eager tape; and the
  // second order (a Hessian-vector product) for the classification losses.
  for (const Named& l : same_shape_losses()) {
    BOOST_TEST_CONTEXT(l.name) {
      Graph g;
      auto scope = g.as_default();
      Tensor y = placeholder(float64, {-1, 3}, "labels"), p = placeholder(float64, {-1, 3}, "predictions");
      Tensor w = placeholder(float64, per_row(l.name) ? Shape{-1} : Shape{-1, 1}, "weights");
      Tensor v = placeholder(float64, {-1, 3}, "v");
      Tensor loss = l.fn(y, p, w, Reduction::MEAN);
      auto first = gradients({loss}, {p, w});
      Tensor hvp = gradients({reduce_sum(first[0] * v)}, {p})[0];
      Session sess(g);
      const Tensor yv = uniform({4, 3}, 1, l.label_lo, l.label_hi), pv = uniform({4, 3}, 2, l.lo, l.hi);
      const Tensor wv = uniform(w.rank() == 1 ? Shape{4} : Shape{4, 1}, 3, 0.5, 2), vv = uniform({4, 3}, 5);
      auto out = sess.run({first[0], first[1], hvp}, {{y, yv}, {p, pv}, {w, wv}, {v, vv}});

      Tensor pe = pv.clone().requires_grad_(), we = wv.clone().requires_grad_();
      auto eager = autograd::grad({l.fn(yv, pe, we, Reduction::MEAN)}, {pe, we}, {.create_graph = true});
      Tensor eager_hvp = autograd::grad({reduce_sum(eager[0] * vv)}, {pe})[0];
      tft::check_close(out[0], eager[0].to_vector<double>(), 1e-12, 1e-12);
      tft::check_close(out[1], eager[1].to_vector<double>(), 1e-12, 1e-12);
      tft::check_close(out[2], eager_hvp.to_vector<double>(), 1e-12, 1e-12);
    }
  }
}

BOOST_AUTO_TEST_CASE(nodes_are_tensorflows_ops) {
  Graph g;
  auto scope = g.as_default();
  Tensor z = placeholder(float32, {-1, 4}, "labels"), x = placeholder(float32, {-1, 4}, "logits");
  Tensor l = nn::sigmoid_cross_entropy_with_logits(z, x);
  BOOST_TEST(l.shape().str() == "[?,4]");
  BOOST_TEST(tft::type_of(l) == "Add");
  for (const char* type : {"GreaterEqual", "Select", "Neg", "Mul", "Sub", "Softplus"})
    BOOST_TEST(node_types().count(type) == 1u, type);
  // The reductions count the elements of the run-time shape with a OnesLike node.
  Tensor mean = losses::sigmoid_cross_entropy(z, x);
  BOOST_TEST(node_types().count("OnesLike") == 1u);
  Session sess(g);
  const Tensor zv = tensor({{0, 1, 1, 0}}), xv = tensor({{-1e4, 1e4, 0, 3}});
  check_same(sess.run(l, {{z, zv}, {x, xv}}), nn::sigmoid_cross_entropy_with_logits(zv, xv));
  check_same(sess.run(mean, {{z, zv}, {x, xv}}), losses::sigmoid_cross_entropy(zv, xv));
}

BOOST_AUTO_TEST_CASE(errors_at_build_time_name_the_loss_and_shapes) {
  Graph g;
  auto scope = g.as_default();
  Tensor y = placeholder(float32, {-1, 3}, "labels"), p4 = placeholder(float32, {-1, 4}, "predictions");
  TF_CHECK_THROWS_WITH(losses::mean_squared_error(y, p4), ShapeError,
                       "mean_squared_error: labels [?,3] and predictions [?,4] must have the same shape");
  // Unknown dimensions match any: [?,?] against [?,3] builds.
  Tensor any = placeholder(float32, {-1, -1}, "any");
  BOOST_TEST(losses::mean_squared_error(any, y, 1.0, Reduction::NONE).shape().str() == "[?,3]");
  TF_CHECK_THROWS_WITH(losses::absolute_difference(y, y, placeholder(float32, {-1}, "w")), ShapeError,
                       "absolute_difference: weights [?] cannot be broadcast to the losses [?,3]",
                       "reshape the weights to [?,1]");
  TF_CHECK_THROWS_WITH(losses::huber_loss(y, y, placeholder(float32, {-1, 2}, "w2")), ShapeError, "weights [?,2]",
                       "losses [?,3]");
  TF_CHECK_THROWS_WITH(losses::softmax_cross_entropy(any, any, 1.0, 0.1), ShapeError,
                       "softmax_cross_entropy: label_smoothing divides by the number of classes",
                       "logits [?,?] and onehot_labels [?,?]", "give the placeholder a known number of classes");
  TF_CHECK_THROWS_WITH(losses::sparse_softmax_cross_entropy(placeholder(int64, {-1, 2}, "ids"), p4), ShapeError,
                       "sparse_softmax_cross_entropy: labels [?,2] must have the shape of logits [?,4] without its "
                       "last dimension ([?])");
  TF_CHECK_THROWS_WITH(losses::sigmoid_cross_entropy(y, placeholder(int32, {-1, 3}, "int_logits")), DTypeError,
                       "sigmoid_cross_entropy: logits must be float32 or float64, got int32 [?,3]");
}

BOOST_AUTO_TEST_SUITE_END()
