// Shape and indexing ops.
#include "tapeflow/ops/array.h"

#include <cstring>
#include <numeric>

#include "core/symbolic.h"
#include "ops/kernels.h"
#include "tapeflow/graph/graph.h"  // graph::OutputSpec of the multi-output ops (split)
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow {

using detail::Args;

namespace {

std::string list_str(const std::vector<std::int64_t>& v) {
  return fmt::format("[{}]", fmt::join(v, ","));
}
std::string list_str(const std::vector<int>& v) { return fmt::format("[{}]", fmt::join(v, ",")); }
/// A dimension for messages: "?" when unknown (graph mode).
std::string dim_str(std::int64_t d) { return d < 0 ? std::string("?") : std::to_string(d); }
/// Graph-mode shape rules: two dimensions may be the same one when equal or either is unknown.
bool compatible(std::int64_t a, std::int64_t b) { return a == b || a < 0 || b < 0; }

/// Copies the box `extent` from src (at src_begin) into dst (at dst_begin); byte-wise by dtype.
void copy_box(const Tensor& src, const std::vector<std::int64_t>& src_begin, Tensor& dst,
              const std::vector<std::int64_t>& dst_begin, const std::vector<std::int64_t>& extent) {
  const int r = static_cast<int>(extent.size());
  const std::size_t es = dtype_size(src.dtype());
  for (std::int64_t e : extent)
    if (e == 0) return;
  if (r == 0) {
    std::memcpy(dst.raw_data(), src.raw_data(), es);
    return;
  }
  auto ss = strides_of(src.shape()), ds = strides_of(dst.shape());
  const auto* s = static_cast<const unsigned char*>(src.raw_data());
  auto* d = static_cast<unsigned char*>(dst.raw_data());
  std::int64_t rows = 1;
  for (int i = 0; i < r - 1; ++i) rows *= extent[static_cast<std::size_t>(i)];
  const std::size_t row_bytes = static_cast<std::size_t>(extent.back()) * es;
  for (std::int64_t rw = 0; rw < rows; ++rw) {
    std::int64_t rem = rw, so = 0, dof = 0;
    for (int i = r - 2; i >= 0; --i) {
      std::int64_t idx = rem % extent[static_cast<std::size_t>(i)];
      rem /= extent[static_cast<std::size_t>(i)];
      so += (idx + src_begin[static_cast<std::size_t>(i)]) * ss[static_cast<std::size_t>(i)];
      dof += (idx + dst_begin[static_cast<std::size_t>(i)]) * ds[static_cast<std::size_t>(i)];
    }
    so += src_begin.back();
    dof += dst_begin.back();
    std::memcpy(d + static_cast<std::size_t>(dof) * es, s + static_cast<std::size_t>(so) * es, row_bytes);
  }
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  detail::check_defined("reshape", x);
  Shape target = shape;
  int infer = -1;
  std::int64_t known = 1;
  for (int i = 0; i < target.rank(); ++i) {
    if (target[i] == -1) {
      if (infer >= 0)
        throw ShapeError(fmt::format("reshape: can only infer one dimension (-1), got {} for a tensor of shape {}",
                                     shape.str(), x.shape().str()));
      infer = i;
    } else {
      known *= target[i];
    }
  }
  if (x.shape().is_fully_known()) {
    if (infer >= 0) {
      if (known == 0 || x.numel() % known != 0)
        throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} ({} elements) into {}",
                                     x.shape().str(), x.numel(), shape.str()));
      target[infer] = x.numel() / known;
    }
    if (target.numel() != x.numel())
      throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} ({} elements) into {} ({} elements)",
                                   x.shape().str(), x.numel(), target.str(), target.numel()));
  } else {
    // Graph mode, unknown element count (TensorFlow's rule): it is a multiple of the product of
    // the known input dims, and the -1 entry stays unknown ([?,28,28,1] -> {-1,784} is [?,784]).
    std::int64_t known_in = 1;
    for (std::int64_t d : x.shape())
      if (d >= 0) known_in *= d;
    if (infer >= 0 && known == 0)
      throw ShapeError(fmt::format("reshape: cannot infer the -1 dimension of {} for a tensor of shape {}: the other "
                                   "dimensions hold 0 elements",
                                   list_str(shape.vec()), x.shape().str()));
    if (known_in == 0) {  // a zero dimension: no elements whatever the unknown ones are
      if (infer >= 0) target[infer] = 0;
      else if (target.numel() != 0)
        throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} (0 elements) into {} ({} elements)",
                                     x.shape().str(), target.str(), target.numel()));
    } else if (infer < 0 && target.numel() % known_in != 0) {
      throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} into {} ({} elements): its number of "
                                   "elements is a multiple of {}",
                                   x.shape().str(), target.str(), target.numel(), known_in));
    }
  }
  if (detail::any_symbolic(x))
    return detail::graph_op("Reshape", {x}, target, x.dtype(), [shape](Args in) { return reshape(in[0], shape); });
  if (target == x.shape()) return x;
  auto impl = std::make_shared<detail::TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->shape = target;
  impl->dtype = x.dtype();
  return autograd::record(Tensor(std::move(impl)), {x}, "Reshape",
                          [s = x.shape()](const Tensor& g) { return Grads{reshape(g, s)}; });
}

