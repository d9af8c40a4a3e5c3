// Reductions over axes, with keepdims. Multi-axis reductions fold runs of adjacent axes into one
// [outer, n, inner] pass each.
#include "tapeflow/ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "autograd/door.h"
#include "ops/kernels.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"

namespace tapeflow {

using autograd::Args;
using autograd::DTypes;
using autograd::save;
using autograd::save_output;
using autograd::with_backward;

namespace {

/// A reduction's rule: the output (`shape`, as requested) and what the kernel needs.
struct ReducePlan : OutputSpec {
  std::vector<int> axes;  // sorted, unique, normalised
  Shape keep;             // output shape with reduced axes kept as 1
  std::int64_t count = 1; // elements reduced into each output
};

ReducePlan plan_reduce(const char* op, const Tensor& x, const Axes& axes, bool keepdims) {
  ReducePlan p;
  p.dtype = x.dtype();
  const int r = x.rank();
  if (axes.empty()) {
    for (int i = 0; i < r; ++i) p.axes.push_back(i);
  } else {
    for (int a : axes) p.axes.push_back(normalize_axis(op, a, r));
    std::sort(p.axes.begin(), p.axes.end());
    if (std::adjacent_find(p.axes.begin(), p.axes.end()) != p.axes.end())
      throw ValueError(fmt::format("{}: axis listed twice for a tensor of shape {}", op, x.shape().str()));
  }
  for (int i = 0; i < r; ++i) {
    bool red = std::binary_search(p.axes.begin(), p.axes.end(), i);
    p.keep.push_back(red ? 1 : x.shape()[i]);
    if (red) p.count *= x.shape()[i];
    if (!red || keepdims) p.shape.push_back(red ? 1 : x.shape()[i]);
  }
  return p;
}

// One pass: reduces dims [first, last] of `shape` (adjacent). init/combine define the reduction.
template <class T, class Combine>
Tensor reduce_run(const Tensor& x, int first, int last, T init, Combine combine) {
  const Shape& s = x.shape();
  std::int64_t outer = 1, n = 1, inner = 1;
  for (int i = 0; i < first; ++i) outer *= s[i];
  for (int i = first; i <= last; ++i) n *= s[i];
  for (int i = last + 1; i < s.rank(); ++i) inner *= s[i];
  Shape os;
  for (int i = 0; i < s.rank(); ++i) os.push_back(i >= first && i <= last ? 1 : s[i]);
  Tensor out = Tensor::empty(os, x.dtype());
  const T* p = x.data<T>();
  T* o = out.data<T>();
  auto body = [&](std::int64_t ob) {
    T* dst = o + ob * inner;
    for (std::int64_t i = 0; i < inner; ++i) dst[i] = init;
    for (std::int64_t k = 0; k < n; ++k) {
      const T* src = p + (ob * n + k) * inner;
      for (std::int64_t i = 0; i < inner; ++i) dst[i] = combine(dst[i], src[i]);
    }
  };
  if (inner == 1) {
    // Contiguous rows: one vectorised reduction per output element.
    auto row = [&](std::int64_t ob) {
      detail::ConstArrayMap<T> src(p + ob * n, n);
      if constexpr (std::is_same_v<T, bool>) {
        T acc = init;
        for (std::int64_t k = 0; k < n; ++k) acc = combine(acc, src[k]);
        o[ob] = acc;
      } else {
        o[ob] = combine.row(src, init);
      }
    };
    detail::parallel_for(outer, outer * n >= detail::kParallelGrain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t ob = b; ob < e; ++ob) row(ob);
    });
    return out;
  }
  detail::parallel_for(outer, outer * n * inner >= detail::kParallelGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t ob = b; ob < e; ++ob) body(ob);
  });
  return out;
}

