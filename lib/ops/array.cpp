// Shape and indexing ops.
#include "tapeflow/ops/array.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <numeric>

#include "autograd/door.h"
#include "ops/kernels.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow {

using autograd::Args;
using autograd::DTypes;
using autograd::save;
using autograd::with_backward;

namespace {

std::string list_str(const std::vector<std::int64_t>& v) {
  return fmt::format("[{}]", fmt::join(v, ","));
}
std::string list_str(const std::vector<int>& v) { return fmt::format("[{}]", fmt::join(v, ",")); }
/// A dimension for messages: "?" when unknown (graph mode).
std::string dim_str(std::int64_t d) { return d < 0 ? std::string("?") : std::to_string(d); }
/// Graph-mode shape rules: two dimensions may be the same one when equal or either is unknown.

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

// slice's gradient, as TensorFlow writes it (Pad): g placed at `begin` in zeros of `shape`. Its
// own gradient slices the box back out.
Tensor slice_grad(const Tensor& g, const std::vector<std::int64_t>& begin, const Shape& shape) {
  Paddings paddings;
  for (int i = 0; i < shape.rank(); ++i) {
    const std::int64_t b = begin[static_cast<std::size_t>(i)];
    paddings.push_back({b, shape[i] - b - g.shape()[i]});
  }
  return pad(g, paddings);
}

// gather's gradient, as TensorFlow writes it: the rows of g summed back where they were gathered
// from (UnsortedSegmentSum), in zeros of params' shape; along an axis other than 0 with the
// gathered dimensions moved to the front first and the segments moved back to `ax` after. Its own
// gradient gathers again.
Tensor gather_grad(const Tensor& g, const Tensor& indices, int ax, std::int64_t n) {
  if (ax == 0) return unsorted_segment_sum(g, indices, n);
  const int ri = indices.rank(), r = g.rank();
  std::vector<int> front, back;  // g [outer (ax dims), indices' dims, inner] -> [indices' dims, outer, inner]
  for (int i = 0; i < ri; ++i) front.push_back(ax + i);
  for (int i = 0; i < ax; ++i) front.push_back(i);
  for (int i = ax + ri; i < r; ++i) front.push_back(i);
  Tensor summed = unsorted_segment_sum(transpose(g, front), indices, n);  // [n, outer, inner]
  for (int i = 1; i <= ax; ++i) back.push_back(i);
  back.push_back(0);
  for (int i = ax + 1; i < summed.rank(); ++i) back.push_back(i);
  return transpose(summed, back);
}

// unsorted_segment_sum's gradient (TensorFlow's _GatherDropNegatives): the row of g of each id,
// zeros for the rows that negative ids dropped.
Tensor gather_segments(const Tensor& g, const Tensor& ids) {
  const std::vector<std::int64_t> v = ids.to_vector<std::int64_t>();
  if (std::none_of(v.begin(), v.end(), [](std::int64_t id) { return id < 0; })) return gather(g, ids);
  Shape kept = ids.shape(), rows = ids.shape();  // kept: ids' shape, broadcast against the rows
  for (int i = 1; i < g.rank(); ++i) kept.push_back(1), rows.push_back(g.shape()[i]);
  if (g.shape()[0] == 0) return zeros(rows, g.dtype());  // no segments: every id was dropped
  Tensor zero = zeros(Shape{}, ids.dtype());
  return where(reshape(greater_equal(ids, zero), kept), gather(g, maximum(ids, zero)), zeros(Shape{}, g.dtype()));
}

// ---------------------------------------------------------------------------- pad's modes

enum class PadMode { Constant, Reflect, Symmetric };

PadMode parse_pad_mode(std::string_view mode) {
  std::string upper(mode);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "CONSTANT") return PadMode::Constant;
  if (upper == "REFLECT") return PadMode::Reflect;
  if (upper == "SYMMETRIC") return PadMode::Symmetric;
  throw ValueError(
      fmt::format("pad: unknown mode '{}'; use \"CONSTANT\", \"REFLECT\" or \"SYMMETRIC\" (in any case)", mode));
}

const char* pad_mode_name(PadMode mode) {
  return mode == PadMode::Constant ? "CONSTANT" : mode == PadMode::Reflect ? "REFLECT" : "SYMMETRIC";
}

Paddings as_pairs(const std::vector<std::int64_t>& flat) {
  Paddings pairs;
  for (std::size_t i = 0; i + 1 < flat.size(); i += 2) pairs.push_back({flat[i], flat[i + 1]});
  return pairs;
}

