// Scaled dot-product attention as one fused op. The forward walks the keys in blocks with an
// online softmax (FlashAttention, Dao et al. 2022): per query block it keeps the running row
// maximum, the running sum of exponentials and the unnormalised output, so the T_q x T_k scores
// exist one block at a time; it saves the output and each row's log-sum-exp. The backward
// recomputes each block's probabilities from those (FlashAttention-2's backward), again one block
// at a time. A create_graph backward writes the same gradients in ops instead (matmul, softmax),
// so they differentiate again.
#include "tapeflow/nn/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/door.h"
#include "ops/kernels.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/linalg.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow::nn {

using autograd::Args;
using autograd::DTypes;

namespace {

constexpr std::int64_t kQueryBlock = 64;
constexpr std::int64_t kKeyBlock = 256;

/// The geometry: q [..., tq, d], k [..., tk, d], v [..., tk, dv] as nb matrices each, and how
/// the mask (broadcast to [..., tq, tk]) is laid out.
struct AttentionPlan : OutputSpec {
  std::int64_t nb = 0, tq = 0, tk = 0, d = 0, dv = 0;
  double scale = 1.0;
  bool causal = false;
  // The mask: for each of the nb matrices, its first element's offset; its strides along tq and
  // tk (0 where it broadcasts).
  std::vector<std::int64_t> mask_offset;
  std::int64_t mask_row = 0, mask_col = 0;
};

using detail::dims_match;

AttentionPlan plan_attention(Args in, bool causal, std::optional<double> scale) {
  const Tensor &q = in[0], &k = in[1], &v = in[2], &mask = in[3];
  const Shape &sq = q.shape(), &sk = k.shape(), &sv = v.shape();
  auto fail = [&](const std::string& why) {
    return ShapeError(fmt::format("scaled_dot_product_attention: {}; got query {}, key {}, value {}{}", why, sq.str(),
                                  sk.str(), sv.str(), mask.defined() ? ", mask " + mask.shape().str() : ""));
  };
  if (sq.rank() < 2 || sk.rank() != sq.rank() || sv.rank() != sq.rank())
    throw fail("query, key and value must have one rank >= 2: [..., T, D]");
  const int r = sq.rank();
  for (int i = 0; i + 2 < r; ++i)
    if (!dims_match(sq[i], sk[i]) || !dims_match(sq[i], sv[i]))
      throw fail(fmt::format("query, key and value must have the same leading dimensions (dimension {} differs)", i));
  if (!dims_match(sq[r - 1], sk[r - 1]))
    throw fail("query and key must have the same last dimension D (the scores are query · keyᵀ)");
  if (!dims_match(sk[r - 2], sv[r - 2]))
    throw fail("key and value must have the same number of positions T_k (dimension -2)");
  if (scale && !(*scale > 0.0 && std::isfinite(*scale)))
    throw ValueError(fmt::format("scaled_dot_product_attention: scale must be a positive number, got {}", *scale));
  AttentionPlan p;
  p.shape = sq;
  p.shape[r - 1] = sv[r - 1];
  p.dtype = q.dtype();
  p.causal = causal;
  p.tq = sq[r - 2];
  p.tk = sk[r - 2];
  p.d = sq[r - 1];
  p.dv = sv[r - 1];
  p.scale = scale ? *scale : (p.d > 0 ? 1.0 / std::sqrt(static_cast<double>(p.d)) : 1.0);
  if (mask.defined()) {
    if (mask.dtype() != bool_ && mask.dtype() != q.dtype())
      throw DTypeError(fmt::format("scaled_dot_product_attention: the mask is {} {}; it must be bool (true: attend) "
                                   "or {} like the query (added to the scores)",
                                   dtype_name(mask.dtype()), mask.shape().str(), dtype_name(q.dtype())));
    const Shape& sm = mask.shape();
    Shape scores = sq;
    scores[r - 1] = p.tk;
    bool ok = sm.rank() <= r;
    for (int i = 0; ok && i < sm.rank(); ++i) {
      const std::int64_t m = sm[sm.rank() - 1 - i], s = scores[r - 1 - i];
      ok = m == 1 || dims_match(m, s);
    }
    if (!ok) throw fail(fmt::format("the mask must broadcast to the scores' shape {}", scores.str()));
  }
  if (!sq.is_fully_known() || !sk.is_fully_known() || !sv.is_fully_known()) return p;  // graph mode: the rule only
  p.nb = 1;
  for (int i = 0; i + 2 < r; ++i) p.nb *= sq[i];
  if (mask.defined()) {
    // Strides of the mask right-aligned against [lead..., tq, tk], 0 where it broadcasts.
    const Shape& sm = mask.shape();
    std::vector<std::int64_t> stride(static_cast<std::size_t>(r), 0);
    std::int64_t step = 1;
    for (int i = sm.rank() - 1; i >= 0; --i) {
      const int at = r - sm.rank() + i;
      stride[static_cast<std::size_t>(at)] = sm[i] == 1 ? 0 : step;
      step *= sm[i];
    }
    p.mask_row = stride[static_cast<std::size_t>(r - 2)];
    p.mask_col = stride[static_cast<std::size_t>(r - 1)];
    p.mask_offset.assign(static_cast<std::size_t>(p.nb), 0);
    for (std::int64_t b = 0; b < p.nb; ++b) {
      std::int64_t rest = b, off = 0;
      for (int i = r - 3; i >= 0; --i) {
        off += (rest % sq[i]) * stride[static_cast<std::size_t>(i)];
        rest /= sq[i];
      }
      p.mask_offset[static_cast<std::size_t>(b)] = off;
    }
  }
  return p;
}

/// The scores of query rows [i0, i0 + bi) against key rows [j0, j0 + bj) of matrix b, scaled and
/// masked (-inf where a query may not attend), into S [bi, bj].
template <class T>
void score_block(const AttentionPlan& p, const T* q, const T* k, const Tensor& mask, std::int64_t b, std::int64_t i0,
                 std::int64_t bi, std::int64_t j0, std::int64_t bj, T* S) {
  detail::gemm(q + (b * p.tq + i0) * p.d, k + (b * p.tk + j0) * p.d, S, bi, p.d, bj, false, true);
  const T scale = static_cast<T>(p.scale), minus_inf = -std::numeric_limits<T>::infinity();
  const std::int64_t off = mask.defined() ? p.mask_offset[static_cast<std::size_t>(b)] : 0;
  for (std::int64_t r = 0; r < bi; ++r) {
    T* row = S + r * bj;
    for (std::int64_t c = 0; c < bj; ++c) row[c] *= scale;
    if (p.causal)
      for (std::int64_t c = std::max<std::int64_t>(0, i0 + r + 1 - j0); c < bj; ++c) row[c] = minus_inf;
    if (!mask.defined()) continue;
    const std::int64_t at = off + (i0 + r) * p.mask_row + j0 * p.mask_col;
    if (mask.dtype() == bool_) {
      const bool* m = mask.data<bool>() + at;
      for (std::int64_t c = 0; c < bj; ++c)
        if (!m[c * p.mask_col]) row[c] = minus_inf;
    } else {
      const T* m = mask.data<T>() + at;
      for (std::int64_t c = 0; c < bj; ++c) row[c] += m[c * p.mask_col];
    }
  }
}

/// How many keys query block [i0, i0 + bi) looks at: all, or with `causal` those up to its last row.
std::int64_t keys_for(const AttentionPlan& p, std::int64_t i0, std::int64_t bi) {
  return p.causal ? std::min(p.tk, i0 + bi) : p.tk;
}

template <class T>
void attention_forward(const AttentionPlan& p, const T* q, const T* k, const T* v, const Tensor& mask, T* out,
                       T* lse) {
  const T minus_inf = -std::numeric_limits<T>::infinity();
  detail::parallel_rows(p.nb, p.tq * p.tk * (p.d + p.dv), [&](std::int64_t b0, std::int64_t b1) {
    std::vector<T> S(static_cast<std::size_t>(kQueryBlock * kKeyBlock)), m(kQueryBlock), l(kQueryBlock);
    for (std::int64_t b = b0; b < b1; ++b)
      for (std::int64_t i0 = 0; i0 < p.tq; i0 += kQueryBlock) {
        const std::int64_t bi = std::min(kQueryBlock, p.tq - i0);
        T* acc = out + (b * p.tq + i0) * p.dv;  // the unnormalised output, in place
        std::fill_n(acc, bi * p.dv, T(0));
        std::fill_n(m.begin(), bi, minus_inf);
        std::fill_n(l.begin(), bi, T(0));
        const std::int64_t kend = keys_for(p, i0, bi);
        for (std::int64_t j0 = 0; j0 < kend; j0 += kKeyBlock) {
          const std::int64_t bj = std::min(kKeyBlock, kend - j0);
          score_block(p, q, k, mask, b, i0, bi, j0, bj, S.data());
          for (std::int64_t r = 0; r < bi; ++r) {
            detail::ArrayMap<T> row(S.data() + r * bj, bj);
            const T top = std::max(m[static_cast<std::size_t>(r)], row.maxCoeff());
            if (top == minus_inf) {  // nothing to attend to yet
              row.setZero();
              continue;
            }
            const T correction = std::exp(m[static_cast<std::size_t>(r)] - top);
            row = (row - top).exp();  // Eigen's vectorized exp (exp(-inf) = 0)
            l[static_cast<std::size_t>(r)] = l[static_cast<std::size_t>(r)] * correction + row.sum();
            m[static_cast<std::size_t>(r)] = top;
            if (correction != T(1))
              for (std::int64_t c = 0; c < p.dv; ++c) acc[r * p.dv + c] *= correction;
          }
          detail::gemm(S.data(), v + (b * p.tk + j0) * p.dv, acc, bi, bj, p.dv, false, false, /*accumulate=*/true);
        }
        for (std::int64_t r = 0; r < bi; ++r) {
          const T sum = l[static_cast<std::size_t>(r)];
          // A query with no key to attend to gets zeros (and no gradient): lse = +inf.
          const T inv = sum > 0 ? T(1) / sum : T(0);
          for (std::int64_t c = 0; c < p.dv; ++c) acc[r * p.dv + c] *= inv;
          lse[b * p.tq + i0 + r] = sum > 0 ? m[static_cast<std::size_t>(r)] + std::log(sum)
                                           : std::numeric_limits<T>::infinity();
        }
      }
  });
}

/// The first-order gradients from the saved output and log-sum-exps. dmask (when not null):
/// [nb, tq, tk] receives the gradient of the scores (for a floating mask that requires grad).
template <class T>
void attention_backward(const AttentionPlan& p, const T* q, const T* k, const T* v, const Tensor& mask, const T* out,
                        const T* lse, const T* dout, T* dq, T* dk, T* dv, T* dmask) {
  detail::parallel_rows(p.nb, p.tq * p.tk * (p.d + p.dv), [&](std::int64_t b0, std::int64_t b1) {
    std::vector<T> P(static_cast<std::size_t>(kQueryBlock * kKeyBlock)), dP(P.size()), delta(kQueryBlock);
    const T scale = static_cast<T>(p.scale);
    for (std::int64_t b = b0; b < b1; ++b) {
      std::fill_n(dq + b * p.tq * p.d, p.tq * p.d, T(0));
      std::fill_n(dk + b * p.tk * p.d, p.tk * p.d, T(0));
      std::fill_n(dv + b * p.tk * p.dv, p.tk * p.dv, T(0));
      for (std::int64_t i0 = 0; i0 < p.tq; i0 += kQueryBlock) {
        const std::int64_t bi = std::min(kQueryBlock, p.tq - i0);
        const T* dO = dout + (b * p.tq + i0) * p.dv;
        const T* O = out + (b * p.tq + i0) * p.dv;
        for (std::int64_t r = 0; r < bi; ++r) {  // delta = rowsum(dO * O)
          T s = 0;
          for (std::int64_t c = 0; c < p.dv; ++c) s += dO[r * p.dv + c] * O[r * p.dv + c];
          delta[static_cast<std::size_t>(r)] = s;
        }
        const std::int64_t kend = keys_for(p, i0, bi);
        for (std::int64_t j0 = 0; j0 < kend; j0 += kKeyBlock) {
          const std::int64_t bj = std::min(kKeyBlock, kend - j0);
          score_block(p, q, k, mask, b, i0, bi, j0, bj, P.data());
          for (std::int64_t r = 0; r < bi; ++r) {
            detail::ArrayMap<T> row(P.data() + r * bj, bj);
            row = (row - lse[b * p.tq + i0 + r]).exp();
          }
          const T* Vj = v + (b * p.tk + j0) * p.dv;
          detail::gemm(P.data(), dO, dv + (b * p.tk + j0) * p.dv, bj, bi, p.dv, true, false, true);  // dV += Pᵀ dO
          detail::gemm(dO, Vj, dP.data(), bi, p.dv, bj, false, true);                                 // dP = dO Vᵀ
          for (std::int64_t r = 0; r < bi; ++r)  // dS = P (dP - delta)
            for (std::int64_t c = 0; c < bj; ++c)
              dP[r * bj + c] = P[r * bj + c] * (dP[r * bj + c] - delta[static_cast<std::size_t>(r)]);
          if (dmask)
            for (std::int64_t r = 0; r < bi; ++r)
              std::copy_n(dP.data() + r * bj, bj, dmask + (b * p.tq + i0 + r) * p.tk + j0);
          for (std::size_t e = 0; e < static_cast<std::size_t>(bi * bj); ++e) dP[e] *= scale;
          detail::gemm(dP.data(), k + (b * p.tk + j0) * p.d, dq + (b * p.tq + i0) * p.d, bi, bj, p.d, false, false,
                       true);  // dQ += scale dS K
          detail::gemm(dP.data(), q + (b * p.tq + i0) * p.d, dk + (b * p.tk + j0) * p.d, bj, bi, p.d, true, false,
                       true);  // dK += scale dSᵀ Q
        }
      }
    }
  });
}

/// Where each query may attend (the causal band, a bool mask, a floating mask's entries above
/// -inf), as constants of the scores' shape: `allowed` (bool) and `any` ([..., tq, 1], 1 where a
/// query has a key to attend to, else 0). Both undefined when a query may attend everywhere.
struct Allowed {
  Tensor allowed, any;
};
template <class T>
Allowed allowed_positions(const AttentionPlan& p, const Tensor& mask) {
  if (!p.causal && !mask.defined()) return {};
  Shape scores = p.shape, rows = p.shape;
  scores[scores.rank() - 1] = p.tk;
  rows[rows.rank() - 1] = 1;
  Allowed out{Tensor::empty(scores, bool_), Tensor::empty(rows, dtype_of<T>)};
  bool* a = out.allowed.data<bool>();
  T* any = out.any.data<T>();
  for (std::int64_t b = 0; b < p.nb; ++b)
    for (std::int64_t i = 0; i < p.tq; ++i) {
      bool some = false;
      for (std::int64_t j = 0; j < p.tk; ++j) {
        bool ok = !p.causal || j <= i;
        if (ok && mask.defined()) {
          const std::int64_t at = p.mask_offset[static_cast<std::size_t>(b)] + i * p.mask_row + j * p.mask_col;
          ok = mask.dtype() == bool_ ? mask.data<bool>()[at] : mask.data<T>()[at] > -std::numeric_limits<T>::infinity();
        }
        a[(b * p.tq + i) * p.tk + j] = ok;
        some = some || ok;
      }
      any[b * p.tq + i] = some ? T(1) : T(0);
    }
  return out;
}

/// The attention probabilities in ops (softmax of the masked scores; zeros for a query with no
/// key to attend to), for the create_graph backward.
Tensor probabilities_ops(const AttentionPlan& p, const Tensor& q, const Tensor& k, const Tensor& mask) {
  Tensor s = matmul(q, k, false, true) * p.scale;
  const Allowed allowed = detail::visit_floating("scaled_dot_product_attention", q,
                                                 [&]<class T>() { return allowed_positions<T>(p, mask); });
  if (!allowed.allowed.defined()) return softmax(s, -1);
  const Tensor zero = zeros(Shape{}, s.dtype());
  // A floating mask adds where it allows (its -inf entries would make NaN gradients).
  if (mask.defined() && mask.dtype() != bool_) s = s + where(allowed.allowed, mask, zero);
  const double lowest = s.dtype() == float32 ? -3.0e38 : -1.0e300;
  const Tensor blocked = where(allowed.allowed, zero, full(Shape{}, lowest, s.dtype()));
  return softmax(s + blocked, -1) * allowed.any;
}

/// The gradients in ops (what a create_graph backward records): with P the probabilities,
/// dV = Pᵀ g, dS = P (g Vᵀ - rowsum(g Vᵀ P)), dQ = scale dS K, dK = scale dSᵀ Q, dmask = dS.
Grads attention_grad_ops(const AttentionPlan& p, const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v,
                         const Tensor& mask, bool need_q, bool need_k, bool need_v, bool need_mask) {
  const Tensor P = probabilities_ops(p, q, k, mask);
  Grads grads(4);
  if (need_v) grads[2] = matmul(P, g, true, false);
  if (need_q || need_k || need_mask) {
    const Tensor dP = matmul(g, v, false, true);
    const Tensor dS = P * (dP - reduce_sum(dP * P, {-1}, true));
    if (need_q) grads[0] = matmul(dS, k) * p.scale;
    if (need_k) grads[1] = matmul(dS, q, true, false) * p.scale;
    if (need_mask) grads[3] = sum_to(dS, mask.shape());
  }
  return grads;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& mask,
                                    bool causal, std::optional<double> scale) {
  return autograd::apply(
      {"ScaledDotProductAttention", "scaled_dot_product_attention", DTypes::Floating, "TTTo", "query,key,value,mask"},
      {query, key, value, mask}, {{"causal", causal}, {"scale", scale ? *scale : 0.0}},
      [causal, scale](Args in) { return plan_attention(in, causal, scale); },
      [](Args in, const AttentionPlan& p) {
        const Tensor &q = in[0], &k = in[1], &v = in[2], &mask = in[3];
        Tensor out = Tensor::empty(p.shape, p.dtype);
        Tensor lse = Tensor::empty(Shape{p.nb, p.tq}, p.dtype);
        detail::visit_floating("scaled_dot_product_attention", q, [&]<class T>() {
          attention_forward<T>(p, q.data<T>(), k.data<T>(), v.data<T>(), mask, out.data<T>(), lse.data<T>());
        });
        const bool need_mask = mask.defined() && mask.requires_grad();
        return autograd::with_backward(
            out, [p, q = autograd::save(q), k = autograd::save(k), v = autograd::save(v), mask = autograd::save(mask),
                  o = autograd::save_output(out), lse, need_mask](const Tensor& g) {
              auto kernel = [&] {
                Tensor dq = Tensor::empty(q.shape(), q.dtype()), dk = Tensor::empty(k.shape(), k.dtype()),
                       dv = Tensor::empty(v.shape(), v.dtype());
                Tensor dmask = need_mask ? zeros(Shape{p.nb, p.tq, p.tk}, q.dtype()) : Tensor();  // blocks the causal walk skips stay 0
                detail::visit_floating("ScaledDotProductAttentionGrad", g, [&]<class T>() {
                  attention_backward<T>(p, q->data<T>(), k->data<T>(), v->data<T>(), *mask, o->data<T>(),
                                        lse.data<T>(), g.data<T>(), dq.data<T>(), dk.data<T>(), dv.data<T>(),
                                        need_mask ? dmask.data<T>() : nullptr);
                });
                if (need_mask) {
                  Shape scores = p.shape;
                  scores[scores.rank() - 1] = p.tk;
                  dmask = sum_to(reshape(dmask, scores), mask.shape());
                }
                return Grads{q.requires_grad() ? dq : Tensor(), k.requires_grad() ? dk : Tensor(),
                             v.requires_grad() ? dv : Tensor(), dmask};
              };
              return autograd::kernel_or_ops(kernel, [&] {
                return attention_grad_ops(p, g, *q, *k, *v, *mask, q.requires_grad(), k.requires_grad(),
                                          v.requires_grad(), need_mask);
              });
            });
      });
}

}  // namespace tapeflow::nn