Tensor transpose(const Tensor& x, const std::vector<int>& perm_in) {
  detail::check_defined("transpose", x);
  const int r = x.rank();
  std::vector<int> perm = perm_in;
  if (perm.empty()) {
    perm.resize(static_cast<std::size_t>(r));
    for (int i = 0; i < r; ++i) perm[static_cast<std::size_t>(i)] = r - 1 - i;
  }
  if (static_cast<int>(perm.size()) != r)
    throw ShapeError(fmt::format("transpose: perm {} has {} entries for a tensor of shape {} (rank {})", list_str(perm),
                                 perm.size(), x.shape().str(), r));
  std::vector<bool> seen(static_cast<std::size_t>(r), false);
  for (int& p : perm) {
    p = normalize_axis("transpose", p, r);
    if (seen[static_cast<std::size_t>(p)])
      throw ValueError(fmt::format("transpose: perm {} is not a permutation of 0..{}", list_str(perm_in), r - 1));
    seen[static_cast<std::size_t>(p)] = true;
  }
  Shape os;
  for (int p : perm) os.push_back(x.shape()[p]);
  if (detail::any_symbolic(x))
    return detail::graph_op("Transpose", {x}, os, x.dtype(), [perm](Args in) { return transpose(in[0], perm); });
  Tensor out = Tensor::empty(os, x.dtype());
  auto is = strides_of(x.shape());
  std::array<std::int64_t, Shape::kMaxRank> src_st{};  // source stride of each output dim
  for (int i = 0; i < r; ++i) src_st[static_cast<std::size_t>(i)] = is[static_cast<std::size_t>(perm[static_cast<std::size_t>(i)])];
  detail::visit_dtype(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    T* o = out.data<T>();
    if (r == 2) {
      using M = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      if (perm[0] == 1) {
        Eigen::Map<M>(o, os[0], os[1]) = Eigen::Map<const M>(p, x.shape()[0], x.shape()[1]).transpose();
      } else {
        std::memcpy(o, p, x.nbytes());
      }
      return;
    }
    const std::int64_t n = out.numel();
    if (n == 0) return;
    const std::int64_t inner = r ? os[r - 1] : 1, inner_st = r ? src_st[static_cast<std::size_t>(r - 1)] : 1;
    for (std::int64_t row = 0; row < n / inner; ++row) {
      std::int64_t rem = row, off = 0;
      for (int d = r - 2; d >= 0; --d) {
        off += (rem % os[d]) * src_st[static_cast<std::size_t>(d)];
        rem /= os[d];
      }
      T* dst = o + row * inner;
      for (std::int64_t j = 0; j < inner; ++j) dst[j] = p[off + j * inner_st];
    }
  });
  std::vector<int> inverse(static_cast<std::size_t>(r));
  for (int i = 0; i < r; ++i) inverse[static_cast<std::size_t>(perm[static_cast<std::size_t>(i)])] = i;
  return autograd::record(out, {x}, "Transpose", [inverse](const Tensor& g) { return Grads{transpose(g, inverse)}; });
}

