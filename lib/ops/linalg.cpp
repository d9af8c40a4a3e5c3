// matmul (numpy's broadcasting of the batch dimensions), band_part and norm.
#include "tapeflow/ops/linalg.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/door.h"
#include "ops/kernels.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow {

using autograd::Args;
using autograd::DTypes;
using detail::gemm;

namespace {

/// [..., m, k] x [..., k, n] -> [..., m, n], the batch dimensions broadcast, with what the kernel
/// needs.
struct MatMulPlan : OutputSpec {
  std::int64_t m = 0, k = 0, n = 0, batch = 1;
  // a [..., m, k] (not transposed) times a matrix: a's batch folds into its rows, one product.
  bool fold = false;
};

MatMulPlan matmul_rule(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const Shape &sa = a.shape(), &sb = b.shape();
  if (sa.rank() < 2 || sb.rank() < 2)
    throw ShapeError(fmt::format("matmul: cannot multiply {} by {}: both need rank >= 2 (use reshape or expand_dims)",
                                 sa.str(), sb.str()));
  const int ra = sa.rank(), rb = sb.rank(), r = std::max(ra, rb);
  MatMulPlan p;
  p.m = ta ? sa[ra - 1] : sa[ra - 2];
  p.k = ta ? sa[ra - 2] : sa[ra - 1];
  const std::int64_t kb = tb ? sb[rb - 1] : sb[rb - 2];
  p.n = tb ? sb[rb - 2] : sb[rb - 1];
  if (p.k != kb && p.k >= 0 && kb >= 0)
    throw ShapeError(fmt::format("matmul: cannot multiply {}{} by {}{}: inner dimensions {} != {}", sa.str(),
                                 ta ? "ᵀ" : "", sb.str(), tb ? "ᵀ" : "", p.k, kb));
  // The batch dimensions, aligned from the back, broadcast as numpy's (an unknown one against a
  // known one other than 1 is that one).
  for (int i = 0; i < r - 2; ++i) {
    const int ia = i - (r - ra), ib = i - (r - rb);
    const std::int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    std::int64_t d;
    if (da == db || db == 1) d = da;
    else if (da == 1) d = db;
    else if (da < 0 || db < 0) d = da < 0 ? db : da;
    else
      throw ShapeError(fmt::format("matmul: batch dimensions of {} and {} cannot be broadcast (dimension {}: {} vs {}); "
                                   "each must be equal or 1",
                                   sa.str(), sb.str(), i, da, db));
    p.shape.push_back(d);
    p.batch *= d;
  }
  p.shape.push_back(p.m);
  p.shape.push_back(p.n);
  p.dtype = a.dtype();
  p.fold = ra > 2 && rb == 2 && !ta;
  return p;
}

/// Offsets (in elements) of the matrices of an operand of shape `s` (a batch of `mat`-element
/// matrices) along each batch dimension of the output `out` (the last two dims excluded): 0 along
/// the dimensions it broadcasts.
std::array<std::int64_t, Shape::kMaxRank> batch_strides(const Shape& s, const Shape& out, std::int64_t mat) {
  std::array<std::int64_t, Shape::kMaxRank> st{};
  const int nb = out.rank() - 2, lead = nb - (s.rank() - 2);
  std::int64_t stride = mat;
  for (int i = s.rank() - 3; i >= 0; --i) {
    st[static_cast<std::size_t>(i + lead)] = s[i] == 1 ? 0 : stride;
    stride *= s[i];
  }
  return st;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  auto rule = [ta, tb](Args in) { return matmul_rule(in[0], in[1], ta, tb); };
  auto forward = [ta, tb](Args in, const MatMulPlan& p) {
    const Tensor &a = in[0], &b = in[1];
    Tensor c = Tensor::empty(p.shape, a.dtype());
    detail::visit_floating("matmul", a, [&]<class T>() {
      const T *pa = a.data<T>(), *pb = b.data<T>();
      T* pc = c.data<T>();
      if (p.fold) return gemm(pa, pb, pc, p.batch * p.m, p.k, p.n, false, tb);
      if (p.batch == 1) return gemm(pa, pb, pc, p.m, p.k, p.n, ta, tb);
      const auto sta = batch_strides(a.shape(), p.shape, p.m * p.k), stb = batch_strides(b.shape(), p.shape, p.k * p.n);
      const int nb = p.shape.rank() - 2;
      for (std::int64_t q = 0; q < p.batch; ++q) {
        std::int64_t rem = q, oa = 0, ob = 0;
        for (int d = nb - 1; d >= 0; --d) {
          const std::int64_t idx = rem % p.shape[d];
          rem /= p.shape[d];
          oa += idx * sta[static_cast<std::size_t>(d)];
          ob += idx * stb[static_cast<std::size_t>(d)];
        }
        gemm(pa + oa, pb + ob, pc + q * p.m * p.n, p.m, p.k, p.n, ta, tb);
      }
    });
    return autograd::with_backward(c, [a = autograd::save(a), b = autograd::save(b), ta, tb, k = p.k,
                                       n = p.n](const Tensor& g) {
      // The products of the 2-D rule, summed over the batch dimensions that an operand broadcast.
      Tensor ga, gb;
      if (a.requires_grad()) {
        ga = !ta ? matmul(g, *b, false, !tb)   // dA = g·Bᵀ (or g·B when B was transposed)
                 : matmul(*b, g, tb, true);    // dA = B·gᵀ (or Bᵀ·gᵀ)
        ga = sum_to(ga, a.shape());
      }
      if (b.requires_grad()) {
        if (a.shape().rank() > 2 && b.shape().rank() == 2 && !ta) {
          // A batch of a's rows times one matrix: dB over all the rows at once, one product.
          Tensor a2 = reshape(*a, {-1, k}), g2 = reshape(g, {-1, n});
          gb = !tb ? matmul(a2, g2, true, false)   // dB = Aᵀ·g   [k,n]
                   : matmul(g2, a2, true, false);  // dB = gᵀ·A   [n,k]
        } else {
          gb = !tb ? matmul(*a, g, !ta, false)  // dB = Aᵀ·g (or A·g)
                   : matmul(g, *a, true, ta);   // dB = gᵀ·A (or gᵀ·Aᵀ)
          gb = sum_to(gb, b.shape());
        }
      }
      return Grads{ga, gb};
    });
  };
  // Matrices are TensorFlow's MatMul; batches its BatchMatMulV2 (whose node tf.matmul names MatMul).
  if (a.defined() && b.defined() && (a.rank() > 2 || b.rank() > 2))
    return autograd::apply({.type = "BatchMatMulV2", .name = "matmul", .t = DTypes::Floating, .node = "MatMul"}, {a, b},
                           {{"adj_x", ta}, {"adj_y", tb}}, rule, forward);
  return autograd::apply({"MatMul", "matmul", DTypes::Floating}, {a, b}, {{"transpose_a", ta}, {"transpose_b", tb}},
                         rule, forward);
}

namespace linalg {

Tensor band_part(const Tensor& input, std::int64_t num_lower, std::int64_t num_upper) {
  return autograd::apply({"MatrixBandPart", "band_part", DTypes::Any}, {input},
                         {{"num_lower", num_lower}, {"num_upper", num_upper}},
                         [num_lower, num_upper](Args in) {
    const Shape& s = in[0].shape();
    if (s.rank() < 2)
      throw ShapeError(fmt::format("band_part: input must be a matrix or a batch of them (rank >= 2), got {}; reshape "
                                   "it",
                                   s.str()));
    const std::int64_t rows = s[s.rank() - 2], cols = s[s.rank() - 1];
    if (rows >= 0 && num_lower > rows)
      throw ValueError(fmt::format("band_part: num_lower {} is more than the {} rows of input {}; give at most {}, or "
                                   "-1 to keep the whole lower triangle",
                                   num_lower, rows, s.str(), rows));
    if (cols >= 0 && num_upper > cols)
      throw ValueError(fmt::format("band_part: num_upper {} is more than the {} columns of input {}; give at most {}, "
                                   "or -1 to keep the whole upper triangle",
                                   num_upper, cols, s.str(), cols));
    return OutputSpec{s, in[0].dtype()};
  },
                         [num_lower, num_upper](Args in, const OutputSpec& s) {
    const Tensor& x = in[0];
    const std::int64_t rows = x.dim(-2), cols = x.dim(-1), mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
    Tensor out = Tensor::empty(s.shape, x.dtype());
    detail::visit_dtype(x.dtype(), [&]<class T>() {
      const T* px = x.data<T>();
      T* po = out.data<T>();
      for (std::int64_t q = 0; q < mats; ++q)
        for (std::int64_t i = 0; i < rows; ++i)
          for (std::int64_t j = 0; j < cols; ++j) {
            const std::int64_t at = (q * rows + i) * cols + j;
            const bool in_band = (num_lower < 0 || i - j <= num_lower) && (num_upper < 0 || j - i <= num_upper);
            po[at] = in_band ? px[at] : T(0);
          }
    });
    // Linear, its own adjoint: the gradient keeps the same band.
    return autograd::with_backward(out, [num_lower, num_upper](const Tensor& g) {
      return Grads{band_part(g, num_lower, num_upper)};
    });
  });
}

}  // namespace linalg

namespace {

/// tf.norm's order: "euclidean" / "fro", or a number p (1, 2, inf, any p > 0 for vectors).
struct NormOrd {
  enum Kind { Euclidean, Frobenius, P } kind = Euclidean;
  double p = 2;
  std::string str() const {
    if (kind == Euclidean) return "'euclidean'";
    if (kind == Frobenius) return "'fro'";
    return std::isinf(p) ? std::string("inf") : fmt::format("{}", p);
  }
};

Tensor norm_of(const Tensor& x, NormOrd ord, const Axes& axis, bool keepdims) {
  detail::check_defined("norm", x);
  detail::check_floating("norm", x);
  const int r = x.rank();
  if (axis.size() > 2)
    throw ValueError(fmt::format("norm: axis [{}] names {} dimensions of {}; name one (a vector norm), two (a matrix "
                                 "norm), or none (all of x as one vector)",
                                 fmt::join(axis, ","), axis.size(), x.shape().str()));
  Axes axes;
  for (int a : axis) axes.push_back(normalize_axis("norm", a, r));
  if (axes.size() == 2 && axes[0] == axes[1])
    throw ValueError(fmt::format("norm: the two axes of a matrix norm must differ, got [{},{}] for {}", axis[0], axis[1],
                                 x.shape().str()));
  if (ord.kind == NormOrd::P && !(ord.p > 0))
    throw ValueError(fmt::format("norm: ord must be > 0, got {}; use \"euclidean\", \"fro\", 1, 2, another p > 0, or "
                                 "INFINITY",
                                 ord.p));
  if (axes.size() != 2) {  // a vector norm, over `axes` (all of x when none)
    if (ord.kind == NormOrd::Frobenius)
      throw ValueError(fmt::format("norm: 'fro' is a matrix norm, but {} is normed as a vector; give two axes, or use "
                                   "\"euclidean\"",
                                   x.shape().str()));
    if (ord.kind == NormOrd::Euclidean || ord.p == 2) return sqrt(reduce_sum(square(x), axes, keepdims));
    if (ord.p == 1) return reduce_sum(abs(x), axes, keepdims);
    if (std::isinf(ord.p)) return reduce_max(abs(x), axes, keepdims);
    return pow(reduce_sum(pow(abs(x), ord.p), axes, keepdims), 1.0 / ord.p);
  }
  // A matrix norm over the rows axes[0] and the columns axes[1].
  Tensor y;
  if (ord.kind != NormOrd::P) return sqrt(reduce_sum(square(x), axes, keepdims));
  if (ord.p == 1) y = reduce_max(reduce_sum(abs(x), {axes[0]}, true), {axes[1]}, true);  // the largest column sum
  else if (std::isinf(ord.p)) y = reduce_max(reduce_sum(abs(x), {axes[1]}, true), {axes[0]}, true);  // row sum
  else
    throw ValueError(fmt::format("norm: ord {} of a matrix is not supported (ord 2 is the largest singular value); use "
                                 "\"fro\", 1 or INFINITY, or norm the rows or columns as vectors (one axis)",
                                 ord.str()));
  return keepdims ? y : squeeze(y, axes);
}

}  // namespace

Tensor norm(const Tensor& x, std::string_view ord, const Axes& axis, bool keepdims) {
  if (ord == "euclidean") return norm_of(x, {NormOrd::Euclidean}, axis, keepdims);
  if (ord == "fro") return norm_of(x, {NormOrd::Frobenius}, axis, keepdims);
  throw ValueError(fmt::format("norm: unknown ord '{}'; use \"euclidean\", \"fro\", or a number: 1, 2, another p > 0, "
                               "INFINITY",
                               ord));
}

Tensor norm(const Tensor& x, double ord, const Axes& axis, bool keepdims) {
  return norm_of(x, {NormOrd::P, ord}, axis, keepdims);
}

}  // namespace tapeflow