struct SumOp {
  template <class T> T operator()(T a, T b) const { return static_cast<T>(a + b); }
  template <class M, class T> T row(const M& m, T init) const { return static_cast<T>(init + m.sum()); }
};
struct MaxOp {
  template <class T> T operator()(T a, T b) const { return b > a ? b : a; }
  template <class M, class T> T row(const M& m, T init) const { return m.size() ? std::max(init, m.maxCoeff()) : init; }
};
struct MinOp {
  template <class T> T operator()(T a, T b) const { return b < a ? b : a; }
  template <class M, class T> T row(const M& m, T init) const { return m.size() ? std::min(init, m.minCoeff()) : init; }
};

// Runs of adjacent axes, reduced from the last run to the first; result has `keep` shape.
template <class T, class Op>
Tensor reduce_plan(const Tensor& x, const ReducePlan& p, T init, Op op) {
  Tensor cur = x;
  std::size_t i = p.axes.size();
  while (i > 0) {
    std::size_t j = i - 1;
    while (j > 0 && p.axes[j - 1] + 1 == p.axes[j]) --j;
    cur = reduce_run<T>(cur, p.axes[j], p.axes[i - 1], init, op);
    i = j;
  }
  if (p.axes.empty()) cur = x.clone();
  return cur;
}

Tensor raw_sum(const Tensor& x, const ReducePlan& p) {
  return detail::visit_numeric("reduce_sum", x, [&]<class T>() { return reduce_plan<T>(x, p, T(0), SumOp{}); });
}

template <class Op>
Tensor raw_extreme(const char* op, const Tensor& x, const ReducePlan& p, bool is_max, Op o) {
  if (x.numel() == 0)
    throw ValueError(fmt::format("{}: cannot reduce an empty tensor of shape {}", op, x.shape().str()));
  return detail::visit_numeric(op, x, [&]<class T>() {
    T init = is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    if constexpr (std::numeric_limits<T>::has_infinity)
      init = is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    return reduce_plan<T>(x, p, init, o);
  });
}

Tensor extreme(const char* op, const char* type, const Tensor& x, const Axes& axes, bool keepdims, bool is_max) {
  return autograd::apply({type, op}, {x}, {{"axis", axes}, {"keep_dims", keepdims}},
                         [op, axes, keepdims](Args in) { return plan_reduce(op, in[0], axes, keepdims); },
                         [op, is_max](Args in, const ReducePlan& p) {
    const Tensor& x = in[0];
    Tensor y = is_max ? raw_extreme(op, x, p, true, MaxOp{}) : raw_extreme(op, x, p, false, MinOp{});
    return with_backward(reshape(y, p.shape), [x = save(x), p, y = save_output(y)](const Tensor& g) {
      // Split the gradient evenly among the positions that attain the extreme (as TensorFlow).
      Tensor mask = cast(equal(*x, *y), g.dtype());
      Tensor ties = reduce_sum(mask, p.axes, true);
      return Grads{mask * (reshape(g, p.keep) / ties)};
    });
  });
}

}  // namespace

Tensor reduce_sum(const Tensor& x, const Axes& axes, bool keepdims) {
  return autograd::apply({"Sum", "reduce_sum"}, {x}, {{"axis", axes}, {"keep_dims", keepdims}},
                         [axes, keepdims](Args in) { return plan_reduce("reduce_sum", in[0], axes, keepdims); },
                         [](Args in, const ReducePlan& p) {
    Tensor y = reshape(raw_sum(in[0], p), p.shape);
    return with_backward(y, [keep = p.keep, shape = in[0].shape()](const Tensor& g) {
      return Grads{broadcast_to(reshape(g, keep), shape)};
    });
  });
}