/// pad's rule: x [d0, ...] with flat paddings {b0, a0, b1, a1, ...} -> [b0 + d0 + a0, ...]. A
/// mirrored dimension gives at most size - 1 (REFLECT) or size (SYMMETRIC) on each side.
OutputSpec padded(const Tensor& x, const std::vector<std::int64_t>& flat, PadMode mode) {
  const Shape& xs = x.shape();
  const int r = xs.rank();
  if (flat.size() != 2 * static_cast<std::size_t>(r))
    throw ShapeError(fmt::format("pad: paddings has {} pairs for input {} of rank {}; give one {{before, after}} pair "
                                 "per dimension",
                                 flat.size() / 2, xs.str(), r));
  Shape os;
  for (int i = 0; i < r; ++i) {
    const std::int64_t b = flat[2 * static_cast<std::size_t>(i)], a = flat[2 * static_cast<std::size_t>(i) + 1];
    const std::int64_t d = xs[i];
    if (b < 0 || a < 0)
      throw ValueError(fmt::format("pad: paddings must be >= 0, got {{{}, {}}} for dimension {} of input {}", b, a, i,
                                   xs.str()));
    const std::int64_t most = std::max<std::int64_t>(mode == PadMode::Reflect ? d - 1 : d, 0);
    if (mode != PadMode::Constant && d >= 0 && (b > most || a > most))
      throw ShapeError(fmt::format("pad: {} padding {{{}, {}}} of dimension {} is too large for input {}: {} pads at "
                                   "most {} on each side of a dimension of size {} (REFLECT size - 1, SYMMETRIC size)",
                                   pad_mode_name(mode), b, a, i, xs.str(), pad_mode_name(mode), most, d));
    os.push_back(d < 0 ? -1 : b + d + a);
  }
  return {os, x.dtype()};
}

/// For each dimension of the padded shape, the index of x [xs] that each of its indices reads:
/// the mirror image of the ones outside x.
std::vector<std::vector<std::int64_t>> mirror_maps(const Shape& xs, const std::vector<std::int64_t>& flat,
                                                   PadMode mode) {
  std::vector<std::vector<std::int64_t>> maps;
  for (int d = 0; d < xs.rank(); ++d) {
    const auto ud = static_cast<std::size_t>(d);
    const std::int64_t n = xs[d], b = flat[2 * ud], a = flat[2 * ud + 1];
    const std::int64_t edge = mode == PadMode::Reflect ? 0 : 1;  // SYMMETRIC repeats the edge
    std::vector<std::int64_t>& map = maps.emplace_back();
    for (std::int64_t o = 0; o < b + n + a; ++o) {
      const std::int64_t i = o - b;
      map.push_back(i < 0 ? -i - edge : i >= n ? 2 * n - 2 + edge - i : i);
    }
  }
  return maps;
}

/// Calls f(o, i) for each element o of the padded tensor [os] (row-major) with the element i of x
/// [xs] that it mirrors.
template <class F>
void for_each_mirrored(const Shape& os, const Shape& xs, const std::vector<std::vector<std::int64_t>>& maps, F f) {
  const int r = os.rank();
  if (os.numel() == 0) return;
  if (r == 0) return f(std::int64_t{0}, std::int64_t{0});
  const auto xst = strides_of(xs);
  const std::int64_t inner = os[r - 1], rows = os.numel() / inner;
  const std::vector<std::int64_t>& last = maps[static_cast<std::size_t>(r - 1)];
  for (std::int64_t row = 0; row < rows; ++row) {
    std::int64_t rem = row, base = 0;
    for (int d = r - 2; d >= 0; --d) {
      const auto ud = static_cast<std::size_t>(d);
      base += maps[ud][static_cast<std::size_t>(rem % os[d])] * xst[ud];
      rem /= os[d];
    }
    for (std::int64_t j = 0; j < inner; ++j) f(row * inner + j, base + last[static_cast<std::size_t>(j)]);
  }
}

// MirrorPad's gradient (TensorFlow's MirrorPadGrad): each element of g added back into the element
// of x it mirrors. Its own gradient mirror-pads again.
Tensor mirror_pad_grad(const Tensor& g, const std::vector<std::int64_t>& flat, PadMode mode) {
  return autograd::apply({"MirrorPadGrad", "pad", DTypes::Floating}, {g},
                         {{"paddings", flat}, {"mode", pad_mode_name(mode)}},
                         [flat](Args in) {
    Shape xs;
    for (int i = 0; i < in[0].rank(); ++i) {
      const std::int64_t d = in[0].shape()[i];
      xs.push_back(d < 0 ? -1 : d - flat[2 * static_cast<std::size_t>(i)] - flat[2 * static_cast<std::size_t>(i) + 1]);
    }
    return OutputSpec{xs, in[0].dtype()};
  },
                         [flat, mode](Args in, const OutputSpec& s) {
    const Tensor& g = in[0];
    Tensor gx = zeros(s.shape, g.dtype());
    detail::visit_floating("pad", g, [&]<class T>() {
      const T* pg = g.data<T>();
      T* px = gx.data<T>();
      for_each_mirrored(g.shape(), s.shape, mirror_maps(s.shape, flat, mode),
                        [&](std::int64_t o, std::int64_t i) { px[i] += pg[o]; });
    });
    return with_backward(gx, [flat, mode](const Tensor& gg) {
      return Grads{pad(gg, as_pairs(flat), pad_mode_name(mode))};
    });
  });
}

}  // namespace