Tensor squeeze(const Tensor& x, const std::vector<int>& axes) {
  detail::check_defined("squeeze", x);
  Shape os;
  std::vector<bool> drop(static_cast<std::size_t>(x.rank()), false);
  for (int a : axes) {
    int ax = normalize_axis("squeeze", a, x.rank());
    if (x.shape()[ax] != 1 && x.shape()[ax] >= 0)  // an unknown dim is checked when the graph runs
      throw ShapeError(fmt::format("squeeze: cannot squeeze axis {} of shape {}: its size is {}, not 1", a,
                                   x.shape().str(), x.shape()[ax]));
    drop[static_cast<std::size_t>(ax)] = true;
  }
  if (axes.empty() && !x.shape().is_fully_known())
    throw ShapeError(fmt::format("squeeze: cannot remove every size-1 dimension of {}: whether an unknown dimension "
                                 "is 1 is only known when the graph runs; name the axes to remove (squeeze(x, {{1}}))",
                                 x.shape().str()));
  for (int i = 0; i < x.rank(); ++i)
    if (!(axes.empty() ? x.shape()[i] == 1 : drop[static_cast<std::size_t>(i)])) os.push_back(x.shape()[i]);
  if (detail::any_symbolic(x))
    return detail::graph_op("Squeeze", {x}, os, x.dtype(), [axes](Args in) { return squeeze(in[0], axes); });
  return reshape(x, os);
}

Tensor expand_dims(const Tensor& x, int axis) {
  detail::check_defined("expand_dims", x);
  int ax = normalize_axis("expand_dims", axis, x.rank() + 1);
  Shape os;
  for (int i = 0; i < x.rank(); ++i) {
    if (i == ax) os.push_back(1);
    os.push_back(x.shape()[i]);
  }
  if (ax == x.rank()) os.push_back(1);
  if (detail::any_symbolic(x))
    return detail::graph_op("ExpandDims", {x}, os, x.dtype(), [axis](Args in) { return expand_dims(in[0], axis); });
  return reshape(x, os);
}

Tensor concat(const std::vector<Tensor>& values, int axis) {
  if (values.empty()) throw ValueError("concat: needs at least one tensor");
  const Tensor& first = values[0];
  detail::check_defined("concat", first);
  const int r = first.rank();
  if (r == 0) throw ShapeError("concat: cannot concatenate scalars; use stack()");
  int ax = normalize_axis("concat", axis, r);
  Shape os = first.shape();
  os[ax] = 0;
  // Graph mode: an unknown dim takes the size of a known one of another input (`from` says
  // which, for messages); an unknown size along the axis makes the output's unknown.
  std::vector<std::size_t> from(static_cast<std::size_t>(r), 0);
  std::vector<std::int64_t> sizes;
  for (std::size_t k = 0; k < values.size(); ++k) {
    const Tensor& v = values[k];
    detail::check_defined("concat", v);
    detail::check_same_dtype("concat", first, v);
    std::size_t other = 0;
    bool ok = v.rank() == r;
    for (int i = 0; ok && i < r; ++i) {
      if (i == ax) continue;
      other = from[static_cast<std::size_t>(i)];
      ok = compatible(v.shape()[i], os[i]);
      if (ok && os[i] < 0 && v.shape()[i] >= 0) os[i] = v.shape()[i], from[static_cast<std::size_t>(i)] = k;
    }
    if (!ok)
      throw ShapeError(fmt::format("concat: along axis {}, input {} has shape {} but input {} has shape {}; all "
                                   "dimensions except axis {} must match",
                                   axis, k, v.shape().str(), other, values[other].shape().str(), axis));
    sizes.push_back(v.shape()[ax]);
    os[ax] = os[ax] < 0 || v.shape()[ax] < 0 ? -1 : os[ax] + v.shape()[ax];
  }
  if (detail::is_symbolic(values))
    return detail::graph_op("ConcatV2", values, os, first.dtype(),
                            [ax](Args in) { return concat(std::vector<Tensor>(in.begin(), in.end()), ax); });
  Tensor out = Tensor::empty(os, first.dtype());
  std::vector<std::int64_t> zero(static_cast<std::size_t>(r), 0), at(static_cast<std::size_t>(r), 0);
  for (const Tensor& v : values) {
    copy_box(v, zero, out, at, v.shape().vec());
    at[static_cast<std::size_t>(ax)] += v.shape()[ax];
  }
  return autograd::record(out, values, "ConcatV2", [sizes, ax](const Tensor& g) { return Grads(split(g, sizes, ax)); });
}

