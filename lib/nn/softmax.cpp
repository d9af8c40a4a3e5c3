// Softmax, log-softmax and the cross-entropy losses: fused kernels for stability and speed.
#include <cmath>

#include "autograd/door.h"
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
  detail::parallel_for(r.outer, r.outer * r.n * r.inner >= detail::kParallelGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t o = b; o < e; ++o) body(o);
  });
}

Tensor raw_log_softmax(const char* op, const Tensor& x, int ax) {
  return detail::visit_floating(op, x, [&]<class T>() {
    Tensor y = Tensor::empty(x.shape(), x.dtype());
    log_softmax_kernel<T>(x.data<T>(), y.data<T>(), rows_of(x.shape(), ax));
    return y;
  });
}

void check_logits(const char* op, const Tensor& logits) {
  if (logits.rank() < 1 || logits.dim(-1) == 0)
    throw ShapeError(fmt::format("{}: logits must have rank >= 1 and at least one class, got {}", op,
                                 logits.shape().str()));
}

/// Whether dimensions a and b can be equal: equal, or one of them unknown (graph mode).
using detail::dims_match;
/// The known one of two matching dimensions.
std::int64_t merge_dims(std::int64_t a, std::int64_t b) { return a >= 0 ? a : b; }

using autograd::Args;
using autograd::DTypes;
using autograd::with_backward;

/// softmax's and log_softmax's rule: logits' shape and dtype.
auto logits_rule(const char* op, int axis) {
  return [op, axis](Args in) {
    check_logits(op, in[0]);
    (void)normalize_axis(op, axis, in[0].rank());
    return OutputSpec{in[0].shape(), in[0].dtype()};
  };
}

}  // namespace

Tensor log_softmax(const Tensor& logits, int axis) {
  return autograd::apply({"LogSoftmax", "log_softmax", DTypes::Floating, "T", "logits"}, {logits}, {{"axis", axis}},
                         logits_rule("log_softmax", axis), [axis](Args in, const OutputSpec&) {
    const int ax = normalize_axis("log_softmax", axis, in[0].rank());
    Tensor y = raw_log_softmax("log_softmax", in[0], ax);
    return with_backward(y, [y = autograd::save_output(y), ax](const Tensor& g) {
      return Grads{g - exp(autograd::saved_output(y)) * reduce_sum(g, {ax}, true)};  // dx = g - softmax * sum(g)
    });
  });
}

Tensor softmax(const Tensor& logits, int axis) {
  return autograd::apply({"Softmax", "softmax", DTypes::Floating, "T", "logits"}, {logits}, {{"axis", axis}},
                         logits_rule("softmax", axis), [axis](Args in, const OutputSpec&) {
    const int ax = normalize_axis("softmax", axis, in[0].rank());
    Tensor y = exp(raw_log_softmax("softmax", in[0], ax));
    return with_backward(y, [y = autograd::save_output(y), ax](const Tensor& g) {
      const Tensor s = autograd::saved_output(y);
      return Grads{s * (g - reduce_sum(g * s, {ax}, true))};  // dx = y * (g - sum(g*y))
    });
  });
}

Tensor softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits) {
  static constexpr const char* op = "softmax_cross_entropy_with_logits";
  return autograd::apply({"SoftmaxCrossEntropyWithLogits", op, DTypes::Floating, "T", "labels,logits"},
                         {labels, logits}, {},
                         [](Args in) {
    const Tensor &labels = in[0], &logits = in[1];
    check_logits(op, logits);
    bool same = labels.rank() == logits.rank();
    for (int i = 0; same && i < labels.rank(); ++i) same = dims_match(labels.dim(i), logits.dim(i));
    if (!same)
      throw ShapeError(fmt::format("{}: labels {} and logits {} must have the same shape [..., classes]", op,
                                   labels.shape().str(), logits.shape().str()));
    Shape out;
    for (int i = 0; i + 1 < logits.rank(); ++i) out.push_back(merge_dims(labels.dim(i), logits.dim(i)));
    return OutputSpec{out, logits.dtype()};
  },
                         [](Args in, const OutputSpec&) {
    const Tensor &labels = in[0], &logits = in[1];
    const int ax = logits.rank() - 1;
    Tensor logp = raw_log_softmax(op, logits, ax);
    Tensor loss;
    {
      NoGradGuard no_grad;
      loss = neg(reduce_sum(labels * logp, {ax}));
    }
    return with_backward(loss, [labels = autograd::save(labels), logits = autograd::save(logits), logp, ax,
                                gl = labels.requires_grad(), gx = logits.requires_grad()](const Tensor& g) {
      Tensor ge = expand_dims(g, ax);
      const Tensor logp_ = autograd::kernel_or_ops([&] { return logp; }, [&] { return log_softmax(*logits, ax); });
      Tensor d_labels, d_logits;
      if (gl) d_labels = neg(ge * logp_);  // d/dlabels = -log_softmax
      // d/dlogits = softmax * sum(labels) - labels
      if (gx) d_logits = ge * (exp(logp_) * reduce_sum(*labels, {ax}, true) - *labels);
      return Grads{d_labels, d_logits};
    });
  });
}