namespace {

/// reshape's rule: `shape` with its -1 resolved (TensorFlow's rules, also for a partly unknown x).
Shape reshape_target(const Shape& xs, const Shape& shape) {
  Shape target = shape;
  int infer = -1;
  std::int64_t known = 1;
  for (int i = 0; i < target.rank(); ++i) {
    if (target[i] == -1) {
      if (infer >= 0)
        throw ShapeError(fmt::format("reshape: can only infer one dimension (-1), got {} for a tensor of shape {}",
                                     shape.str(), xs.str()));
      infer = i;
    } else {
      known *= target[i];
    }
  }
  if (xs.is_fully_known()) {
    if (infer >= 0) {
      if (known == 0 || xs.numel() % known != 0)
        throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} ({} elements) into {}", xs.str(),
                                     xs.numel(), shape.str()));
      target[infer] = xs.numel() / known;
    }
    if (target.numel() != xs.numel())
      throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} ({} elements) into {} ({} elements)",
                                   xs.str(), xs.numel(), target.str(), target.numel()));
    return target;
  }
  // Unknown element count (TensorFlow's rule): it is a multiple of the product of the known input
  // dims, and the -1 entry stays unknown ([?,28,28,1] -> {-1,784} is [?,784]).
  std::int64_t known_in = 1;
  for (std::int64_t d : xs)
    if (d >= 0) known_in *= d;
  if (infer >= 0 && known == 0)
    throw ShapeError(fmt::format("reshape: cannot infer the -1 dimension of {} for a tensor of shape {}: the other "
                                 "dimensions hold 0 elements",
                                 list_str(shape.vec()), xs.str()));
  if (known_in == 0) {  // a zero dimension: no elements whatever the unknown ones are
    if (infer >= 0) target[infer] = 0;
    else if (target.numel() != 0)
      throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} (0 elements) into {} ({} elements)",
                                   xs.str(), target.str(), target.numel()));
  } else if (infer < 0 && target.numel() % known_in != 0) {
    throw ShapeError(fmt::format("reshape: cannot reshape a tensor of shape {} into {} ({} elements): its number of "
                                 "elements is a multiple of {}",
                                 xs.str(), target.str(), target.numel(), known_in));
  }
  return target;
}

/// A tensor of shape `shape` (as many elements as x's) sharing x's data.
Tensor shares_data(const Tensor& x, const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->shape = shape;
  impl->dtype = x.dtype();
  return Tensor(std::move(impl));
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  return autograd::apply({"Reshape", "reshape", DTypes::Any}, {x}, {{"shape", shape}},
                         [shape](Args in) { return OutputSpec{reshape_target(in[0].shape(), shape), in[0].dtype()}; },
                         [](Args in, const OutputSpec& s) {
    const Tensor& x = in[0];
    Tensor out = s.shape == x.shape() ? x : shares_data(x, s.shape);  // the same tensor: not recorded
    return with_backward(out, [xs = x.shape()](const Tensor& g) { return Grads{reshape(g, xs)}; });
  });
}

Tensor transpose(const Tensor& x, const std::vector<int>& perm_in) {
  struct TransposePlan : OutputSpec {
    std::vector<int> perm;
  };
  return autograd::apply({.type = "Transpose", .name = "transpose", .t = DTypes::Any, .node = "transpose"}, {x}, {{"perm", perm_in}},
                         [perm_in](Args in) {
    const Tensor& x = in[0];
    const int r = x.rank();
    TransposePlan p;
    p.dtype = x.dtype();
    p.perm = perm_in;
    if (p.perm.empty()) {
      p.perm.resize(static_cast<std::size_t>(r));
      for (int i = 0; i < r; ++i) p.perm[static_cast<std::size_t>(i)] = r - 1 - i;
    }
    if (static_cast<int>(p.perm.size()) != r)
      throw ShapeError(fmt::format("transpose: perm {} has {} entries for a tensor of shape {} (rank {})",
                                   list_str(p.perm), p.perm.size(), x.shape().str(), r));
    std::vector<bool> seen(static_cast<std::size_t>(r), false);
    for (int& q : p.perm) {
      q = normalize_axis("transpose", q, r);
      if (seen[static_cast<std::size_t>(q)])
        throw ValueError(fmt::format("transpose: perm {} is not a permutation of 0..{}", list_str(perm_in), r - 1));
      seen[static_cast<std::size_t>(q)] = true;
    }
    for (int q : p.perm) p.shape.push_back(x.shape()[q]);
    return p;
  },
                         [](Args in, const TransposePlan& p) {
    const Tensor& x = in[0];
    const Shape& os = p.shape;
    const int r = x.rank();
    const std::vector<int>& perm = p.perm;
    Tensor out = Tensor::empty(os, x.dtype());
    auto is = strides_of(x.shape());
    std::array<std::int64_t, Shape::kMaxRank> src_st{};  // source stride of each output dim
    for (int i = 0; i < r; ++i)
      src_st[static_cast<std::size_t>(i)] = is[static_cast<std::size_t>(perm[static_cast<std::size_t>(i)])];
    detail::visit_dtype(x.dtype(), [&]<class T>() {
      const T* px = x.data<T>();
      T* o = out.data<T>();
      if (r == 2) {
        using M = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        if (perm[0] == 1) {
          Eigen::Map<M>(o, os[0], os[1]) = Eigen::Map<const M>(px, x.shape()[0], x.shape()[1]).transpose();
        } else {
          std::memcpy(o, px, x.nbytes());
        }
        return;
      }
      const std::int64_t n = out.numel();
      if (n == 0) return;
      const std::int64_t inner = r ? os[r - 1] : 1, inner_st = r ? src_st[static_cast<std::size_t>(r - 1)] : 1;
      detail::parallel_rows(n / inner, inner, [&](std::int64_t row0, std::int64_t row1) {
        for (std::int64_t row = row0; row < row1; ++row) {
          std::int64_t rem = row, off = 0;
          for (int d = r - 2; d >= 0; --d) {
            off += (rem % os[d]) * src_st[static_cast<std::size_t>(d)];
            rem /= os[d];
          }
          T* dst = o + row * inner;
          for (std::int64_t j = 0; j < inner; ++j) dst[j] = px[off + j * inner_st];
        }
      });
    });
    std::vector<int> inverse(static_cast<std::size_t>(r));
    for (int i = 0; i < r; ++i) inverse[static_cast<std::size_t>(perm[static_cast<std::size_t>(i)])] = i;
    return with_backward(out, [inverse](const Tensor& g) { return Grads{transpose(g, inverse)}; });
  });
}