Tensor stack(const std::vector<Tensor>& values, int axis) {
  if (values.empty()) throw ValueError("stack: needs at least one tensor");
  for (const Tensor& v : values) detail::check_defined("stack", v);
  const int r = values[0].rank();
  int ax = normalize_axis("stack", axis, r + 1);
  Shape merged = values[0].shape();  // graph mode: unknown dims take a known size of another input
  std::vector<std::size_t> from(static_cast<std::size_t>(r), 0);
  for (std::size_t k = 0; k < values.size(); ++k) {
    const Shape& s = values[k].shape();
    std::size_t other = 0;
    bool ok = s.rank() == r;
    for (int i = 0; ok && i < r; ++i) {
      other = from[static_cast<std::size_t>(i)];
      ok = compatible(s[i], merged[i]);
      if (ok && merged[i] < 0 && s[i] >= 0) merged[i] = s[i], from[static_cast<std::size_t>(i)] = k;
    }
    if (!ok)
      throw ShapeError(fmt::format("stack: input {} has shape {} but input {} has shape {}; all must be equal", k,
                                   s.str(), other, values[other].shape().str()));
    detail::check_same_dtype("stack", values[0], values[k]);
  }
  if (detail::is_symbolic(values)) {
    Shape os;
    for (int i = 0; i <= r; ++i) {
      if (i == ax) os.push_back(static_cast<std::int64_t>(values.size()));
      if (i < r) os.push_back(merged[i]);
    }
    return detail::graph_op("Pack", values, os, values[0].dtype(),
                            [ax](Args in) { return stack(std::vector<Tensor>(in.begin(), in.end()), ax); });
  }
  std::vector<Tensor> expanded;
  for (const Tensor& v : values) expanded.push_back(expand_dims(v, ax));
  return concat(expanded, ax);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes_in, int axis) {
  detail::check_defined("split", x);
  int ax = normalize_axis("split", axis, x.rank());
  std::vector<std::int64_t> sizes = sizes_in;
  std::int64_t total = 0;
  int infer = -1;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == -1 && infer < 0) infer = static_cast<int>(i);
    else if (sizes[i] < 0)
      throw ValueError(fmt::format("split: invalid sizes {} (at most one -1, others >= 0)", list_str(sizes_in)));
    else total += sizes[i];
  }
  if (x.shape()[ax] >= 0) {  // graph mode: an unknown dim is checked when the graph runs (and -1 stays ?)
    if (infer >= 0) sizes[static_cast<std::size_t>(infer)] = x.shape()[ax] - total, total = x.shape()[ax];
    if (total != x.shape()[ax] || (infer >= 0 && sizes[static_cast<std::size_t>(infer)] < 0))
      throw ShapeError(fmt::format("split: sizes {} do not add up to dimension {} (= {}) of shape {}",
                                   list_str(sizes_in), axis, x.shape()[ax], x.shape().str()));
  }
  if (detail::any_symbolic(x)) {
    std::vector<graph::OutputSpec> specs;
    for (std::int64_t s : sizes) {
      Shape os = x.shape();
      os[ax] = s;
      specs.push_back({os, x.dtype()});
    }
    return detail::graph_op("SplitV", {x}, std::move(specs),
                            [sizes_in, axis](Args in) { return split(in[0], sizes_in, axis); });
  }
  std::vector<Tensor> out;
  std::vector<std::int64_t> begin(static_cast<std::size_t>(x.rank()), 0), size(static_cast<std::size_t>(x.rank()), -1);
  for (std::int64_t s : sizes) {
    size[static_cast<std::size_t>(ax)] = s;
    out.push_back(slice(x, begin, size));
    begin[static_cast<std::size_t>(ax)] += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, int num_splits, int axis) {
  detail::check_defined("split", x);
  int ax = normalize_axis("split", axis, x.rank());
  const std::int64_t n = x.shape()[ax];
  if (num_splits <= 0 || (n >= 0 && n % num_splits != 0))
    throw ShapeError(fmt::format("split: dimension {} (= {}) of shape {} cannot be split into {} equal parts", axis,
                                 dim_str(n), x.shape().str(), num_splits));
  if (detail::any_symbolic(x)) {
    Shape os = x.shape();
    os[ax] = n < 0 ? -1 : n / num_splits;
    std::vector<graph::OutputSpec> specs(static_cast<std::size_t>(num_splits), {os, x.dtype()});
    return detail::graph_op("Split", {x}, std::move(specs),
                            [num_splits, axis](Args in) { return split(in[0], num_splits, axis); });
  }
  return split(x, std::vector<std::int64_t>(static_cast<std::size_t>(num_splits), x.shape()[ax] / num_splits), ax);
}