Tensor reduce_mean(const Tensor& x, const Axes& axes, bool keepdims) {
  return autograd::apply({"Mean", "reduce_mean"}, {x}, {{"axis", axes}, {"keep_dims", keepdims}},
                         [axes, keepdims](Args in) { return plan_reduce("reduce_mean", in[0], axes, keepdims); },
                         [](Args in, const ReducePlan& p) {
    Tensor y = reshape(raw_sum(in[0], p), p.shape);
    if (p.count == 0) {  // the mean of no elements, as numpy, TensorFlow and PyTorch: NaN
      if (!is_floating(y.dtype()))
        throw ValueError(fmt::format("reduce_mean: the mean of no elements (x {} {}) is not an integer; cast x to "
                                     "float32 for NaN",
                                     dtype_name(in[0].dtype()), in[0].shape().str()));
      fill_(y, std::numeric_limits<double>::quiet_NaN());
    } else if (is_floating(y.dtype())) {
      scale_(y, 1.0 / static_cast<double>(p.count));
    } else {
      y = div(y, scalar(static_cast<double>(p.count), y.dtype()));  // integers truncate, as TensorFlow
    }
    return with_backward(y, [keep = p.keep, shape = in[0].shape(), n = p.count](const Tensor& g) {
      return Grads{broadcast_to(reshape(g, keep), shape) / static_cast<double>(n)};
    });
  });
}

Tensor reduce_max(const Tensor& x, const Axes& axes, bool keepdims) {
  return extreme("reduce_max", "Max", x, axes, keepdims, true);
}

Tensor reduce_min(const Tensor& x, const Axes& axes, bool keepdims) {
  return extreme("reduce_min", "Min", x, axes, keepdims, false);
}

namespace {
/// The checks of a reduction composed of other ops (as TensorFlow's), made first so that errors
/// name it rather than an op it is made of.
ReducePlan check_composite(const char* op, const Tensor& x, const Axes& axes, bool keepdims) {
  detail::check_defined(op, x);
  detail::check_floating(op, x);
  return plan_reduce(op, x, axes, keepdims);
}
}  // namespace

Tensor reduce_logsumexp(const Tensor& x, const Axes& axes, bool keepdims) {
  ReducePlan p = check_composite("reduce_logsumexp", x, axes, keepdims);
  // m + log(sum(exp(x - m))) with m = max(x) held constant: exact, and no overflow.
  Tensor m = stop_gradient(reduce_max(x, axes, true));
  Tensor infinite_m = equal(abs(m), full(Shape{}, INFINITY, x.dtype()));
  Tensor finite_m = where(infinite_m, zeros(Shape{}, x.dtype()), m);  // (m's shape may have unknown dims)
  Tensor y = log(reduce_sum(exp(x - finite_m), axes, true)) + finite_m;
  // A row whose maximum is -inf (all -inf) or +inf has that logsumexp exactly. (Eigen's SSE exp
  // returns a denormal, not 0, for -inf, which would otherwise give about -709 here.)
  y = where(infinite_m, m, y);
  return keepdims ? y : squeeze(y, p.axes);  // not reshape(p.out): two unknown dims would read as two -1
}

Tensor reduce_variance(const Tensor& x, const Axes& axes, bool keepdims) {
  check_composite("reduce_variance", x, axes, keepdims);
  return reduce_mean(square(x - reduce_mean(x, axes, true)), axes, keepdims);  // the biased estimate
}

Tensor reduce_std(const Tensor& x, const Axes& axes, bool keepdims) {
  check_composite("reduce_std", x, axes, keepdims);
  return sqrt(reduce_variance(x, axes, keepdims));
}