Tensor squeeze(const Tensor& x, const std::vector<int>& axes) {
  return autograd::apply({"Squeeze", "squeeze", DTypes::Any}, {x}, {{"squeeze_dims", axes}},
                         [axes](Args in) {
    const Shape& xs = in[0].shape();
    Shape os;
    std::vector<bool> drop(static_cast<std::size_t>(xs.rank()), false);
    for (int a : axes) {
      int ax = normalize_axis("squeeze", a, xs.rank());
      if (xs[ax] != 1 && xs[ax] >= 0)  // an unknown dim is checked when the graph runs
        throw ShapeError(fmt::format("squeeze: cannot squeeze axis {} of shape {}: its size is {}, not 1", a, xs.str(),
                                     xs[ax]));
      drop[static_cast<std::size_t>(ax)] = true;
    }
    if (axes.empty() && !xs.is_fully_known())
      throw ShapeError(fmt::format("squeeze: cannot remove every size-1 dimension of {}: whether an unknown dimension "
                                   "is 1 is only known when the graph runs; name the axes to remove (squeeze(x, {{1}}))",
                                   xs.str()));
    for (int i = 0; i < xs.rank(); ++i)
      if (!(axes.empty() ? xs[i] == 1 : drop[static_cast<std::size_t>(i)])) os.push_back(xs[i]);
    return OutputSpec{os, in[0].dtype()};
  },
                         [](Args in, const OutputSpec& s) { return reshape(in[0], s.shape); });
}

Tensor expand_dims(const Tensor& x, int axis) {
  return autograd::apply({"ExpandDims", "expand_dims", DTypes::Any}, {x}, {{"dim", axis}},
                         [axis](Args in) {
    const Shape& xs = in[0].shape();
    int ax = normalize_axis("expand_dims", axis, xs.rank() + 1);
    Shape os;
    for (int i = 0; i < xs.rank(); ++i) {
      if (i == ax) os.push_back(1);
      os.push_back(xs[i]);
    }
    if (ax == xs.rank()) os.push_back(1);
    return OutputSpec{os, in[0].dtype()};
  },
                         [](Args in, const OutputSpec& s) { return reshape(in[0], s.shape); });
}

namespace {

/// The shape of values joined along `ax` (concat) or stacked (stack: sizes along ax must be 1
/// after expand_dims). In graph mode an unknown dim takes the size of a known one of another
/// input; an unknown size along the axis makes the output's unknown.
Shape joined_shape(const char* op, Args values, int ax, int axis, std::vector<std::int64_t>* sizes) {
  const int r = values[0].rank();
  Shape os = values[0].shape();
  os[ax] = 0;
  std::vector<std::size_t> from(static_cast<std::size_t>(r), 0);  // which input gave each dim, for messages
  for (std::size_t k = 0; k < values.size(); ++k) {
    const Tensor& v = values[k];
    std::size_t other = 0;
    bool ok = v.rank() == r;
    for (int i = 0; ok && i < r; ++i) {
      if (i == ax) continue;
      other = from[static_cast<std::size_t>(i)];
      ok = detail::dims_match(v.shape()[i], os[i]);
      if (ok && os[i] < 0 && v.shape()[i] >= 0) os[i] = v.shape()[i], from[static_cast<std::size_t>(i)] = k;
    }
    if (!ok)
      throw ShapeError(fmt::format("{}: along axis {}, input {} has shape {} but input {} has shape {}; all "
                                   "dimensions except axis {} must match",
                                   op, axis, k, v.shape().str(), other, values[other].shape().str(), axis));
    if (sizes) sizes->push_back(v.shape()[ax]);
    os[ax] = os[ax] < 0 || v.shape()[ax] < 0 ? -1 : os[ax] + v.shape()[ax];
  }
  return os;
}

}  // namespace

