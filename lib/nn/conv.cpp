// conv2d and bias_add.
//
// conv2d is lowered to GEMM in NHWC: the patches [N*OH*OW, KH*KW*C] (im2col) times the filter
// seen as [KH*KW*C, OC] give the output [N*OH*OW, OC], already NHWC. The patches are built and
// consumed in cache-sized chunks (never whole), shared out to threads; backward recomputes them
// from the input for the filter's gradient, and scatters d_patches = dout · filterᵀ back onto the
// input (col2im) for the input's gradient.
//
// Where tapeflow is built with oneDNN, a float convolution's passes go first to oneDNN's
// convolution primitives (conv_onednn.cpp, which says when); these kernels are the fallback, and
// double's.
#include "tapeflow/nn/conv.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "autograd/door.h"
#include "nn/bias.h"
#include "nn/conv_onednn.h"
#include "nn/window.h"
#include "ops/kernels.h"
#include "tapeflow/ops/array.h"

namespace tapeflow::nn {

const char* padding_name(Padding padding) { return padding == Padding::Same ? "SAME" : "VALID"; }

std::int64_t window_output_size(std::int64_t in, std::int64_t window, std::int64_t stride, Padding padding) {
  if (in < 0) return -1;
  if (padding == Padding::Valid && window < 0) return -1;
  if (padding == Padding::Same) return (in + stride - 1) / stride;  // ceil(in / s)
  return in >= window ? (in - window) / stride + 1 : 0;              // ceil((in - k + 1) / s)
}

namespace detail {

std::array<std::int64_t, 2> spatial_pair(const char* op, const char* what, const std::vector<int>& v) {
  std::int64_t h = 0, w = 0;
  if (v.size() == 2) {
    h = v[0];
    w = v[1];
  } else if (v.size() == 4) {
    if (v[0] != 1 || v[3] != 1)
      throw ValueError(fmt::format("{}: {} [{}] must be 1 in the batch and channel dimensions (TensorFlow's "
                                   "[1, h, w, 1]); pass {{h, w}} or [1, h, w, 1]",
                                   op, what, fmt::join(v, ",")));
    h = v[1];
    w = v[2];
  } else {
    throw ValueError(fmt::format("{}: {} must have 2 elements {{h, w}} or 4 (TensorFlow's [1, h, w, 1]), got [{}]",
                                 op, what, fmt::join(v, ",")));
  }
  if (h <= 0 || w <= 0)
    throw ValueError(fmt::format("{}: {} must be positive, got [{}]", op, what, fmt::join(v, ",")));
  return {h, w};
}

}  // namespace detail

std::int64_t window_pad_before(std::int64_t in, std::int64_t window, std::int64_t stride, Padding padding) {
  if (padding == Padding::Valid || in < 0 || window < 0) return 0;
  const std::int64_t out = window_output_size(in, window, stride, padding);
  return std::max<std::int64_t>((out - 1) * stride + window - in, 0) / 2;
}

namespace {

using tapeflow::detail::gemm;

/// Everything conv2d's kernels need to know, from the shape rule; the output is [n, oh, ow, oc].
struct ConvGeometry : OutputSpec, detail::ConvSizes {
  std::int64_t rows() const { return n * oh * ow; }  // patch rows  = output positions
  std::int64_t depth() const { return kh * kw * c; }  // patch width = filter rows
  /// Whether the forward pass and the filter's gradient use the patches transposed, [depth, rows]
  /// (im2col_t): when a filter row spans few values (kw*c, e.g. 5 for a 5x5 filter over one
  /// channel), copying runs along the output row is much faster than copying such short runs.
  bool transposed_patches() const { return kw * c < 16; }
};

/// The shape rule: checks the operands (and a bias, when defined) and computes the geometry.
ConvGeometry conv_geometry(const Tensor& input, const Tensor& filter, const Tensor& bias,
                           const std::vector<int>& strides, Padding padding) {
  const char* op = "conv2d";
  const Shape &si = input.shape(), &sf = filter.shape();
  if (si.rank() != 4)
    throw ShapeError(fmt::format("conv2d: input must be 4-D [batch, height, width, channels], got {}", si.str()));
  if (sf.rank() != 4)
    throw ShapeError(fmt::format("conv2d: filter must be 4-D [filter_height, filter_width, in_channels, "
                                 "out_channels], got {}",
                                 sf.str()));
  if (sf[2] != si[3] && sf[2] >= 0 && si[3] >= 0)  // an unknown (graph mode) dimension matches any
    throw ShapeError(fmt::format("conv2d: filter {} expects {} input channels but the input {} has {}", sf.str(),
                                 sf[2], si.str(), si[3]));
  if (sf[0] == 0 || sf[1] == 0)
    throw ShapeError(fmt::format("conv2d: filter {} has an empty window; its height and width must be >= 1",
                                 sf.str()));
  auto [sh, sw] = detail::spatial_pair(op, "strides", strides);
  auto larger = [](std::int64_t window, std::int64_t in) { return window >= 0 && in >= 0 && window > in; };
  if (padding == Padding::Valid && (larger(sf[0], si[1]) || larger(sf[1], si[2])))
    throw ShapeError(fmt::format("conv2d: filter {} ({}x{} window) is larger than the input {} ({}x{}) with VALID "
                                 "padding; use SAME padding or a smaller filter",
                                 sf.str(), sf[0], sf[1], si.str(), si[1], si[2]));
  if (bias.defined() && (bias.rank() != 1 || (bias.dim(0) != sf[3] && bias.dim(0) >= 0 && sf[3] >= 0)))
    throw ShapeError(fmt::format("conv2d: bias must be 1-D with one value per output channel ([{}] for the filter "
                                 "{}), got {}",
                                 sf[3], sf.str(), bias.shape().str()));
  ConvGeometry g{};
  g.n = si[0], g.h = si[1], g.w = si[2], g.c = si[3];
  g.kh = sf[0], g.kw = sf[1], g.oc = sf[3];
  g.sh = sh, g.sw = sw;
  g.oh = window_output_size(g.h, g.kh, sh, padding);
  g.ow = window_output_size(g.w, g.kw, sw, padding);
  g.pad_top = window_pad_before(g.h, g.kh, sh, padding);
  g.pad_left = window_pad_before(g.w, g.kw, sw, padding);
  g.shape = Shape{g.n, g.oh, g.ow, g.oc};
  g.dtype = input.dtype();
  return g;
}

/// d[0, len) = s[0, len).
template <class T>
inline void copy_run(T* __restrict d, const T* __restrict s, std::int64_t len) {
  for (std::int64_t e = 0; e < len; ++e) d[e] = s[e];
}

/// d[0, len) = 0.
template <class T>
inline void zero_run(T* d, std::int64_t len) {
  for (std::int64_t e = 0; e < len; ++e) d[e] = T(0);
}

/// Calls run(n, i, j0, j1, first) for each stretch of one output row, (n, i, j0..j1), within the
/// output positions [p0, p1) (position p = (n * oh + i) * ow + j; `first` is p of (n, i, j0)).
template <class F>
void for_each_row_segment(const ConvGeometry& g, std::int64_t p0, std::int64_t p1, F&& run) {
  const std::int64_t per_image = g.oh * g.ow;
  for (std::int64_t p = p0; p < p1;) {
    const std::int64_t n = p / per_image, i = (p % per_image) / g.ow, j0 = p % g.ow;
    const std::int64_t j1 = std::min(g.ow, j0 + (p1 - p));
    run(n, i, j0, j1, p);
    p += j1 - j0;
  }
}

/// The patch rows of the output positions [p0, p1), written to buf [p1 - p0, depth]:
///   patch[(di, dj, c)] = x[n, i*sh - pad_top + di, j*sw - pad_left + dj, c], zero outside the image.
/// Each filter row (di) of a patch is one contiguous run of kw*c input values (fewer at the
/// left/right border), so it is copied, not indexed element by element.
template <class T>
void im2col(const ConvGeometry& geometry, const T* x, std::int64_t p0, std::int64_t p1, T* buf) {
  const ConvGeometry g = geometry;  // a local copy: the stores below cannot alias it
  const std::int64_t depth = g.depth(), run = g.kw * g.c;
  for_each_row_segment(g, p0, p1, [&](std::int64_t n, std::int64_t i, std::int64_t j0, std::int64_t j1,
                                      std::int64_t p) {
    const T* img = x + n * g.h * g.w * g.c;
    const std::int64_t ih0 = i * g.sh - g.pad_top;
    const std::int64_t di_lo = std::clamp<std::int64_t>(-ih0, 0, g.kh);
    const std::int64_t di_hi = std::clamp<std::int64_t>(g.h - ih0, di_lo, g.kh);
    T* dst = buf + (p - p0) * depth;
    for (std::int64_t j = j0; j < j1; ++j, dst += depth) {
      const std::int64_t iw0 = j * g.sw - g.pad_left;
      // The part [begin, end) of a filter row that lies inside the image.
      const std::int64_t lo = std::clamp<std::int64_t>(-iw0, 0, g.kw);
      const std::int64_t begin = lo * g.c, end = std::clamp<std::int64_t>(g.w - iw0, lo, g.kw) * g.c;
      zero_run(dst, di_lo * run);
      for (std::int64_t di = di_lo; di < di_hi; ++di) {
        T* d = dst + di * run;
        zero_run(d, begin);
        copy_run(d + begin, img + (((ih0 + di) * g.w + iw0) * g.c + begin), end - begin);
        zero_run(d + end, run - end);
      }
      zero_run(dst + di_hi * run, (g.kh - di_hi) * run);
    }
  });
}

/// ceil(a / b) and floor(a / b) for b > 0 and any sign of a.
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return a >= 0 ? (a + b - 1) / b : -(-a / b); }
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// im2col transposed: buf [depth, p1 - p0] with buf[(di, dj, c), p - p0] = patch of p at (di, dj, c).
/// Along one output row, entry (di, dj, c) reads the input row i*sh - pad_top + di at columns
/// j*sw - pad_left + dj: one contiguous run per (di, dj) when sw*c is 1, a strided one otherwise.
template <class T>
void im2col_t(const ConvGeometry& geometry, const T* x, std::int64_t p0, std::int64_t p1, T* buf) {
  const ConvGeometry g = geometry;
  const std::int64_t ld = p1 - p0, step = g.sw * g.c;
  for_each_row_segment(g, p0, p1, [&](std::int64_t n, std::int64_t i, std::int64_t j0, std::int64_t j1,
                                      std::int64_t p) {
    const T* img = x + n * g.h * g.w * g.c;
    for (std::int64_t di = 0; di < g.kh; ++di) {
      const std::int64_t ih = i * g.sh - g.pad_top + di;
      const bool inside = ih >= 0 && ih < g.h;
      for (std::int64_t dj = 0; dj < g.kw; ++dj) {
        // Output columns whose input column j*sw - pad_left + dj lies in [0, w): [ja, jb).
        const std::int64_t ja = inside ? std::clamp(ceil_div(g.pad_left - dj, g.sw), j0, j1) : j1;
        const std::int64_t jb = inside ? std::clamp(floor_div(g.w - 1 + g.pad_left - dj, g.sw) + 1, ja, j1) : j1;
        for (std::int64_t c = 0; c < g.c; ++c) {
          // Offsets (possibly negative before adding j): d[j] = buf[to + j] for output column j,
          // reading img[from + j * step] = x[n, ih, j*sw - pad_left + dj, c].
          const std::int64_t to = ((di * g.kw + dj) * g.c + c) * ld + (p - p0) - j0;
          const std::int64_t from = (ih * g.w - g.pad_left + dj) * g.c + c;
          zero_run(buf + (to + j0), ja - j0);
          if (step == 1) copy_run(buf + (to + ja), img + (from + ja), jb - ja);
          else
            for (std::int64_t j = ja; j < jb; ++j) buf[to + j] = img[from + j * step];
          zero_run(buf + (to + jb), j1 - jb);
        }
      }
    }
  });
}

/// col2im, the adjoint of im2col: dx[n, ih, iw, c] += buf[p - p0, (di, dj, c)] for every patch
/// entry of the rows [p0, p1) that read (n, ih, iw, c).
template <class T>
void col2im(const ConvGeometry& geometry, const T* buf, std::int64_t p0, std::int64_t p1, T* dx) {
  const ConvGeometry g = geometry;
  const std::int64_t depth = g.depth(), run = g.kw * g.c;
  for_each_row_segment(g, p0, p1, [&](std::int64_t n, std::int64_t i, std::int64_t j0, std::int64_t j1,
                                      std::int64_t p) {
    T* img = dx + n * g.h * g.w * g.c;
    const std::int64_t ih0 = i * g.sh - g.pad_top;
    const std::int64_t di_lo = std::clamp<std::int64_t>(-ih0, 0, g.kh);
    const std::int64_t di_hi = std::clamp<std::int64_t>(g.h - ih0, di_lo, g.kh);
    const T* src = buf + (p - p0) * depth;
    for (std::int64_t j = j0; j < j1; ++j, src += depth) {
      const std::int64_t iw0 = j * g.sw - g.pad_left;
      // The part [begin, end) of a filter row that lies inside the image.
      const std::int64_t lo = std::clamp<std::int64_t>(-iw0, 0, g.kw);
      const std::int64_t begin = lo * g.c, end = std::clamp<std::int64_t>(g.w - iw0, lo, g.kw) * g.c;
      for (std::int64_t di = di_lo; di < di_hi; ++di) {
        const T* __restrict s = src + di * run + begin;
        T* __restrict d = img + (((ih0 + di) * g.w + iw0) * g.c + begin);
        for (std::int64_t e = 0; e < end - begin; ++e) d[e] += s[e];
      }
    }
  });
}

/// The patches are never materialised whole: the output rows are cut into chunks whose patches
/// fill about kChunkBytes (a buffer that stays in cache between im2col and the GEMM that reads
/// it). A chunk holds whole images, or part of one image when an image alone is larger. A group
/// is the unit of col2im's parallelism: chunks of different groups touch different images.
constexpr std::int64_t kChunkBytes = std::int64_t{1} << 20;

struct Chunks {
  std::int64_t per_image, images_per_group, rows_per_chunk, chunks_per_group, groups;
  std::int64_t count() const { return groups * chunks_per_group; }
  /// Output rows [p0, p1) of chunk k.
  std::pair<std::int64_t, std::int64_t> rows(const ConvGeometry& g, std::int64_t k) const {
    const std::int64_t q = k / chunks_per_group, group_begin = q * images_per_group * per_image;
    const std::int64_t group_end = std::min(g.n, (q + 1) * images_per_group) * per_image;
    const std::int64_t p0 = group_begin + (k % chunks_per_group) * rows_per_chunk;
    return {p0, std::min(p0 + rows_per_chunk, group_end)};
  }
};

Chunks plan_chunks(const ConvGeometry& g, std::size_t elem_size) {
  Chunks c{};
  const std::int64_t target = kChunkBytes / static_cast<std::int64_t>(elem_size);
  const std::int64_t depth = std::max<std::int64_t>(g.depth(), 1);
  c.per_image = g.oh * g.ow;
  if (c.per_image * depth <= target) {
    c.images_per_group = std::max<std::int64_t>(1, target / std::max<std::int64_t>(c.per_image * depth, 1));
    c.rows_per_chunk = std::max<std::int64_t>(c.images_per_group * c.per_image, 1);
    c.chunks_per_group = 1;
  } else {
    c.images_per_group = 1;
    c.rows_per_chunk = std::max<std::int64_t>(target / depth, 1);
    c.chunks_per_group = (c.per_image + c.rows_per_chunk - 1) / c.rows_per_chunk;
  }
  c.groups = (g.n + c.images_per_group - 1) / c.images_per_group;
  if (c.per_image == 0) c.groups = 0;
  return c;
}

/// Whether to share `count` work items out to OpenMP threads (each item then runs its GEMM on
/// one thread); otherwise the items run in turn and each GEMM splits itself between the threads.
bool spread(std::int64_t count, const ConvGeometry& g) {
  return count >= tapeflow::detail::max_threads() && count > 1 &&
         g.rows() * g.depth() * g.oc >= tapeflow::detail::kParallelGrain;
}

/// One chunk buffer per thread, allocated before the parallel region (where an exception could
/// not propagate).
template <class T>
class Buffers {
 public:
  Buffers(bool parallel, std::int64_t elements)
      : elements_(elements), data_(new T[static_cast<std::size_t>((parallel ? tapeflow::detail::max_threads() : 1) * elements)]) {}
  T* mine() const { return data_.get() + tapeflow::detail::thread_index() * elements_; }

