#include "tapeflow/ops/linalg.h"

#include "core/symbolic.h"
#include "ops/kernels.h"

namespace tapeflow {

using detail::gemm;

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  detail::check_defined("matmul", a);
  detail::check_defined("matmul", b);
  const Shape &sa = a.shape(), &sb = b.shape();
  const int r = sa.rank();
  std::int64_t m = 0, ka = 0, n = 0, batch = 1;
  // The shape rule.
  const Shape os = detail::build_checked("MatMul", {&a, &b}, [&] {
    detail::check_same_dtype("matmul", a, b);
    if (sa.rank() < 2 || sb.rank() < 2 || sa.rank() != sb.rank())
      throw ShapeError(fmt::format("matmul: cannot multiply {} by {}: both need rank >= 2 and the same rank "
                                   "(use reshape or expand_dims)",
                                   sa.str(), sb.str()));
    m = ta ? sa[r - 1] : sa[r - 2], ka = ta ? sa[r - 2] : sa[r - 1];
    const std::int64_t kb = tb ? sb[r - 1] : sb[r - 2];
    n = tb ? sb[r - 2] : sb[r - 1];
    if (ka != kb && ka >= 0 && kb >= 0)
      throw ShapeError(fmt::format("matmul: cannot multiply {}{} by {}{}: inner dimensions {} != {}", sa.str(),
                                   ta ? "ᵀ" : "", sb.str(), tb ? "ᵀ" : "", ka, kb));
    Shape out;
    for (int i = 0; i < r - 2; ++i) {
      if (sa[i] != sb[i] && sa[i] >= 0 && sb[i] >= 0)
        throw ShapeError(fmt::format("matmul: batch dimensions of {} and {} differ (dimension {}: {} vs {})",
                                     sa.str(), sb.str(), i, sa[i], sb[i]));
      out.push_back(sa[i] >= 0 ? sa[i] : sb[i]);  // an unknown batch dim takes the other's size
      batch *= sa[i];
    }
    out.push_back(m);
    out.push_back(n);
    return out;
  });
  if (detail::any_symbolic(a, b)) {
    detail::visit_floating("matmul", a, []<class T>() {});
    return detail::graph_op("MatMul", {a, b}, os, a.dtype(),
                            [ta, tb](detail::Args in) { return matmul(in[0], in[1], ta, tb); });
  }
  Tensor c = Tensor::empty(os, a.dtype());
  detail::visit_floating("matmul", a, [&]<class T>() {
    const T *pa = a.data<T>(), *pb = b.data<T>();
    T* pc = c.data<T>();
    for (std::int64_t i = 0; i < batch; ++i) gemm(pa + i * m * ka, pb + i * ka * n, pc + i * m * n, m, ka, n, ta, tb);
  });
  return autograd::record(c, {a, b}, "MatMul", [a, b, ta, tb](const Tensor& g) {
    Tensor ga, gb;
    if (a.requires_grad()) {
      if (!ta) ga = matmul(g, b, false, !tb);    // dA = g·Bᵀ (or g·B when B was transposed)
      else ga = matmul(b, g, tb, true);           // dA = B·gᵀ (or Bᵀ·gᵀ)
    }
    if (b.requires_grad()) {
      if (!tb) gb = matmul(a, g, !ta, false);     // dB = Aᵀ·g (or A·g)
      else gb = matmul(g, a, true, ta);           // dB = gᵀ·A (or gᵀ·Aᵀ)
    }
    return Grads{ga, gb};
  });
}

}  // namespace tapeflow