Tensor concat(const std::vector<Tensor>& values, int axis) {
  if (values.empty()) throw ValueError("concat: needs at least one tensor");
  struct ConcatPlan : OutputSpec {
    int ax = 0;
    std::vector<std::int64_t> sizes;
  };
  return autograd::apply({.type = "ConcatV2", .name = "concat", .t = DTypes::Any, .node = "concat"}, values, {{"axis", axis}, {"N", values.size()}},
                         [axis](Args in) {
    if (in[0].rank() == 0) throw ShapeError("concat: cannot concatenate scalars; use stack()");
    ConcatPlan p;
    p.ax = normalize_axis("concat", axis, in[0].rank());
    p.shape = joined_shape("concat", in, p.ax, axis, &p.sizes);
    p.dtype = in[0].dtype();
    return p;
  },
                         [](Args in, const ConcatPlan& p) {
    Tensor out = Tensor::empty(p.shape, p.dtype);
    const int r = p.shape.rank();
    std::vector<std::int64_t> zero(static_cast<std::size_t>(r), 0), at(static_cast<std::size_t>(r), 0);
    for (const Tensor& v : in) {
      copy_box(v, zero, out, at, v.shape().vec());
      at[static_cast<std::size_t>(p.ax)] += v.shape()[p.ax];
    }
    return with_backward(out, [sizes = p.sizes, ax = p.ax](const Tensor& g) { return Grads(split(g, sizes, ax)); });
  });
}

Tensor stack(const std::vector<Tensor>& values, int axis) {
  if (values.empty()) throw ValueError("stack: needs at least one tensor");
  return autograd::apply({.type = "Pack", .name = "stack", .t = DTypes::Any, .node = "stack"}, values, {{"axis", axis}, {"N", values.size()}},
                         [axis](Args in) {
    const int r = in[0].rank();
    const int ax = normalize_axis("stack", axis, r + 1);
    Shape merged = in[0].shape();  // unknown dims take a known size of another input
    std::vector<std::size_t> from(static_cast<std::size_t>(r), 0);
    for (std::size_t k = 0; k < in.size(); ++k) {
      const Shape& s = in[k].shape();
      std::size_t other = 0;
      bool ok = s.rank() == r;
      for (int i = 0; ok && i < r; ++i) {
        other = from[static_cast<std::size_t>(i)];
        ok = detail::dims_match(s[i], merged[i]);
        if (ok && merged[i] < 0 && s[i] >= 0) merged[i] = s[i], from[static_cast<std::size_t>(i)] = k;
      }
      if (!ok)
        throw ShapeError(fmt::format("stack: input {} has shape {} but input {} has shape {}; all must be equal", k,
                                     s.str(), other, in[other].shape().str()));
    }
    Shape os;
    for (int i = 0; i <= r; ++i) {
      if (i == ax) os.push_back(static_cast<std::int64_t>(in.size()));
      if (i < r) os.push_back(merged[i]);
    }
    return OutputSpec{os, in[0].dtype()};
  },
                         [axis](Args in, const OutputSpec&) {
    const int ax = normalize_axis("stack", axis, in[0].rank() + 1);
    std::vector<Tensor> expanded;
    for (const Tensor& v : in) expanded.push_back(expand_dims(v, ax));
    return concat(expanded, ax);
  });
}

std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes_in, int axis) {
  return autograd::apply({.type = "SplitV", .name = "split", .t = DTypes::Any, .node = "split"}, {x},
                         {{"size_splits", sizes_in}, {"split_dim", axis}, {"num_split", sizes_in.size()}},
                         [sizes_in, axis](Args in) {
    const Shape& xs = in[0].shape();
    const int ax = normalize_axis("split", axis, xs.rank());
    std::vector<std::int64_t> sizes = sizes_in;
    std::int64_t total = 0;
    int infer = -1;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] == -1 && infer < 0) infer = static_cast<int>(i);
      else if (sizes[i] < 0)
        throw ValueError(fmt::format("split: invalid sizes {} (at most one -1, others >= 0)", list_str(sizes_in)));
      else total += sizes[i];
    }
    if (xs[ax] >= 0) {  // an unknown dim is checked when the graph runs (and -1 stays ?)
      if (infer >= 0) sizes[static_cast<std::size_t>(infer)] = xs[ax] - total, total = xs[ax];
      if (total != xs[ax] || (infer >= 0 && sizes[static_cast<std::size_t>(infer)] < 0))
        throw ShapeError(fmt::format("split: sizes {} do not add up to dimension {} (= {}) of shape {}",
                                     list_str(sizes_in), axis, xs[ax], xs.str()));
    }
    std::vector<OutputSpec> specs;
    for (std::int64_t s : sizes) {
      Shape os = xs;
      os[ax] = s;
      specs.push_back({os, in[0].dtype()});
    }
    return specs;
  },
                         [axis](Args in, const std::vector<OutputSpec>& specs) {
    // A composite of slices: each output is recorded as the slice it is.
    const Tensor& x = in[0];
    const int ax = normalize_axis("split", axis, x.rank());
    std::vector<Tensor> out;
    std::vector<std::int64_t> begin(static_cast<std::size_t>(x.rank()), 0);
    for (const OutputSpec& s : specs) {
      out.push_back(slice(x, begin, s.shape.vec()));
      begin[static_cast<std::size_t>(ax)] += s.shape[ax];
    }
    return out;
  });
}