 private:
  std::int64_t elements_;
  std::unique_ptr<T[]> data_;
};

/// out [rows, oc] = patches(x) · filter [depth, oc] (+ bias [oc] on every row when bias is not
/// null: the rows start from the bias and the GEMM adds to them), chunk by chunk.
template <class T>
void conv_forward(const ConvGeometry& g, const T* x, const T* f, const T* bias, T* out,
                  tapeflow::detail::Epilogue epilogue) {
  using tapeflow::detail::fill_rows;
  if constexpr (std::is_same_v<T, float>)
    if (detail::onednn_conv_forward(g, x, f, bias, out, epilogue)) return;
  const std::int64_t depth = g.depth();
  if (g.patches_are_input()) {
    if (bias) tapeflow::detail::gemm_bias<T>(x, f, bias, out, g.rows(), depth, g.oc, epilogue);
    else gemm<T>(x, f, out, g.rows(), depth, g.oc, false, false, false, epilogue);
    return;
  }
  const Chunks ch = plan_chunks(g, sizeof(T));
  const std::int64_t count = ch.count();
  const bool parallel = spread(count, g);
  Buffers<T> buffers(parallel, ch.rows_per_chunk * depth);
  tapeflow::detail::parallel_for(count, parallel, [&](std::int64_t k0, std::int64_t k1) {
    T* buf = buffers.mine();
    for (std::int64_t k = k0; k < k1; ++k) {
      auto [p0, p1] = ch.rows(g, k);
      if (g.transposed_patches()) im2col_t<T>(g, x, p0, p1, buf);
      else im2col<T>(g, x, p0, p1, buf);
      if (bias) fill_rows(out, bias, p0, p1, g.oc);
      gemm<T>(buf, f, out + p0 * g.oc, p1 - p0, depth, g.oc, g.transposed_patches(), false, bias != nullptr,
              epilogue);
    }
  });
}

/// d_filter [depth, oc] = patches(x)ᵀ · dout [rows, oc], the patches recomputed chunk by chunk.
/// The chunks are cut into a fixed number of runs (the CPUs the process may use, never the threads in use),
/// each summed in chunk order into its own partial, and the partials added in run order: the
/// result does not depend on how many threads run (deterministic, whatever the load).
template <class T>
void conv_filter_grad(const ConvGeometry& g, const T* x, const T* dout, T* df) {
  if constexpr (std::is_same_v<T, float>)
    if (detail::onednn_conv_filter_grad(g, x, dout, df)) return;
  const std::int64_t depth = g.depth(), size = depth * g.oc;
  if (g.patches_are_input()) {
    gemm<T>(x, dout, df, depth, g.rows(), g.oc, true, false);
    return;
  }
  const Chunks ch = plan_chunks(g, sizeof(T));
  const std::int64_t count = ch.count();
  const bool parallel = spread(count, g);
  const tapeflow::detail::FixedRuns runs(count);
  std::vector<T> partial(static_cast<std::size_t>(runs.count * size), T(0));
  Buffers<T> buffers(parallel, ch.rows_per_chunk * depth);
  tapeflow::detail::parallel_for(runs.count, parallel, [&](std::int64_t r0, std::int64_t r1) {
    T* buf = buffers.mine();
    for (std::int64_t r = r0; r < r1; ++r) {
      T* acc = partial.data() + r * size;
      for (std::int64_t k = runs.begin(r); k < runs.end(r); ++k) {
        auto [p0, p1] = ch.rows(g, k);
        // acc [depth, oc] += patchesᵀ · dout rows; the patches are [depth, rows] when transposed.
        if (g.transposed_patches()) im2col_t<T>(g, x, p0, p1, buf);
        else im2col<T>(g, x, p0, p1, buf);
        gemm<T>(buf, dout + p0 * g.oc, acc, depth, p1 - p0, g.oc, !g.transposed_patches(), false, /*accumulate=*/true);
      }
    }
  });
  runs.add(partial.data(), size, df);
}

/// d_input = col2im(dout [rows, oc] · filterᵀ [oc, depth]), chunk by chunk; dx must be zero.
template <class T>
void conv_input_grad(const ConvGeometry& g, const T* dout, const T* f, T* dx) {
  if constexpr (std::is_same_v<T, float>)
    if (detail::onednn_conv_input_grad(g, dout, f, dx)) return;
  const std::int64_t depth = g.depth();
  if (g.patches_are_input()) {
    gemm<T>(dout, f, dx, g.rows(), g.oc, depth, false, true);
    return;
  }
  const Chunks ch = plan_chunks(g, sizeof(T));
  // Parallel over groups: the chunks of one group (one image, or several whole ones) run in
  // turn on one thread, so no two threads ever add into the same image.
  const bool parallel = spread(ch.groups, g);
  Buffers<T> buffers(parallel, ch.rows_per_chunk * depth);
  tapeflow::detail::parallel_for(ch.groups, parallel, [&](std::int64_t q0, std::int64_t q1) {
    T* buf = buffers.mine();
    for (std::int64_t q = q0; q < q1; ++q)
      for (std::int64_t k = q * ch.chunks_per_group; k < (q + 1) * ch.chunks_per_group; ++k) {
        auto [p0, p1] = ch.rows(g, k);
        gemm<T>(dout + p0 * g.oc, f, buf, p1 - p0, g.oc, depth, false, true);
        col2im<T>(g, buf, p0, p1, dx);
      }
  });
}

}  // namespace