Tensor sparse_softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits) {
  static constexpr const char* op = "sparse_softmax_cross_entropy_with_logits";
  return autograd::apply({"SparseSoftmaxCrossEntropyWithLogits", op, DTypes::Floating, "iT", "labels,logits"},
                         {labels, logits}, {},
                         [](Args in) {
    const Tensor &labels = in[0], &logits = in[1];
    check_logits(op, logits);
    bool ok = labels.rank() + 1 == logits.rank();
    for (int i = 0; ok && i < labels.rank(); ++i) ok = dims_match(labels.dim(i), logits.dim(i));
    if (!ok)
      throw ShapeError(fmt::format("{}: labels {} must have the shape of logits {} without its last dimension", op,
                                   labels.shape().str(), logits.shape().str()));
    Shape out;
    for (int i = 0; i < labels.rank(); ++i) out.push_back(merge_dims(labels.dim(i), logits.dim(i)));
    return OutputSpec{out, logits.dtype()};
  },
                         [](Args in, const OutputSpec&) {
    const Tensor &labels = in[0], &logits = in[1];
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
    return with_backward(loss, [labels = autograd::save(labels), logits = autograd::save(logits), logp, idx, classes,
                                rows](const Tensor& g) {
      // d/dlogits = (softmax - one_hot(labels)) * g
      auto kernel = [&] {
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
        return d;
      };
      auto ops = [&] {
        const int ax = logits->rank() - 1;
        return (softmax(*logits, ax) - one_hot(*labels, classes, 1.0, 0.0, logits.dtype())) * expand_dims(g, ax);
      };
      return Grads{Tensor(), autograd::kernel_or_ops(kernel, ops)};
    });
  });
}

Tensor l2_loss(const Tensor& t) {
  // One node in graph mode (TensorFlow's L2Loss); eagerly a composite (its ops record themselves).
  return autograd::apply({"L2Loss", "l2_loss", DTypes::Floating, "T", "t"}, {t}, {},
                         [](Args in) { return OutputSpec{Shape{}, in[0].dtype()}; },
                         [](Args in, const OutputSpec&) { return reduce_sum(square(in[0])) * 0.5; });
}

Tensor in_top_k(const Tensor& predictions, const Tensor& targets, std::int64_t k) {
  return autograd::apply({"InTopKV2", "in_top_k", DTypes::Numeric, "Ti", "predictions,targets"}, {predictions, targets},
                         {{"k", k}},
                         [](Args in) {
    const Tensor &predictions = in[0], &targets = in[1];
    if (predictions.rank() != 2 || targets.rank() != 1 || !dims_match(targets.dim(0), predictions.dim(0)))
      throw ShapeError(fmt::format("in_top_k: predictions must be [batch, classes] and targets [batch], got {} and {}",
                                   predictions.shape().str(), targets.shape().str()));
    return OutputSpec{Shape{merge_dims(predictions.dim(0), targets.dim(0))}, bool_};
  },
                         [k](Args in, const OutputSpec&) {
    const Tensor &predictions = in[0], &targets = in[1];
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
  });
}

}  // namespace tapeflow::nn