std::vector<Tensor> split(const Tensor& x, int num_splits, int axis) {
  return autograd::apply({.type = "Split", .name = "split", .t = DTypes::Any, .node = "split"}, {x}, {{"num_split", num_splits}, {"split_dim", axis}},
                         [num_splits, axis](Args in) {
    const Shape& xs = in[0].shape();
    const int ax = normalize_axis("split", axis, xs.rank());
    const std::int64_t n = xs[ax];
    if (num_splits <= 0 || (n >= 0 && n % num_splits != 0))
      throw ShapeError(fmt::format("split: dimension {} (= {}) of shape {} cannot be split into {} equal parts", axis,
                                   dim_str(n), xs.str(), num_splits));
    Shape os = xs;
    os[ax] = n < 0 ? -1 : n / num_splits;
    return std::vector<OutputSpec>(static_cast<std::size_t>(num_splits), {os, in[0].dtype()});
  },
                         [num_splits, axis](Args in, const std::vector<OutputSpec>&) {
    const int ax = normalize_axis("split", axis, in[0].rank());
    return split(in[0], std::vector<std::int64_t>(static_cast<std::size_t>(num_splits), in[0].dim(ax) / num_splits),
                 ax);
  });
}

Tensor slice(const Tensor& x, const std::vector<std::int64_t>& begin, const std::vector<std::int64_t>& size_in) {
  return autograd::apply({"Slice", "slice", DTypes::Any}, {x}, {{"begin", begin}, {"size", size_in}},
                         [begin, size_in](Args in) {
    const Shape& xs = in[0].shape();
    const int r = xs.rank();
    if (static_cast<int>(begin.size()) != r || static_cast<int>(size_in.size()) != r)
      throw ShapeError(fmt::format("slice: begin {} and size {} must each have {} entries for shape {}",
                                   list_str(begin), list_str(size_in), r, xs.str()));
    std::vector<std::int64_t> size = size_in;
    for (int i = 0; i < r; ++i) {
      auto ui = static_cast<std::size_t>(i);
      const std::int64_t d = xs[i];  // unknown in graph mode: checked when the graph runs
      const bool to_end = size[ui] == -1;
      if (to_end) size[ui] = d < 0 ? -1 : d - begin[ui];
      if (begin[ui] < 0 || (size[ui] < 0 && !(to_end && d < 0)) || (d >= 0 && begin[ui] + size[ui] > d))
        throw ShapeError(fmt::format("slice: begin {} size {} is out of bounds for shape {} (dimension {})",
                                     list_str(begin), list_str(size_in), xs.str(), i));
    }
    return OutputSpec{Shape(size), in[0].dtype()};
  },
                         [begin](Args in, const OutputSpec& s) {
    const Tensor& x = in[0];
    Tensor out = Tensor::empty(s.shape, x.dtype());
    copy_box(x, begin, out, std::vector<std::int64_t>(begin.size(), 0), s.shape.vec());
    return with_backward(out, [begin, shape = x.shape()](const Tensor& g) { return Grads{slice_grad(g, begin, shape)}; });
  });
}

Tensor pad(const Tensor& x, const Paddings& paddings, std::string_view mode_name, double constant_values) {
  const PadMode mode = parse_pad_mode(mode_name);
  std::vector<std::int64_t> flat;
  for (const auto& [before, after] : paddings) flat.push_back(before), flat.push_back(after);
  auto rule = [flat, mode](Args in) { return padded(in[0], flat, mode); };
  if (mode != PadMode::Constant)
    return autograd::apply({"MirrorPad", "pad", DTypes::Any}, {x}, {{"paddings", flat}, {"mode", pad_mode_name(mode)}}, rule,
                           [flat, mode](Args in, const OutputSpec& s) {
      const Tensor& x = in[0];
      Tensor out = Tensor::empty(s.shape, x.dtype());
      detail::visit_dtype(x.dtype(), [&]<class T>() {
        const T* px = x.data<T>();
        T* po = out.data<T>();
        for_each_mirrored(s.shape, x.shape(), mirror_maps(x.shape(), flat, mode),
                          [&](std::int64_t o, std::int64_t i) { po[o] = px[i]; });
      });
      return with_backward(out, [flat, mode](const Tensor& g) { return Grads{mirror_pad_grad(g, flat, mode)}; });
    });
  // CONSTANT: x copied into a tensor full of constant_values (TensorFlow's Pad for 0, else PadV2).
  auto forward = [flat, constant_values](Args in, const OutputSpec& s) {
    const Tensor& x = in[0];
    Tensor out = full(s.shape, constant_values, x.dtype());
    std::vector<std::int64_t> begin;
    for (std::size_t i = 0; i < flat.size(); i += 2) begin.push_back(flat[i]);
    copy_box(x, std::vector<std::int64_t>(begin.size(), 0), out, begin, x.shape().vec());
    return with_backward(out, [begin, size = x.shape().vec()](const Tensor& g) { return Grads{slice(g, begin, size)}; });
  };
  if (constant_values == 0) return autograd::apply({"Pad", "pad", DTypes::Any}, {x}, {{"paddings", flat}}, rule, forward);
  return autograd::apply({"PadV2", "pad", DTypes::Any}, {x}, {{"paddings", flat}, {"constant_values", constant_values}},
                         rule, forward);
}