Tensor slice(const Tensor& x, const std::vector<std::int64_t>& begin, const std::vector<std::int64_t>& size_in) {
  detail::check_defined("slice", x);
  const int r = x.rank();
  if (static_cast<int>(begin.size()) != r || static_cast<int>(size_in.size()) != r)
    throw ShapeError(fmt::format("slice: begin {} and size {} must each have {} entries for shape {}", list_str(begin),
                                 list_str(size_in), r, x.shape().str()));
  std::vector<std::int64_t> size = size_in;
  for (int i = 0; i < r; ++i) {
    auto ui = static_cast<std::size_t>(i);
    const std::int64_t d = x.shape()[i];  // unknown in graph mode: checked when the graph runs
    const bool to_end = size[ui] == -1;
    if (to_end) size[ui] = d < 0 ? -1 : d - begin[ui];
    if (begin[ui] < 0 || (size[ui] < 0 && !(to_end && d < 0)) || (d >= 0 && begin[ui] + size[ui] > d))
      throw ShapeError(fmt::format("slice: begin {} size {} is out of bounds for shape {} (dimension {})",
                                   list_str(begin), list_str(size_in), x.shape().str(), i));
  }
  if (detail::any_symbolic(x))
    return detail::graph_op("Slice", {x}, Shape(size), x.dtype(),
                            [begin, size_in](Args in) { return slice(in[0], begin, size_in); });
  Tensor out = Tensor::empty(Shape(size), x.dtype());
  copy_box(x, begin, out, std::vector<std::int64_t>(static_cast<std::size_t>(r), 0), size);
  return autograd::record(out, {x}, "Slice", [begin, shape = x.shape()](const Tensor& g) {
    Tensor gx = zeros(shape, g.dtype());  // the gradient lands in the sliced box, zero elsewhere
    copy_box(g, std::vector<std::int64_t>(begin.size(), 0), gx, begin, g.shape().vec());
    return Grads{gx};
  });
}

