#include "tapeflow/ops/linalg.h"

#include "autograd/door.h"
#include "ops/kernels.h"

namespace tapeflow {

using autograd::Args;
using detail::gemm;

namespace {

/// [..., m, k] x [..., k, n] -> [..., m, n], with what the kernel needs.
struct MatMulPlan : OutputSpec {
  std::int64_t m = 0, k = 0, n = 0, batch = 1;
};

MatMulPlan matmul_rule(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const Shape &sa = a.shape(), &sb = b.shape();
  if (sa.rank() < 2 || sb.rank() < 2 || sa.rank() != sb.rank())
    throw ShapeError(fmt::format("matmul: cannot multiply {} by {}: both need rank >= 2 and the same rank "
                                 "(use reshape or expand_dims)",
                                 sa.str(), sb.str()));
  const int r = sa.rank();
  MatMulPlan p;
  p.m = ta ? sa[r - 1] : sa[r - 2];
  p.k = ta ? sa[r - 2] : sa[r - 1];
  const std::int64_t kb = tb ? sb[r - 1] : sb[r - 2];
  p.n = tb ? sb[r - 2] : sb[r - 1];
  if (p.k != kb && p.k >= 0 && kb >= 0)
    throw ShapeError(fmt::format("matmul: cannot multiply {}{} by {}{}: inner dimensions {} != {}", sa.str(),
                                 ta ? "ᵀ" : "", sb.str(), tb ? "ᵀ" : "", p.k, kb));
  for (int i = 0; i < r - 2; ++i) {
    if (sa[i] != sb[i] && sa[i] >= 0 && sb[i] >= 0)
      throw ShapeError(fmt::format("matmul: batch dimensions of {} and {} differ (dimension {}: {} vs {})", sa.str(),
                                   sb.str(), i, sa[i], sb[i]));
    p.shape.push_back(sa[i] >= 0 ? sa[i] : sb[i]);  // an unknown batch dim takes the other's size
    p.batch *= sa[i];
  }
  p.shape.push_back(p.m);
  p.shape.push_back(p.n);
  p.dtype = a.dtype();
  return p;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  return autograd::apply(
      {"MatMul", "matmul", autograd::DTypes::Floating}, {a, b}, {{"transpose_a", ta}, {"transpose_b", tb}},
      [ta, tb](Args in) { return matmul_rule(in[0], in[1], ta, tb); },
      [ta, tb](Args in, const MatMulPlan& p) {
        const Tensor &a = in[0], &b = in[1];
        Tensor c = Tensor::empty(p.shape, a.dtype());
        detail::visit_floating("matmul", a, [&]<class T>() {
          const T *pa = a.data<T>(), *pb = b.data<T>();
          T* pc = c.data<T>();
          for (std::int64_t i = 0; i < p.batch; ++i)
            gemm(pa + i * p.m * p.k, pb + i * p.k * p.n, pc + i * p.m * p.n, p.m, p.k, p.n, ta, tb);
        });
        return autograd::with_backward(c, [a = autograd::save(a), b = autograd::save(b), ta, tb](const Tensor& g) {
          Tensor ga, gb;
          if (a.requires_grad()) {
            if (!ta) ga = matmul(g, *b, false, !tb);    // dA = g·Bᵀ (or g·B when B was transposed)
            else ga = matmul(*b, g, tb, true);           // dA = B·gᵀ (or Bᵀ·gᵀ)
          }
          if (b.requires_grad()) {
            if (!tb) gb = matmul(*a, g, !ta, false);     // dB = Aᵀ·g (or A·g)
            else gb = matmul(g, *a, true, ta);           // dB = gᵀ·A (or gᵀ·Aᵀ)
          }
          return Grads{ga, gb};
        });
      });
}

}  // namespace tapeflow
