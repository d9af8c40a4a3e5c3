// zero_fraction and confusion_matrix.
#include "tapeflow/nn/metrics.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/dispatch.h"
#include "core/symbolic.h"

namespace tapeflow::nn {
namespace {

/// The dtype and rank rule of confusion_matrix's labels and predictions.
void check_class_ids(const char* what, const Tensor& t) {
  detail::check_defined("confusion_matrix", t);
  if (t.dtype() != int32 && t.dtype() != int64)
    throw DTypeError(fmt::format("confusion_matrix: {} must be int32 or int64 class ids, got {} {}; take argmax of "
                                 "scores, or cast(x, int64)",
                                 what, dtype_name(t.dtype()), t.shape().str()));
  if (t.rank() != 1)
    throw ShapeError(fmt::format("confusion_matrix: {} must be 1-D [n], got {}; flatten it first (reshape(x, {{-1}}))",
                                 what, t.shape().str()));
}

}  // namespace

Tensor zero_fraction(const Tensor& x) {
  detail::check_defined("zero_fraction", x);
  if (detail::any_symbolic(x))
    return detail::graph_op("ZeroFraction", {x}, Shape{}, float32, [](detail::Args in) { return zero_fraction(in[0]); });
  const std::int64_t n = x.numel();
  std::int64_t zeros = 0;
  detail::visit_dtype(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    for (std::int64_t i = 0; i < n; ++i) zeros += p[i] == T(0);
  });
  return scalar(n == 0 ? std::numeric_limits<double>::quiet_NaN()
                       : static_cast<double>(zeros) / static_cast<double>(n),
                float32);
}

Tensor confusion_matrix(const Tensor& labels, const Tensor& predictions, std::int64_t num_classes) {
  check_class_ids("labels", labels);
  check_class_ids("predictions", predictions);
  const std::int64_t nl = labels.dim(0), np = predictions.dim(0);
  if (nl != np && nl >= 0 && np >= 0)  // an unknown (graph mode) length matches any
    throw ShapeError(fmt::format("confusion_matrix: labels {} and predictions {} must have the same length (one "
                                 "prediction per label)",
                                 labels.shape().str(), predictions.shape().str()));
  if (num_classes < -1)
    throw ValueError(fmt::format("confusion_matrix: num_classes must be >= 0 (or -1 to infer it), got {}",
                                 num_classes));
  if (detail::any_symbolic(labels, predictions))  // [?,?] when num_classes is inferred from the values
    return detail::graph_op("ConfusionMatrix", {labels, predictions}, Shape{num_classes, num_classes}, int32,
                            [num_classes](detail::Args in) { return confusion_matrix(in[0], in[1], num_classes); });
  const std::vector<std::int64_t> l = labels.to_vector<std::int64_t>(), p = predictions.to_vector<std::int64_t>();
  if (num_classes == -1) {
    num_classes = 0;
    for (std::size_t i = 0; i < l.size(); ++i) num_classes = std::max({num_classes, l[i] + 1, p[i] + 1});
  }
  for (const auto& [what, v] : {std::pair{"labels", &l}, std::pair{"predictions", &p}})
    for (std::size_t i = 0; i < v->size(); ++i)
      if ((*v)[i] < 0 || (*v)[i] >= num_classes)
        throw ValueError(fmt::format("confusion_matrix: {} contains the value {} (at position {}), outside [0, "
                                     "num_classes) with num_classes = {}",
                                     what, (*v)[i], i, num_classes));
  Tensor m = zeros(Shape{num_classes, num_classes}, int32);
  std::int32_t* pm = m.data<std::int32_t>();
  for (std::size_t i = 0; i < l.size(); ++i) ++pm[l[i] * num_classes + p[i]];
  return m;
}

}  // namespace tapeflow::nn