Tensor gather(const Tensor& params, const Tensor& indices, int axis) {
  detail::check_defined("gather", params);
  detail::check_defined("gather", indices);
  if (indices.dtype() != int32 && indices.dtype() != int64)
    throw DTypeError(fmt::format("gather: indices must be int32 or int64, got {} {}", dtype_name(indices.dtype()),
                                 indices.shape().str()));
  int ax = normalize_axis("gather", axis, params.rank());
  const Shape& ps = params.shape();
  std::int64_t outer = 1, n = ps[ax], inner = 1;
  Shape os;
  for (int i = 0; i < ax; ++i) outer *= ps[i], os.push_back(ps[i]);
  for (int i = 0; i < indices.rank(); ++i) os.push_back(indices.shape()[i]);
  for (int i = ax + 1; i < ps.rank(); ++i) inner *= ps[i], os.push_back(ps[i]);
  auto check_range = [&](const std::vector<std::int64_t>& idx) {
    for (std::size_t k = 0; k < idx.size(); ++k)
      if (idx[k] < 0 || idx[k] >= n)
        throw ValueError(fmt::format("gather: index {} (at position {}) is out of range [0, {}) for axis {} of "
                                     "params {}",
                                     idx[k], k, n, axis, ps.str()));
  };
  if (detail::any_symbolic(params, indices)) {
    // Concrete indices into a known axis are checked now; the others when the graph runs.
    if (!detail::is_symbolic(indices) && n >= 0) check_range(indices.to_vector<std::int64_t>());
    return detail::graph_op("GatherV2", {params, indices}, os, params.dtype(),
                            [axis](Args in) { return gather(in[0], in[1], axis); });
  }
  std::vector<std::int64_t> idx = indices.to_vector<std::int64_t>();
  check_range(idx);
  Tensor out = Tensor::empty(os, params.dtype());
  const std::size_t es = dtype_size(params.dtype()), row = static_cast<std::size_t>(inner) * es;
  const auto* src = static_cast<const unsigned char*>(params.raw_data());
  auto* dst = static_cast<unsigned char*>(out.raw_data());
  const auto m = static_cast<std::int64_t>(idx.size());
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t k = 0; k < m; ++k)
      std::memcpy(dst + static_cast<std::size_t>(o * m + k) * row,
                  src + static_cast<std::size_t>(o * n + idx[static_cast<std::size_t>(k)]) * row, row);
  return autograd::record(out, {params}, "GatherV2", [idx, ps, outer, n, inner](const Tensor& g) {
    // Scatter-add the rows of g back to the positions they were gathered from.
    Tensor gp = zeros(ps, g.dtype());
    detail::visit_floating("GatherGrad", g, [&]<class T>() {
      const T* gs = g.data<T>();
      T* d = gp.data<T>();
      const auto m = static_cast<std::int64_t>(idx.size());
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t k = 0; k < m; ++k) {
          T* to = d + (o * n + idx[static_cast<std::size_t>(k)]) * inner;
          const T* from = gs + (o * m + k) * inner;
          for (std::int64_t i = 0; i < inner; ++i) to[i] += from[i];
        }
    });
    return Grads{gp};
  });
}

