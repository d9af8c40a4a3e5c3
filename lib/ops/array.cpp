// Shape and indexing ops.
#include "tapeflow/ops/array.h"

#include <cstring>
#include <numeric>

#include "ops/kernels.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow {
namespace {

std::string list_str(const std::vector<std::int64_t>& v) {
  return fmt::format("[{}]", fmt::join(v, ","));
}
std::string list_str(const std::vector<int>& v) { return fmt::format("[{}]", fmt::join(v, ",")); }

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
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} ({} elements) into {}",
                                   x.shape().str(), x.numel(), shape.str()));
    target[infer] = x.numel() / known;
  }
  if (target.numel() != x.numel())
    throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} ({} elements) into {} ({} elements)",
                                 x.shape().str(), x.numel(), target.str(), target.numel()));
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
    if (x.shape()[ax] != 1)
      throw ShapeError(fmt::format("squeeze: cannot squeeze axis {} of shape {}: its size is {}, not 1", a,
                                   x.shape().str(), x.shape()[ax]));
    drop[static_cast<std::size_t>(ax)] = true;
  }
  for (int i = 0; i < x.rank(); ++i)
    if (!(axes.empty() ? x.shape()[i] == 1 : drop[static_cast<std::size_t>(i)])) os.push_back(x.shape()[i]);
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
  std::vector<std::int64_t> sizes;
  for (std::size_t k = 0; k < values.size(); ++k) {
    const Tensor& v = values[k];
    detail::check_defined("concat", v);
    detail::check_same_dtype("concat", first, v);
    bool ok = v.rank() == r;
    for (int i = 0; ok && i < r; ++i) ok = i == ax || v.shape()[i] == first.shape()[i];
    if (!ok)
      throw ShapeError(fmt::format("concat: along axis {}, input {} has shape {} but input 0 has shape {}; all "
                                   "dimensions except axis {} must match",
                                   axis, k, v.shape().str(), first.shape().str(), axis));
    sizes.push_back(v.shape()[ax]);
    os[ax] += v.shape()[ax];
  }
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
  int ax = normalize_axis("stack", axis, values[0].rank() + 1);
  std::vector<Tensor> expanded;
  for (std::size_t k = 0; k < values.size(); ++k) {
    if (values[k].shape() != values[0].shape())
      throw ShapeError(fmt::format("stack: input {} has shape {} but input 0 has shape {}; all must be equal", k,
                                   values[k].shape().str(), values[0].shape().str()));
    expanded.push_back(expand_dims(values[k], ax));
  }
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
  if (infer >= 0) sizes[static_cast<std::size_t>(infer)] = x.shape()[ax] - total, total = x.shape()[ax];
  if (total != x.shape()[ax] || (infer >= 0 && sizes[static_cast<std::size_t>(infer)] < 0))
    throw ShapeError(fmt::format("split: sizes {} do not add up to dimension {} (= {}) of shape {}",
                                 list_str(sizes_in), axis, x.shape()[ax], x.shape().str()));
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
  if (num_splits <= 0 || x.shape()[ax] % num_splits != 0)
    throw ShapeError(fmt::format("split: dimension {} (= {}) of shape {} cannot be split into {} equal parts", axis,
                                 x.shape()[ax], x.shape().str(), num_splits));
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
    if (size[ui] == -1) size[ui] = x.shape()[i] - begin[ui];
    if (begin[ui] < 0 || size[ui] < 0 || begin[ui] + size[ui] > x.shape()[i])
      throw ShapeError(fmt::format("slice: begin {} size {} is out of bounds for shape {} (dimension {})",
                                   list_str(begin), list_str(size_in), x.shape().str(), i));
  }
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
  std::vector<std::int64_t> idx = indices.to_vector<std::int64_t>();
  for (std::size_t k = 0; k < idx.size(); ++k)
    if (idx[k] < 0 || idx[k] >= n)
      throw ValueError(fmt::format("gather: index {} (at position {}) is out of range [0, {}) for axis {} of params {}",
                                   idx[k], k, n, axis, ps.str()));
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
  // View x as [1, d0, 1, d1, ...], broadcast to [m0, d0, m1, d1, ...], fold back.
  Shape inter, wide, os;
  for (int i = 0; i < r; ++i) {
    auto m = multiples[static_cast<std::size_t>(i)];
    if (m < 0) throw ValueError(fmt::format("tile: multiples {} must be >= 0", list_str(multiples)));
    inter.push_back(1), inter.push_back(x.shape()[i]);
    wide.push_back(m), wide.push_back(x.shape()[i]);
    os.push_back(m * x.shape()[i]);
  }
  return reshape(broadcast_to(reshape(x, inter), wide), os);
}

}  // namespace tapeflow