Tensor cumsum(const Tensor& x, int axis, bool exclusive, bool reverse) {
  struct ScanPlan : OutputSpec {
    std::int64_t outer = 1, n = 1, inner = 1;
  };
  return autograd::apply({"Cumsum", "cumsum"}, {x}, {{"axis", axis}, {"exclusive", exclusive}, {"reverse", reverse}},
                         [axis](Args in) {
    const Shape& s = in[0].shape();
    if (s.rank() == 0)
      throw ValueError(fmt::format("cumsum: needs a tensor of rank >= 1 to sum along axis {}, got a scalar; reshape "
                                   "it to [1]",
                                   axis));
    const int ax = normalize_axis("cumsum", axis, s.rank());
    ScanPlan p;
    p.shape = s;
    p.dtype = in[0].dtype();
    for (int i = 0; i < s.rank(); ++i) (i < ax ? p.outer : i == ax ? p.n : p.inner) *= s[i];
    return p;
  },
                         [axis, exclusive, reverse](Args in, const ScanPlan& p) {
    const Tensor& x = in[0];
    Tensor y = Tensor::empty(p.shape, x.dtype());
    detail::visit_numeric("cumsum", x, [&]<class T>() {
      const T* src = x.data<T>();
      T* dst = y.data<T>();
      const std::int64_t n = p.n, inner = p.inner;
      detail::parallel_rows(p.outer, n * inner, [&](std::int64_t o0, std::int64_t o1) {
        for (std::int64_t o = o0; o < o1; ++o)
          for (std::int64_t step = 0; step < n; ++step) {
            const std::int64_t k = reverse ? n - 1 - step : step;  // the row of the block written now
            T* out = dst + (o * n + k) * inner;
            if (step == 0) {
              for (std::int64_t i = 0; i < inner; ++i) out[i] = exclusive ? T(0) : src[(o * n + k) * inner + i];
              continue;
            }
            // out[k] = out[before] + x[k] (inclusive) or + x[before] (exclusive).
            const std::int64_t before = reverse ? k + 1 : k - 1;
            const T* prev = dst + (o * n + before) * inner;
            const T* add = src + (o * n + (exclusive ? before : k)) * inner;
            for (std::int64_t i = 0; i < inner; ++i) out[i] = static_cast<T>(prev[i] + add[i]);
          }
      });
    });
    // The gradient of a running sum is the running sum of the gradient the other way.
    return with_backward(y, [axis, exclusive, reverse](const Tensor& g) {
      return Grads{cumsum(g, axis, exclusive, !reverse)};
    });
  });
}

namespace {
Tensor arg_extreme(const char* type, const char* op, const Tensor& x, int axis, bool is_max) {
  struct ArgPlan : OutputSpec {
    std::int64_t outer = 1, n = 0, inner = 1;
  };
  return autograd::apply({type, op}, {x}, {{"axis", axis}, {"output_type", int64}},
                         [op, axis](Args in) {
    const Shape& s = in[0].shape();
    if (s.rank() == 0) throw ValueError(fmt::format("{}: needs a tensor of rank >= 1, got a scalar", op));
    const int ax = normalize_axis(op, axis, s.rank());
    if (s[ax] == 0) throw ValueError(fmt::format("{}: axis {} of shape {} is empty", op, axis, s.str()));
    ArgPlan p;
    p.dtype = int64;
    p.n = s[ax];
    for (int i = 0; i < s.rank(); ++i) {
      if (i < ax) p.outer *= s[i];
      if (i > ax) p.inner *= s[i];
      if (i != ax) p.shape.push_back(s[i]);
    }
    return p;
  },
                         [op, is_max](Args in, const ArgPlan& p) {
    Tensor out = Tensor::empty(p.shape, int64);
    std::int64_t* o = out.data<std::int64_t>();
    detail::visit_numeric(op, in[0], [&]<class T>() {
      const T* x = in[0].data<T>();
      for (std::int64_t ob = 0; ob < p.outer; ++ob)
        for (std::int64_t i = 0; i < p.inner; ++i) {
          std::int64_t best = 0;
          T bv = x[ob * p.n * p.inner + i];
          for (std::int64_t k = 1; k < p.n; ++k) {
            T v = x[(ob * p.n + k) * p.inner + i];
            if (is_max ? v > bv : v < bv) {
              bv = v;
              best = k;
            }
          }
          o[ob * p.inner + i] = best;
        }
    });
    return out;
  });
}
}  // namespace

Tensor argmax(const Tensor& x, int axis) { return arg_extreme("ArgMax", "argmax", x, axis, true); }
Tensor argmin(const Tensor& x, int axis) { return arg_extreme("ArgMin", "argmin", x, axis, false); }