Tensor unsorted_segment_sum(const Tensor& data, const Tensor& segment_ids, std::int64_t num_segments) {
  struct SegmentPlan : OutputSpec {
    std::int64_t rows = 1, inner = 1;
  };
  return autograd::apply({"UnsortedSegmentSum", "unsorted_segment_sum", DTypes::Numeric, "Ti", "data,segment_ids"},
                         {data, segment_ids}, {{"num_segments", num_segments}},
                         [num_segments](Args in) {
    const Shape &ds = in[0].shape(), &is = in[1].shape();
    if (num_segments < 0)
      throw ValueError(fmt::format("unsorted_segment_sum: num_segments must be >= 0, got {}", num_segments));
    bool prefix = is.rank() <= ds.rank();
    for (int i = 0; prefix && i < is.rank(); ++i) prefix = detail::dims_match(is[i], ds[i]);
    if (!prefix)
      throw ShapeError(fmt::format("unsorted_segment_sum: segment_ids {} do not match data {}: their shape must be the "
                                   "start of data's (one id for each row of data); reshape one of them",
                                   is.str(), ds.str()));
    SegmentPlan p;
    p.dtype = in[0].dtype();
    p.shape.push_back(num_segments);
    for (int i = 0; i < ds.rank(); ++i) {
      if (i < is.rank()) {
        p.rows *= ds[i];
      } else {
        p.inner *= ds[i];
        p.shape.push_back(ds[i]);
      }
    }
    // Ids that can be seen are checked here (a graph's fed ones when it runs).
    if (autograd::known_value(in[1])) {
      const std::vector<std::int64_t> ids = in[1].to_vector<std::int64_t>();
      for (std::size_t k = 0; k < ids.size(); ++k)
        if (ids[k] >= num_segments)
          throw ValueError(fmt::format("unsorted_segment_sum: segment id {} (at position {}) is out of range for "
                                       "num_segments {}; ids must be < num_segments (a negative id drops its row)",
                                       ids[k], k, num_segments));
    }
    return p;
  },
                         [](Args in, const SegmentPlan& p) {
    const Tensor& data = in[0];
    const std::vector<std::int64_t> ids = in[1].to_vector<std::int64_t>();
    Tensor out = zeros(p.shape, data.dtype());
    detail::visit_numeric("unsorted_segment_sum", data, [&]<class T>() {
      const T* from = data.data<T>();
      T* to = out.data<T>();
      for (std::int64_t r = 0; r < p.rows; ++r) {
        const std::int64_t id = ids[static_cast<std::size_t>(r)];
        if (id < 0) continue;
        T* dst = to + id * p.inner;
        const T* src = from + r * p.inner;
        for (std::int64_t i = 0; i < p.inner; ++i) dst[i] = static_cast<T>(dst[i] + src[i]);
      }
    });
    return with_backward(out, [ids = save(in[1])](const Tensor& g) { return Grads{gather_segments(g, *ids), Tensor()}; });
  });
}

Tensor gather(const Tensor& params, const Tensor& indices, int axis) {
  struct GatherPlan : OutputSpec {
    std::int64_t outer = 1, n = 0, inner = 1;
  };
  auto check_range = [axis](const std::vector<std::int64_t>& idx, std::int64_t n, const Shape& ps) {
    for (std::size_t k = 0; k < idx.size(); ++k)
      if (idx[k] < 0 || idx[k] >= n)
        throw ValueError(fmt::format("gather: index {} (at position {}) is out of range [0, {}) for axis {} of "
                                     "params {}",
                                     idx[k], k, n, axis, ps.str()));
  };
  return autograd::apply({"GatherV2", "gather", DTypes::Any, "Ti", "params,indices"}, {params, indices},
                         {{"axis", axis}},
                         [axis, check_range](Args in) {
    const Shape& ps = in[0].shape();
    const int ax = normalize_axis("gather", axis, ps.rank());
    GatherPlan p;
    p.dtype = in[0].dtype();
    p.n = ps[ax];
    for (int i = 0; i < ax; ++i) p.outer *= ps[i], p.shape.push_back(ps[i]);
    for (std::int64_t d : in[1].shape()) p.shape.push_back(d);
    for (int i = ax + 1; i < ps.rank(); ++i) p.inner *= ps[i], p.shape.push_back(ps[i]);
    // Indices with values into a known axis are checked here (a graph's fed ones when it runs).
    if (autograd::known_value(in[1]) && p.n >= 0) check_range(in[1].to_vector<std::int64_t>(), p.n, ps);
    return p;
  },
                         [axis](Args in, const GatherPlan& p) {
    const Tensor& params = in[0];
    std::vector<std::int64_t> idx = in[1].to_vector<std::int64_t>();
    Tensor out = Tensor::empty(p.shape, params.dtype());
    const std::size_t es = dtype_size(params.dtype()), row = static_cast<std::size_t>(p.inner) * es;
    const auto* src = static_cast<const unsigned char*>(params.raw_data());
    auto* dst = static_cast<unsigned char*>(out.raw_data());
    const auto m = static_cast<std::int64_t>(idx.size());
    for (std::int64_t o = 0; o < p.outer; ++o)
      for (std::int64_t k = 0; k < m; ++k)
        std::memcpy(dst + static_cast<std::size_t>(o * m + k) * row,
                    src + static_cast<std::size_t>(o * p.n + idx[static_cast<std::size_t>(k)]) * row, row);
    return with_backward(out, [indices = save(in[1]), ax = normalize_axis("gather", axis, params.rank()),
                               n = p.n](const Tensor& g) { return Grads{gather_grad(g, *indices, ax, n), Tensor()}; });
  });
}

