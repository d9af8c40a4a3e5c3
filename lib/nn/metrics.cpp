// zero_fraction and confusion_matrix.
#include "tapeflow/nn/metrics.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/dispatch.h"
#include "autograd/door.h"

namespace tapeflow::nn {
namespace {

/// The rank rule of confusion_matrix's labels and predictions (the door checks their dtypes).
void check_class_ids(const char* what, const Tensor& t) {
  if (t.rank() != 1)
    throw ShapeError(fmt::format("confusion_matrix: {} must be 1-D [n], got {}; flatten it first (reshape(x, {{-1}}))",
                                 what, t.shape().str()));
}

}  // namespace

Tensor zero_fraction(const Tensor& x) {
  return autograd::apply({"ZeroFraction", "zero_fraction", autograd::DTypes::Any}, {x}, {},
                         [](autograd::Args) { return OutputSpec{Shape{}, float32}; },
                         [](autograd::Args in, const OutputSpec&) {
    const Tensor& x = in[0];
    const std::int64_t n = x.numel();
    std::int64_t zeros = 0;
    detail::visit_dtype(x.dtype(), [&]<class T>() {
      const T* p = x.data<T>();
      for (std::int64_t i = 0; i < n; ++i) zeros += p[i] == T(0);
    });
    return scalar(n == 0 ? std::numeric_limits<double>::quiet_NaN()
                         : static_cast<double>(zeros) / static_cast<double>(n),
                  float32);
  });
}

Tensor confusion_matrix(const Tensor& labels, const Tensor& predictions, std::int64_t num_classes) {
  return autograd::apply(
      {"ConfusionMatrix", "confusion_matrix", autograd::DTypes::Any, "i", "labels,predictions"}, {labels, predictions},
      {{"num_classes", num_classes}},
      [num_classes](autograd::Args in) {
        if (num_classes < -1)
          throw ValueError(fmt::format("confusion_matrix: num_classes must be >= 0 (or -1 to infer it), got {}",
                                       num_classes));
        check_class_ids("labels", in[0]);
        check_class_ids("predictions", in[1]);
        const std::int64_t nl = in[0].dim(0), np = in[1].dim(0);
        if (nl != np && nl >= 0 && np >= 0)  // an unknown (graph mode) length matches any
          throw ShapeError(fmt::format("confusion_matrix: labels {} and predictions {} must have the same length "
                                       "(one prediction per label)",
                                       in[0].shape().str(), in[1].shape().str()));
        return OutputSpec{Shape{num_classes, num_classes}, int32};  // [?,?] when inferred from the values
      },
      [num_classes](autograd::Args in, const OutputSpec&) {
        const std::vector<std::int64_t> l = in[0].to_vector<std::int64_t>(), p = in[1].to_vector<std::int64_t>();
        std::int64_t n = num_classes;
        if (n == -1) {
          n = 0;
          for (std::size_t i = 0; i < l.size(); ++i) n = std::max({n, l[i] + 1, p[i] + 1});
        }
        for (const auto& [what, v] : {std::pair{"labels", &l}, std::pair{"predictions", &p}})
          for (std::size_t i = 0; i < v->size(); ++i)
            if ((*v)[i] < 0 || (*v)[i] >= n)
              throw ValueError(fmt::format("confusion_matrix: {} contains the value {} (at position {}), outside "
                                           "[0, num_classes) with num_classes = {}",
                                           what, (*v)[i], i, n));
        Tensor m = zeros(Shape{n, n}, int32);
        std::int32_t* pm = m.data<std::int32_t>();
        for (std::size_t i = 0; i < l.size(); ++i) ++pm[l[i] * n + p[i]];
        return m;
      });
}

}  // namespace tapeflow::nn