TopK top_k(const Tensor& input, std::int64_t k, bool sorted) {
  std::vector<Tensor> out = autograd::apply({"TopKV2", "top_k"}, {input}, {{"k", k}, {"sorted", sorted}},
                                            [k](Args in) {
    const Shape& s = in[0].shape();
    if (s.rank() == 0)
      throw ValueError(fmt::format("top_k: needs a tensor of rank >= 1 (it selects along the last dimension), got a "
                                   "scalar; reshape it to [1]"));
    if (k < 0) throw ValueError(fmt::format("top_k: k must be >= 0, got {} for input {}", k, s.str()));
    const std::int64_t n = s[s.rank() - 1];
    if (n >= 0 && k > n)
      throw ValueError(fmt::format("top_k: k = {} is larger than the last dimension of input {} ({}); use k <= {}", k,
                                   s.str(), n, n));
    Shape os = s;
    os[s.rank() - 1] = k;
    return std::vector<OutputSpec>{{os, in[0].dtype()}, {os, int32}};
  },
                                            [k, sorted](Args in, const std::vector<OutputSpec>& specs) {
    const Tensor& x = in[0];
    const std::int64_t n = x.dim(-1), rows = n == 0 ? 0 : x.numel() / n;
    if (n > std::numeric_limits<std::int32_t>::max())
      throw ValueError(fmt::format("top_k: the last dimension of input {} is too long for int32 indices", x.shape().str()));
    Tensor values = Tensor::empty(specs[0].shape, x.dtype()), indices = Tensor::empty(specs[1].shape, int32);
    Tensor positions = Tensor::empty({rows * k}, int64);  // of the values in x flattened, for the gradient
    detail::visit_numeric("top_k", x, [&]<class T>() {
      const T* px = x.data<T>();
      T* pv = values.data<T>();
      std::int32_t* pi = indices.data<std::int32_t>();
      std::int64_t* pp = positions.data<std::int64_t>();
      detail::parallel_rows(rows, n, [&](std::int64_t r0, std::int64_t r1) {
        std::vector<std::int32_t> order(static_cast<std::size_t>(n));
        for (std::int64_t r = r0; r < r1; ++r) {
          const T* row = px + r * n;
          // Larger first, the lower index first among equals; NaN above everything (as torch.topk),
          // so that the order is strict and total.
          auto before = [row](std::int32_t a, std::int32_t b) {
            const T va = row[a], vb = row[b];
            if constexpr (std::is_floating_point_v<T>) {
              const bool na = std::isnan(va), nb = std::isnan(vb);
              if (na || nb) return na && nb ? a < b : na;
            }
            return va > vb || (va == vb && a < b);
          };
          std::iota(order.begin(), order.end(), 0);
          std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
          if (!sorted) std::sort(order.begin(), order.begin() + k);  // in the order they stand in x
          for (std::int64_t j = 0; j < k; ++j) {
            const std::int32_t c = order[static_cast<std::size_t>(j)];
            pv[r * k + j] = row[c];
            pi[r * k + j] = c;
            pp[r * k + j] = r * n + c;
          }
        }
      });
    });
    // The values' gradient goes back to the positions they were taken from; the indices have none.
    return with_backward(std::vector<Tensor>{values, indices},
                         [positions, rows, n, shape = x.shape()](std::span<const Tensor> g) {
      if (!g[0].defined()) return Grads{Tensor()};
      return Grads{reshape(unsorted_segment_sum(reshape(g[0], {-1}), positions, rows * n), shape)};
    });
  });
  return {out[0], out[1]};
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int lead = x.rank() - shape.rank();
  if (lead < 0)
    throw ShapeError(fmt::format("sum_to: cannot sum shape {} to the larger rank shape {}", x.shape().str(), shape.str()));
  Axes axes;
  for (int i = 0; i < x.rank(); ++i) {
    if (i < lead) axes.push_back(i);
    else if (shape[i - lead] == 1 && x.shape()[i] != 1) axes.push_back(i);
    else if (shape[i - lead] != x.shape()[i])
      throw ShapeError(fmt::format("sum_to: shape {} does not broadcast to {}", shape.str(), x.shape().str()));
  }
  return reshape(reduce_sum(x, axes, true), shape);
}

}  // namespace tapeflow