Tensor one_hot(const Tensor& indices, std::int64_t depth, double on_value, double off_value, DType dtype) {
  return autograd::apply({.type = "OneHot", .name = "one_hot", .t = DTypes::Any, .signature = "u", .input_names = "indices", .node = "one_hot"}, {indices},
                         {{"depth", depth}, {"on_value", on_value}, {"off_value", off_value}, {"T", dtype}},
                         [depth, dtype](Args in) {
    if (depth < 0) throw ValueError(fmt::format("one_hot: depth must be >= 0, got {}", depth));
    Shape os = in[0].shape();
    os.push_back(depth);
    return OutputSpec{os, dtype};
  },
                         [depth, on_value, off_value](Args in, const OutputSpec& s) {
    Tensor out = full(s.shape, off_value, s.dtype);
    std::vector<std::int64_t> idx = in[0].to_vector<std::int64_t>();
    detail::visit_dtype(s.dtype, [&]<class T>() {
      T* o = out.data<T>();
      for (std::size_t k = 0; k < idx.size(); ++k)
        if (idx[k] >= 0 && idx[k] < depth) o[static_cast<std::int64_t>(k) * depth + idx[k]] = static_cast<T>(on_value);
    });
    return out;
  });
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  return autograd::apply({"BroadcastTo", "broadcast_to", DTypes::Any}, {x}, {{"shape", shape}},
                         [shape](Args in) {
    if (!shape.is_fully_known())
      throw ShapeError(fmt::format("broadcast_to: the target shape {} must be fully known", shape.str()));
    // Each dim of x (aligned from the back) is 1, the target's, or unknown (checked when run).
    const Shape& xs = in[0].shape();
    bool ok = xs.rank() <= shape.rank();
    for (int i = 0; ok && i < xs.rank(); ++i) {
      std::int64_t d = xs[i], t = shape[shape.rank() - xs.rank() + i];
      ok = d < 0 || d == 1 || d == t;
    }
    if (!ok)
      throw ShapeError(fmt::format("broadcast_to: shape {} cannot be broadcast to {}", xs.str(), shape.str()));
    return OutputSpec{shape, in[0].dtype()};
  },
                         [](Args in, const OutputSpec& s) {
    const Tensor& x = in[0];
    Tensor out = x;  // the same shape: the same tensor, not recorded
    if (x.shape() != s.shape) {
      out = Tensor::empty(s.shape, x.dtype());
      detail::visit_dtype(x.dtype(), [&]<class T>() {
        const T* p = x.data<T>();
        detail::broadcast_loop<T, T>(p, x.shape(), p, Shape{}, out.data<T>(), s.shape, [](T a, T) { return a; });
      });
    }
    return with_backward(out, [xs = x.shape()](const Tensor& g) { return Grads{sum_to(g, xs)}; });
  });
}

Tensor tile(const Tensor& x, const std::vector<std::int64_t>& multiples) {
  return autograd::apply({"Tile", "tile", DTypes::Any}, {x}, {{"multiples", multiples}},
                         [multiples](Args in) {
    const Shape& xs = in[0].shape();
    const int r = xs.rank();
    if (static_cast<int>(multiples.size()) != r)
      throw ShapeError(fmt::format("tile: multiples {} must have {} entries for shape {}", list_str(multiples), r,
                                   xs.str()));
    if (2 * r > Shape::kMaxRank) throw ShapeError(fmt::format("tile: rank {} is too large (at most 4)", r));
    Shape os;
    for (int i = 0; i < r; ++i) {
      const std::int64_t m = multiples[static_cast<std::size_t>(i)], d = xs[i];
      if (m < 0) throw ValueError(fmt::format("tile: multiples {} must be >= 0", list_str(multiples)));
      os.push_back(m == 0 ? 0 : d < 0 ? -1 : m * d);  // as TensorFlow: 0 * ? is 0
    }
    return OutputSpec{os, in[0].dtype()};
  },
                         [multiples](Args in, const OutputSpec& s) {
    // View x as [1, d0, 1, d1, ...], broadcast to [m0, d0, m1, d1, ...], fold back.
    const Tensor& x = in[0];
    Shape inter, wide;
    for (int i = 0; i < x.rank(); ++i) {
      inter.push_back(1), inter.push_back(x.shape()[i]);
      wide.push_back(multiples[static_cast<std::size_t>(i)]), wide.push_back(x.shape()[i]);
    }
    return reshape(broadcast_to(reshape(x, inter), wide), s.shape);
  });
}

}  // namespace tapeflow
