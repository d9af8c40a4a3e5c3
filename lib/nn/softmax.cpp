// Softmax, log-softmax and the cross-entropy losses: fused kernels for stability and speed.
#include <cmath>

#include "core/symbolic.h"
#include "ops/kernels.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow::nn {
namespace {

struct Rows {
  std::int64_t outer, n, inner;
};

Rows rows_of(const Shape& s, int ax) {
  Rows r{1, s[ax], 1};
  for (int i = 0; i < ax; ++i) r.outer *= s[i];
  for (int i = ax + 1; i < s.rank(); ++i) r.inner *= s[i];
  return r;
}

/// log_softmax along the middle axis of [outer, n, inner].
template <class T>
void log_softmax_kernel(const T* x, T* y, Rows r) {
  auto body = [&](std::int64_t o) {
    for (std::int64_t i = 0; i < r.inner; ++i) {
      const T* px = x + o * r.n * r.inner + i;
      T* py = y + o * r.n * r.inner + i;
      T m = -std::numeric_limits<T>::infinity();
      for (std::int64_t k = 0; k < r.n; ++k) m = std::max(m, px[k * r.inner]);
      if (!std::isfinite(m)) m = 0;
      T s = 0;
      for (std::int64_t k = 0; k < r.n; ++k) s += std::exp(px[k * r.inner] - m);
      // (x - m) - log(s), not x - (m + log(s)): m + log(s) would round log(s) to the precision of m.
      const T log_s = std::log(s);
      for (std::int64_t k = 0; k < r.n; ++k) py[k * r.inner] = (px[k * r.inner] - m) - log_s;
    }
  };
  if (r.outer * r.n * r.inner >= detail::kParallelGrain) {
#pragma omp parallel for schedule(static)
    for (std::int64_t o = 0; o < r.outer; ++o) body(o);
  } else {
    for (std::int64_t o = 0; o < r.outer; ++o) body(o);
  }
}

Tensor raw_log_softmax(const char* op, const Tensor& x, int ax) {
  return detail::visit_floating(op, x, [&]<class T>() {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    log_softmax_kernel<T>(x.data<T>(), y.data<T>(), rows_of(x.shape(), ax));
    return y;
  });
}

void check_logits(const char* op, const Tensor& logits) {
  detail::check_defined(op, logits);
  if (logits.rank() < 1 || logits.dim(-1) == 0)
    throw ShapeError(fmt::format("{}: logits must have rank >= 1 and at least one class, got {}", op,
                                 logits.shape().str()));
}

/// Whether dimensions a and b can be equal: equal, or one of them unknown (graph mode).
bool dims_match(std::int64_t a, std::int64_t b) { return a == b || a < 0 || b < 0; }
/// The known one of two matching dimensions.
std::int64_t merge_dims(std::int64_t a, std::int64_t b) { return a >= 0 ? a : b; }

/// Graph mode: a node of `type` with logits' shape and dtype (softmax, log_softmax).
Tensor softmax_node(const char* type, const char* op, const Tensor& logits, detail::Replay replay) {
  detail::visit_floating(op, logits, []<class T>() {});
  return detail::graph_op(type, {logits}, logits.shape(), logits.dtype(), std::move(replay));
}

}  // namespace

Tensor log_softmax(const Tensor& logits, int axis) {
  check_logits("log_softmax", logits);
  int ax = normalize_axis("log_softmax", axis, logits.rank());
  if (detail::any_symbolic(logits))
    return softmax_node("LogSoftmax", "log_softmax", logits,
                        [axis](detail::Args in) { return log_softmax(in[0], axis); });
  Tensor y = raw_log_softmax("log_softmax", logits, ax);
  return autograd::record(y, {logits}, "LogSoftmax", [y = y.detach(), ax](const Tensor& g) {
    return Grads{g - exp(y) * reduce_sum(g, {ax}, true)};  // dx = g - softmax * sum(g)
  });
}