namespace {

using tapeflow::autograd::Args;
using tapeflow::autograd::DTypes;
using tapeflow::autograd::save;
using tapeflow::autograd::with_backward;

std::vector<std::int64_t> strides_attr(const std::vector<int>& strides);

// The convolution's gradients as ops of their own (TensorFlow's Conv2DBackpropInput and
// Conv2DBackpropFilter): each is linear in both its operands, so its gradient is the other
// backprop op and conv2d itself, to any order.
Tensor conv2d_backprop_filter(const ConvGeometry& g, const Tensor& input, const Tensor& dout,
                              const std::vector<int>& strides, Padding padding);

Tensor conv2d_backprop_input(const ConvGeometry& g, const Tensor& filter, const Tensor& dout,
                             const std::vector<int>& strides, Padding padding) {
  return tapeflow::autograd::apply(
      {"Conv2DBackpropInput", "conv2d_backprop_input", DTypes::Floating, "T", "filter,out_backprop"}, {filter, dout},
      {{"strides", strides_attr(strides)}, {"padding", padding_name(padding)}, {"data_format", "NHWC"}},
      [g](Args in) { return OutputSpec{Shape{g.n, g.h, g.w, g.c}, in[0].dtype()}; },
      [g, strides, padding](Args in, const OutputSpec& s) {
        const Tensor &filter = in[0], &dout = in[1];
        Tensor d_input = zeros(s.shape, dout.dtype());
        tapeflow::detail::visit_floating("Conv2DBackpropInput", dout, [&]<class T>() {
          conv_input_grad<T>(g, dout.data<T>(), filter.data<T>(), d_input.data<T>());
        });
        return with_backward(d_input, [g, filter = save(filter), dout = save(dout), strides, padding](const Tensor& gg) {
          return Grads{filter.requires_grad() ? conv2d_backprop_filter(g, gg, *dout, strides, padding) : Tensor(),
                       dout.requires_grad() ? conv2d(gg, *filter, strides, padding) : Tensor()};
        });
      });
}

Tensor conv2d_backprop_filter(const ConvGeometry& g, const Tensor& input, const Tensor& dout,
                              const std::vector<int>& strides, Padding padding) {
  return tapeflow::autograd::apply(
      {"Conv2DBackpropFilter", "conv2d_backprop_filter", DTypes::Floating, "T", "input,out_backprop"}, {input, dout},
      {{"strides", strides_attr(strides)}, {"padding", padding_name(padding)}, {"data_format", "NHWC"}},
      [g](Args in) { return OutputSpec{Shape{g.kh, g.kw, g.c, g.oc}, in[0].dtype()}; },
      [g, strides, padding](Args in, const OutputSpec& s) {
        const Tensor &input = in[0], &dout = in[1];
        Tensor d_filter = Tensor::empty(s.shape, dout.dtype());
        tapeflow::detail::visit_floating("Conv2DBackpropFilter", dout, [&]<class T>() {
          conv_filter_grad<T>(g, input.data<T>(), dout.data<T>(), d_filter.data<T>());
        });
        return with_backward(d_filter, [g, input = save(input), dout = save(dout), strides, padding](const Tensor& gg) {
          return Grads{input.requires_grad() ? conv2d_backprop_input(g, gg, *dout, strides, padding) : Tensor(),
                       dout.requires_grad() ? conv2d(*input, gg, strides, padding) : Tensor()};
        });
      });
}

/// The convolution, with the bias (when defined) and a fused ReLU (Fused::bias_relu) in its
/// products' epilogue.
auto conv2d_forward(const ConvGeometry& g, const Tensor& input, const Tensor& filter, const Tensor& bias,
                    const std::vector<int>& strides, Padding padding, detail::Fused fused = detail::Fused::bias) {
  Tensor out = Tensor::empty(g.shape, input.dtype());
  tapeflow::detail::visit_floating("conv2d", input, [&]<class T>() {
    conv_forward<T>(g, input.data<T>(), filter.data<T>(), bias.defined() ? bias.data<T>() : nullptr, out.data<T>(),
                    detail::epilogue(fused));
  });
  const bool need_input = input.requires_grad(), need_filter = filter.requires_grad();
  const bool need_bias = bias.defined() && bias.requires_grad();
  // The backward pass recomputes the patches from the input rather than keeping them (they are
  // kh*kw times larger than the input).
  return with_backward(out, [g, input = save(need_filter ? input : Tensor()), filter = save(filter), need_input,
                             need_filter, need_bias, with_bias = bias.defined(), strides, padding,
                             y = detail::save_for_fused(fused, out)](const Tensor& dy) {
    const Tensor dout = detail::through_fused(y, dy);
    Tensor d_input = need_input ? conv2d_backprop_input(g, *filter, dout, strides, padding) : Tensor();
    Tensor d_filter = need_filter ? conv2d_backprop_filter(g, *input, dout, strides, padding) : Tensor();
    Tensor d_bias = need_bias ? detail::bias_grad(dout, g.oc) : Tensor();
    return with_bias ? Grads{d_input, d_filter, d_bias} : Grads{d_input, d_filter};
  });
}

/// TensorFlow's strides attribute, [1, h, w, 1], from {h, w} or [1, h, w, 1]; anything else as
/// given (the rule then reports it, naming the node).
std::vector<std::int64_t> strides_attr(const std::vector<int>& strides) {
  if (strides.size() == 2) return {1, strides[0], strides[1], 1};
  return {strides.begin(), strides.end()};
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& filter, const std::vector<int>& strides, Padding padding) {
  const auto strides4 = strides_attr(strides);
  return tapeflow::autograd::apply(
      {"Conv2D", "conv2d", DTypes::Floating, "T", "input,filter"}, {input, filter},
      {{"strides", strides4}, {"padding", padding_name(padding)}, {"data_format", "NHWC"}},
      [strides, padding](Args in) { return conv_geometry(in[0], in[1], Tensor(), strides, padding); },
      [strides, padding](Args in, const ConvGeometry& g) {
        return conv2d_forward(g, in[0], in[1], Tensor(), strides, padding);
      });
}

Tensor conv2d(const Tensor& input, const Tensor& filter, const Tensor& bias, const std::vector<int>& strides,
              Padding padding) {
  return detail::conv2d_fused(input, filter, bias, strides, padding, detail::Fused::bias);
}

Tensor detail::conv2d_fused(const Tensor& input, const Tensor& filter, const Tensor& bias,
                            const std::vector<int>& strides, Padding padding, Fused fused) {
  // One op whose GEMM starts from the bias and may end with a ReLU (TensorFlow's _FusedConv2D,
  // which its graph optimizer makes of Conv2D + BiasAdd [+ Relu]), in both modes.
  const auto strides4 = strides_attr(strides);
  return tapeflow::autograd::apply(
      {"_FusedConv2D", "conv2d", DTypes::Floating, "T", "input,filter,bias"}, {input, filter, bias},
      {{"strides", strides4},
       {"padding", padding_name(padding)},
       {"data_format", "NHWC"},
       {"fused_ops", fused_ops(fused)}},
      [strides, padding](Args in) { return conv_geometry(in[0], in[1], in[2], strides, padding); },
      [strides, padding, fused](Args in, const ConvGeometry& g) {
        return conv2d_forward(g, in[0], in[1], in[2], strides, padding, fused);
      });
}

Tensor bias_add(const Tensor& value, const Tensor& bias) {
  return tapeflow::autograd::apply(
      {"BiasAdd", "bias_add", DTypes::Floating, "T", "value,bias"}, {value, bias}, {{"data_format", "NHWC"}},
      [](Args in) {
        const Shape &sv = in[0].shape(), &sb = in[1].shape();
        if (sv.rank() < 2)
          throw ShapeError(fmt::format("bias_add: value must have at least 2 dimensions [..., channels], got {}",
                                       sv.str()));
        const std::int64_t last = sv[sv.rank() - 1];
        if (sb.rank() != 1 || (sb[0] != last && sb[0] >= 0 && last >= 0))  // unknown (graph mode) matches any
          throw ShapeError(fmt::format("bias_add: bias must be 1-D with one value per channel (the last dimension "
                                       "of value {}, i.e. [{}]), got {}",
                                       sv.str(), sv[sv.rank() - 1], sb.str()));
        Shape out = sv;
        out[sv.rank() - 1] = last >= 0 ? last : sb[0];
        return OutputSpec{out, in[0].dtype()};
      },
      [](Args in, const OutputSpec&) {
        const Tensor &value = in[0], &bias = in[1];
        const std::int64_t channels = bias.dim(0), rows = channels == 0 ? 0 : value.numel() / channels;
        Tensor out = Tensor::empty(value.shape(), value.dtype());
        tapeflow::detail::visit_floating("bias_add", value, [&]<class T>() {
          const T* x = value.data<T>();
          const T* b = bias.data<T>();
          T* y = out.data<T>();
          const bool big = value.numel() >= tapeflow::detail::kParallelGrain;
          tapeflow::detail::parallel_for(rows, big, [&](std::int64_t r0, std::int64_t r1) {
            for (std::int64_t r = r0; r < r1; ++r)
              for (std::int64_t c = 0; c < channels; ++c) y[r * channels + c] = x[r * channels + c] + b[c];
          });
        });
        return with_backward(
            out, [channels, need_value = value.requires_grad(), need_bias = bias.requires_grad()](const Tensor& g) {
              Tensor d_bias = need_bias ? detail::bias_grad(g, channels) : Tensor();
              return Grads{need_value ? g : Tensor(), d_bias};
            });
      });
}

namespace {

Tensor bias_grad_kernel(const Tensor& g, std::int64_t channels) {
  const std::int64_t rows = channels == 0 ? 0 : g.numel() / channels;
  Tensor d_bias = Tensor::empty(Shape{channels}, g.dtype());
  tapeflow::detail::visit_floating("BiasAddGrad", g, [&]<class T>() {
    // Sums of blocks of rows (vectorized along the channels), then the sum of the blocks' sums.
    constexpr std::int64_t kBlock = 256;
    const std::int64_t blocks = (rows + kBlock - 1) / kBlock;
    std::vector<T> partial(static_cast<std::size_t>(blocks * channels), T(0));
    const T* gv = g.data<T>();
    const bool big = rows * channels >= tapeflow::detail::kParallelGrain;
    tapeflow::detail::parallel_for(blocks, big, [&](std::int64_t b0, std::int64_t b1) {
      for (std::int64_t b = b0; b < b1; ++b) {
        T* __restrict acc = partial.data() + b * channels;
        for (std::int64_t r = b * kBlock; r < std::min(rows, (b + 1) * kBlock); ++r) {
          const T* __restrict row = gv + r * channels;
          for (std::int64_t c = 0; c < channels; ++c) acc[c] += row[c];
        }
      }
    });
    T* db = d_bias.data<T>();
    std::fill_n(db, channels, T(0));
    for (std::int64_t b = 0; b < blocks; ++b)
      for (std::int64_t c = 0; c < channels; ++c) db[c] += partial[static_cast<std::size_t>(b * channels + c)];
  });
  return d_bias;
}

}  // namespace

Tensor detail::bias_grad(const Tensor& g, std::int64_t channels) {
  return tapeflow::autograd::apply(
      {"BiasAddGrad", "bias_add_grad", DTypes::Floating, "T", "out_backprop"}, {g}, {{"data_format", "NHWC"}},
      [channels](Args in) { return OutputSpec{Shape{channels}, in[0].dtype()}; },
      [channels](Args in, const OutputSpec&) {
        // Its own gradient: the bias's gradient spread over every row again.
        return with_backward(bias_grad_kernel(in[0], channels),
                             [shape = in[0].shape()](const Tensor& gg) { return Grads{broadcast_to(gg, shape)}; });
      });
}

}  // namespace tapeflow::nn