Tensor one_hot(const Tensor& indices, std::int64_t depth, double on_value, double off_value, DType dtype) {
  detail::check_defined("one_hot", indices);
  if (indices.dtype() != int32 && indices.dtype() != int64 && indices.dtype() != uint8)
    throw DTypeError(fmt::format("one_hot: indices must be an integer tensor, got {} {}", dtype_name(indices.dtype()),
                                 indices.shape().str()));
  if (depth < 0) throw ValueError(fmt::format("one_hot: depth must be >= 0, got {}", depth));
  Shape os = indices.shape();
  os.push_back(depth);
  if (detail::any_symbolic(indices))
    return detail::graph_op("OneHot", {indices}, os, dtype, [depth, on_value, off_value, dtype](Args in) {
      return one_hot(in[0], depth, on_value, off_value, dtype);
    });
  Tensor out = full(os, off_value, dtype);
  std::vector<std::int64_t> idx = indices.to_vector<std::int64_t>();
  detail::visit_dtype(dtype, [&]<class T>() {
    T* o = out.data<T>();
    for (std::size_t k = 0; k < idx.size(); ++k)
      if (idx[k] >= 0 && idx[k] < depth) o[static_cast<std::int64_t>(k) * depth + idx[k]] = static_cast<T>(on_value);
  });
  return out;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  detail::check_defined("broadcast_to", x);
  if (!shape.is_fully_known())
    throw ShapeError(fmt::format("broadcast_to: the target shape {} of a tensor of shape {} must be fully known",
                                 shape.str(), x.shape().str()));
  if (detail::any_symbolic(x)) {
    // Each dim of x (aligned from the back) is 1, the target's, or unknown (checked when run).
    bool ok = x.rank() <= shape.rank();
    for (int i = 0; ok && i < x.rank(); ++i) {
      std::int64_t d = x.shape()[i], t = shape[shape.rank() - x.rank() + i];
      ok = d < 0 || d == 1 || d == t;
    }
    if (!ok)
      throw ShapeError(fmt::format("broadcast_to: shape {} cannot be broadcast to {}", x.shape().str(), shape.str()));
    return detail::graph_op("BroadcastTo", {x}, shape, x.dtype(),
                            [shape](Args in) { return broadcast_to(in[0], shape); });
  }
  if (x.shape() == shape) return x;
  if (x.rank() > shape.rank() || broadcast_shapes("broadcast_to", x.shape(), shape) != shape)
    throw ShapeError(fmt::format("broadcast_to: shape {} cannot be broadcast to {}", x.shape().str(), shape.str()));
  Tensor out = Tensor::empty(shape, x.dtype());
  detail::visit_dtype(x.dtype(), [&]<class T>() {
    const T* p = x.data<T>();
    detail::broadcast_loop<T, T>(p, x.shape(), p, Shape{}, out.data<T>(), shape, [](T a, T) { return a; });
  });
  return autograd::record(out, {x}, "BroadcastTo", [s = x.shape()](const Tensor& g) { return Grads{sum_to(g, s)}; });
}

Tensor tile(const Tensor& x, const std::vector<std::int64_t>& multiples) {
  detail::check_defined("tile", x);
  const int r = x.rank();
  if (static_cast<int>(multiples.size()) != r)
    throw ShapeError(fmt::format("tile: multiples {} must have {} entries for shape {}", list_str(multiples), r,
                                 x.shape().str()));
  if (2 * r > Shape::kMaxRank) throw ShapeError(fmt::format("tile: rank {} is too large (at most 4)", r));
  Shape os;
  for (int i = 0; i < r; ++i) {
    const std::int64_t m = multiples[static_cast<std::size_t>(i)], d = x.shape()[i];
    if (m < 0) throw ValueError(fmt::format("tile: multiples {} must be >= 0", list_str(multiples)));
    os.push_back(m == 0 ? 0 : d < 0 ? -1 : m * d);  // as TensorFlow: 0 * ? is 0
  }
  if (detail::any_symbolic(x))
    return detail::graph_op("Tile", {x}, os, x.dtype(), [multiples](Args in) { return tile(in[0], multiples); });
  // View x as [1, d0, 1, d1, ...], broadcast to [m0, d0, m1, d1, ...], fold back.
  Shape inter, wide;
  for (int i = 0; i < r; ++i) {
    inter.push_back(1), inter.push_back(x.shape()[i]);
    wide.push_back(multiples[static_cast<std::size_t>(i)]), wide.push_back(x.shape()[i]);
  }
  return reshape(broadcast_to(reshape(x, inter), wide), os);
}

}  // namespace tapeflow