Tensor softmax(const Tensor& logits, int axis) {
  check_logits("softmax", logits);
  int ax = normalize_axis("softmax", axis, logits.rank());
  if (detail::any_symbolic(logits))
    return softmax_node("Softmax", "softmax", logits, [axis](detail::Args in) { return softmax(in[0], axis); });
  Tensor y = exp(raw_log_softmax("softmax", logits, ax));
  return autograd::record(y, {logits}, "Softmax", [y = y.detach(), ax](const Tensor& g) {
    return Grads{y * (g - reduce_sum(g * y, {ax}, true))};  // dx = y * (g - sum(g*y))
  });
}

Tensor softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits) {
  const char* op = "softmax_cross_entropy_with_logits";
  check_logits(op, logits);
  detail::check_defined(op, labels);
  bool same = labels.rank() == logits.rank();
  for (int i = 0; same && i < labels.rank(); ++i) same = dims_match(labels.dim(i), logits.dim(i));
  if (!same)
    throw ShapeError(fmt::format("{}: labels {} and logits {} must have the same shape [..., classes]", op,
                                 labels.shape().str(), logits.shape().str()));
  detail::check_same_dtype(op, labels, logits);
  const int ax = logits.rank() - 1;
  if (detail::any_symbolic(labels, logits)) {
    detail::visit_floating(op, logits, []<class T>() {});
    Shape out;
    for (int i = 0; i < ax; ++i) out.push_back(merge_dims(labels.dim(i), logits.dim(i)));
    return detail::graph_op("SoftmaxCrossEntropyWithLogits", {labels, logits}, out, logits.dtype(),
                            [](detail::Args in) { return softmax_cross_entropy_with_logits(in[0], in[1]); });
  }
  Tensor logp = raw_log_softmax(op, logits, ax);
  Tensor loss;
  {
    NoGradGuard no_grad;
    loss = neg(reduce_sum(labels * logp, {ax}));
  }
  return autograd::record(loss, {labels, logits}, "SoftmaxCrossEntropyWithLogits",
                          [labels, logp, ax, gl = labels.requires_grad(), gx = logits.requires_grad()](const Tensor& g) {
    Tensor ge = expand_dims(g, ax);
    Tensor d_labels, d_logits;
    if (gl) d_labels = neg(ge * logp);  // d/dlabels = -log_softmax
    // d/dlogits = softmax * sum(labels) - labels
    if (gx) d_logits = ge * (exp(logp) * reduce_sum(labels, {ax}, true) - labels);
    return Grads{d_labels, d_logits};
  });
}

Tensor sparse_softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits) {
  const char* op = "sparse_softmax_cross_entropy_with_logits";
  check_logits(op, logits);
  detail::check_defined(op, labels);
  if (labels.dtype() != int32 && labels.dtype() != int64)
    throw DTypeError(fmt::format("{}: labels must be int32 or int64 class indices, got {} {}; for one-hot or "
                                 "probability labels use softmax_cross_entropy_with_logits",
                                 op, dtype_name(labels.dtype()), labels.shape().str()));
  bool ok = labels.rank() + 1 == logits.rank();
  for (int i = 0; ok && i < labels.rank(); ++i) ok = dims_match(labels.dim(i), logits.dim(i));
  if (!ok)
    throw ShapeError(fmt::format("{}: labels {} must have the shape of logits {} without its last dimension", op,
                                 labels.shape().str(), logits.shape().str()));
  if (detail::any_symbolic(labels, logits)) {  // the label values are checked when the node runs
    detail::visit_floating(op, logits, []<class T>() {});
    Shape out;
    for (int i = 0; i < labels.rank(); ++i) out.push_back(merge_dims(labels.dim(i), logits.dim(i)));
    return detail::graph_op("SparseSoftmaxCrossEntropyWithLogits", {labels, logits}, out, logits.dtype(),
                            [](detail::Args in) { return sparse_softmax_cross_entropy_with_logits(in[0], in[1]); });
  }
  const std::int64_t classes = logits.dim(-1), rows = labels.numel();
  std::vector<std::int64_t> idx = labels.to_vector<std::int64_t>();
  for (std::size_t i = 0; i < idx.size(); ++i)
    if (idx[i] < 0 || idx[i] >= classes)
      throw ValueError(fmt::format("{}: received a label value of {} (at position {}) which is outside the valid "
                                   "range of [0, {}); logits have shape {}",
                                   op, idx[i], i, classes, logits.shape().str()));
  Tensor logp = raw_log_softmax(op, logits, logits.rank() - 1);
  Tensor loss = Tensor::empty(labels.shape(), logits.dtype());
  detail::visit_floating(op, logits, [&]<class T>() {
    const T* lp = logp.data<T>();
    T* l = loss.data<T>();
    for (std::int64_t i = 0; i < rows; ++i) l[i] = -lp[i * classes + idx[static_cast<std::size_t>(i)]];
  });
  return autograd::record(loss, {logits}, "SparseSoftmaxCrossEntropyWithLogits",
                          [logp, idx, classes, rows](const Tensor& g) {
    // d/dlogits = (softmax - one_hot(labels)) * g
    Tensor d = exp(logp);
    detail::visit_floating("SparseSoftmaxCrossEntropyGrad", d, [&]<class T>() {
      T* p = d.data<T>();
      const T* gv = g.data<T>();
      for (std::int64_t i = 0; i < rows; ++i) {
        T* row = p + i * classes;
        row[idx[static_cast<std::size_t>(i)]] -= T(1);
        for (std::int64_t k = 0; k < classes; ++k) row[k] *= gv[i];
      }
    });
    return Grads{d};
  });
}

Tensor l2_loss(const Tensor& t) {
  detail::check_defined("l2_loss", t);
  detail::visit_floating("l2_loss", t, []<class T>() { return 0; });  // an integer t would give sum * 0
  if (detail::any_symbolic(t))
    return detail::graph_op("L2Loss", {t}, Shape{}, t.dtype(), [](detail::Args in) { return l2_loss(in[0]); });
  return reduce_sum(square(t)) * 0.5;
}

Tensor in_top_k(const Tensor& predictions, const Tensor& targets, std::int64_t k) {
  detail::check_defined("in_top_k", predictions);
  detail::check_defined("in_top_k", targets);
  if (predictions.rank() != 2 || targets.rank() != 1 || !dims_match(targets.dim(0), predictions.dim(0)))
    throw ShapeError(fmt::format("in_top_k: predictions must be [batch, classes] and targets [batch], got {} and {}",
                                 predictions.shape().str(), targets.shape().str()));
  if (targets.dtype() != int32 && targets.dtype() != int64)
    throw DTypeError(fmt::format("in_top_k: targets must be int32 or int64, got {}", dtype_name(targets.dtype())));
  if (detail::any_symbolic(predictions, targets))
    return detail::graph_op("InTopKV2", {predictions, targets}, Shape{merge_dims(predictions.dim(0), targets.dim(0))},
                            bool_, [k](detail::Args in) { return in_top_k(in[0], in[1], k); });
  const std::int64_t batch = predictions.dim(0), classes = predictions.dim(1);
  std::vector<std::int64_t> t = targets.to_vector<std::int64_t>();
  std::vector<double> p = predictions.to_vector<double>();
  Tensor out = Tensor::empty(Shape{batch}, bool_);
  bool* o = out.data<bool>();
  for (std::int64_t i = 0; i < batch; ++i) {
    const std::int64_t ti = t[static_cast<std::size_t>(i)];
    const double* row = p.data() + i * classes;
    bool finite = true;
    for (std::int64_t c = 0; c < classes; ++c) finite = finite && std::isfinite(row[c]);
    if (!finite || ti < 0 || ti >= classes) {
      o[i] = false;
      continue;
    }
    std::int64_t greater = 0;
    for (std::int64_t c = 0; c < classes; ++c) greater += row[c] > row[ti];
    o[i] = greater < k;
  }
  return out;
}

}  // namespace tapeflow::nn
