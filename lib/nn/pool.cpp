// max_pool and avg_pool over NHWC, channels innermost: every window position is a contiguous run
// of C values, so the inner loops run over channels.
#include "tapeflow/nn/pool.h"

#include <algorithm>
#include <limits>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "autograd/door.h"
#include "nn/window.h"
#include "ops/kernels.h"

namespace tapeflow::nn {
namespace {

/// Everything the pooling kernels need to know, from the shape rule; the output is [n, oh, ow, c].
struct PoolGeometry : OutputSpec {
  std::int64_t n, h, w, c;  // input
  std::int64_t kh, kw;      // window
  std::int64_t sh, sw;      // strides
  std::int64_t oh, ow;      // output
  std::int64_t pad_top, pad_left;
  bool big() const { return n * oh * ow * c * kh * kw >= tapeflow::detail::kParallelGrain; }
};

/// The shape rule of both pools.
PoolGeometry pool_geometry(const char* op, const Tensor& value, const std::vector<int>& ksize,
                           const std::vector<int>& strides, Padding padding) {
  const Shape& s = value.shape();
  if (s.rank() != 4)
    throw ShapeError(fmt::format("{}: value must be 4-D [batch, height, width, channels], got {}", op, s.str()));
  auto [kh, kw] = detail::spatial_pair(op, "ksize", ksize);
  auto [sh, sw] = detail::spatial_pair(op, "strides", strides);
  // An unknown (graph mode) height or width is checked when the op runs.
  if (padding == Padding::Valid && ((s[1] >= 0 && kh > s[1]) || (s[2] >= 0 && kw > s[2])))
    throw ShapeError(fmt::format("{}: window {}x{} (ksize [{}]) is larger than the input {} ({}x{}) with VALID "
                                 "padding; use SAME padding or a smaller window",
                                 op, kh, kw, fmt::join(ksize, ","), s.str(), s[1], s[2]));
  PoolGeometry g{};
  g.n = s[0], g.h = s[1], g.w = s[2], g.c = s[3];
  g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw;
  g.oh = window_output_size(g.h, kh, sh, padding);
  g.ow = window_output_size(g.w, kw, sw, padding);
  g.pad_top = window_pad_before(g.h, kh, sh, padding);
  g.pad_left = window_pad_before(g.w, kw, sw, padding);
  g.shape = Shape{g.n, g.oh, g.ow, g.c};
  g.dtype = value.dtype();
  return g;
}

/// TensorFlow's [1, h, w, 1] form of a window or strides attribute from {h, w}; anything else as
/// given (the rule then reports it, naming the node).
std::vector<std::int64_t> nhwc_attr(const std::vector<int>& v) {
  if (v.size() == 2) return {1, v[0], v[1], 1};
  return {v.begin(), v.end()};
}

/// The part of one window inside the input: rows [h0, h1), columns [w0, w1) (never empty: with
/// SAME padding the padding before is smaller than the window).
struct Window {
  std::int64_t h0, h1, w0, w1;
  std::int64_t count() const { return (h1 - h0) * (w1 - w0); }
};
inline Window window_at(const PoolGeometry& g, std::int64_t i, std::int64_t j) {
  const std::int64_t h0 = i * g.sh - g.pad_top, w0 = j * g.sw - g.pad_left;
  return {std::max<std::int64_t>(h0, 0), std::min(h0 + g.kh, g.h), std::max<std::int64_t>(w0, 0),
          std::min(w0 + g.kw, g.w)};
}

/// Runs body(n, i, j, window, output offset) over every output position. `per_image` keeps each
/// image in one thread (for the backward scatters, whose windows overlap within an image only);
/// otherwise output rows are shared out.
template <class F>
void for_each_window(const PoolGeometry& g, bool per_image, F&& body) {
  auto row = [&](std::int64_t n, std::int64_t i) {
    for (std::int64_t j = 0; j < g.ow; ++j) body(n, i, j, window_at(g, i, j), ((n * g.oh + i) * g.ow + j) * g.c);
  };
  const bool big = g.big();
  if (per_image) {
    tapeflow::detail::parallel_for(g.n, big, [&](std::int64_t n0, std::int64_t n1) {
      for (std::int64_t n = n0; n < n1; ++n)
        for (std::int64_t i = 0; i < g.oh; ++i) row(n, i);
    });
  } else {
    tapeflow::detail::parallel_for(g.n * g.oh, big, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) row(r / g.oh, r % g.oh);
    });
  }
}

/// Max pooling of one image region: y[o + c] = max over the window, at[o + c] = the position
/// (ih * w + iw) in the image of the first maximum. Written without branches so that the channel
/// loop vectorizes (positions are int32 unless an image has more than 2^31 of them).
template <class T, class I>
void max_pool_forward(const PoolGeometry& g, const T* x, T* y, I* arg) {
  for_each_window(g, false, [&](std::int64_t n, std::int64_t, std::int64_t, const Window& win, std::int64_t o) {
    const T* img = x + n * g.h * g.w * g.c;
    T* __restrict best = y + o;
    I* __restrict at = arg + o;
    const I first = static_cast<I>(win.h0 * g.w + win.w0);
    for (std::int64_t c = 0; c < g.c; ++c) {
      best[c] = img[first * g.c + c];
      at[c] = first;
    }
    for (std::int64_t ih = win.h0; ih < win.h1; ++ih)
      for (std::int64_t iw = win.w0; iw < win.w1; ++iw) {
        const I p = static_cast<I>(ih * g.w + iw);
        const T* __restrict v = img + p * g.c;
        for (std::int64_t c = 0; c < g.c; ++c) {
          const bool greater = v[c] > best[c];  // strict: the first maximum keeps the gradient on ties
          best[c] = greater ? v[c] : best[c];
          at[c] = greater ? p : at[c];
        }
      }
  });
}

}  // namespace

namespace {
using tapeflow::autograd::Args;
using tapeflow::autograd::DTypes;
using tapeflow::autograd::with_backward;

Tensor max_pool_grad_grad(const PoolGeometry& g, const Tensor& gg, const Tensor& argmax);

// f(o, at) for every output element o (its index in the output) and the index `at` of the input
// element it took the maximum of (argmax holds its position ih * w + iw within its image).
template <class F>
void for_each_maximum(const PoolGeometry& g, const Tensor& argmax, F f) {
  auto each = [&](const auto* arg) {
    for_each_window(g, true, [&](std::int64_t n, std::int64_t, std::int64_t, const Window&, std::int64_t o) {
      const std::int64_t image = n * g.h * g.w * g.c;
      for (std::int64_t c = 0; c < g.c; ++c) f(o + c, image + static_cast<std::int64_t>(arg[o + c]) * g.c + c);
    });
  };
  if (argmax.dtype() == int64) each(argmax.data<std::int64_t>());
  else each(argmax.data<std::int32_t>());
}

// max_pool's gradient (TensorFlow's MaxPoolGrad): each output's gradient added at the maximum it
// took (argmax: its position ih * w + iw within its image). Linear in dout: its own gradient
// gathers from those positions (MaxPoolGradGrad), whose gradient is this op again.
Tensor max_pool_grad(const PoolGeometry& g, const Tensor& dout, const Tensor& argmax) {
  return tapeflow::autograd::apply(
      {"MaxPoolGrad", "max_pool_grad", DTypes::Floating, "Ti", "grad,argmax"}, {dout, argmax}, {},
      [g](Args in) { return OutputSpec{Shape{g.n, g.h, g.w, g.c}, in[0].dtype()}; },
      [g](Args in, const OutputSpec& s) {
        const Tensor &dout = in[0], &argmax = in[1];
        Tensor d_value = zeros(s.shape, dout.dtype());
        tapeflow::detail::visit_floating("MaxPoolGrad", dout, [&]<class T>() {
          const T* gy = dout.data<T>();
          T* dx = d_value.data<T>();
          for_each_maximum(g, argmax, [&](std::int64_t o, std::int64_t at) { dx[at] += gy[o]; });
        });
        return with_backward(d_value, [g, argmax](const Tensor& gg) {
          return Grads{max_pool_grad_grad(g, gg, argmax), Tensor()};
        });
      });
}

Tensor max_pool_grad_grad(const PoolGeometry& g, const Tensor& gg, const Tensor& argmax) {
  return tapeflow::autograd::apply(
      {"MaxPoolGradGrad", "max_pool_grad_grad", DTypes::Floating, "Ti", "grad,argmax"}, {gg, argmax}, {},
      [g](Args in) { return OutputSpec{Shape{g.n, g.oh, g.ow, g.c}, in[0].dtype()}; },
      [g](Args in, const OutputSpec& s) {
        const Tensor &gg = in[0], &argmax = in[1];
        Tensor out = Tensor::empty(s.shape, gg.dtype());
        tapeflow::detail::visit_floating("MaxPoolGradGrad", gg, [&]<class T>() {
          const T* src = gg.data<T>();
          T* dst = out.data<T>();
          for_each_maximum(g, argmax, [&](std::int64_t o, std::int64_t at) { dst[o] = src[at]; });
        });
        return with_backward(out, [g, argmax](const Tensor& g2) { return Grads{max_pool_grad(g, g2, argmax), Tensor()}; });
      });
}

// avg_pool's gradient (TensorFlow's AvgPoolGrad): each output's gradient spread evenly over its
// window. Linear in dout, and the adjoint of avg_pool: its own gradient is avg_pool.
Tensor avg_pool_grad(const PoolGeometry& g, const Tensor& dout, const std::vector<int>& ksize,
                     const std::vector<int>& strides, Padding padding) {
  return tapeflow::autograd::apply(
      {"AvgPoolGrad", "avg_pool_grad", DTypes::Floating, "T", "grad"}, {dout}, {},
      [g](Args in) { return OutputSpec{Shape{g.n, g.h, g.w, g.c}, in[0].dtype()}; },
      [g, ksize, strides, padding](Args in, const OutputSpec& s) {
        const Tensor& dout = in[0];
        Tensor d_value = zeros(s.shape, dout.dtype());
        tapeflow::detail::visit_floating("AvgPoolGrad", dout, [&]<class T>() {
          const T* gy = dout.data<T>();
          T* dx = d_value.data<T>();
          // d_value[window] += dout / count, for every window.
          for_each_window(g, true, [&](std::int64_t n, std::int64_t, std::int64_t, const Window& win, std::int64_t o) {
            T* img = dx + n * g.h * g.w * g.c;
            const T count = static_cast<T>(win.count());
            const T* gv = gy + o;
            for (std::int64_t ih = win.h0; ih < win.h1; ++ih)
              for (std::int64_t iw = win.w0; iw < win.w1; ++iw) {
                T* d = img + (ih * g.w + iw) * g.c;
                for (std::int64_t c = 0; c < g.c; ++c) d[c] += gv[c] / count;
              }
          });
        });
        return with_backward(d_value, [ksize, strides, padding](const Tensor& gg) {
          return Grads{avg_pool(gg, ksize, strides, padding)};
        });
      });
}

}  // namespace

Tensor max_pool(const Tensor& value, const std::vector<int>& ksize, const std::vector<int>& strides,
                Padding padding) {
  const auto ksize4 = nhwc_attr(ksize), strides4 = nhwc_attr(strides);
  return tapeflow::autograd::apply(
      {"MaxPool", "max_pool", DTypes::Floating, "T", "value"}, {value},
      {{"ksize", ksize4}, {"strides", strides4}, {"padding", padding_name(padding)}, {"data_format", "NHWC"}},
      [ksize, strides, padding](Args in) { return pool_geometry("max_pool", in[0], ksize, strides, padding); },
      [](Args in, const PoolGeometry& g) {
    const Tensor& value = in[0];
    Tensor out = Tensor::empty(Shape{g.n, g.oh, g.ow, g.c}, value.dtype());
    // argmax[o] = position (ih * w + iw) within its image of the maximum that output o took.
    const bool wide = g.h * g.w > std::numeric_limits<std::int32_t>::max();
    Tensor argmax = Tensor::empty(out.shape(), wide ? int64 : int32);
    tapeflow::detail::visit_floating("max_pool", value, [&]<class T>() {
      if (wide) max_pool_forward<T>(g, value.data<T>(), out.data<T>(), argmax.data<std::int64_t>());
      else max_pool_forward<T>(g, value.data<T>(), out.data<T>(), argmax.data<std::int32_t>());
    });
    return with_backward(out, [g, argmax](const Tensor& dout) { return Grads{max_pool_grad(g, dout, argmax)}; });
  });
}

Tensor avg_pool(const Tensor& value, const std::vector<int>& ksize, const std::vector<int>& strides,
                Padding padding) {
  const auto ksize4 = nhwc_attr(ksize), strides4 = nhwc_attr(strides);
  return tapeflow::autograd::apply(
      {"AvgPool", "avg_pool", DTypes::Floating, "T", "value"}, {value},
      {{"ksize", ksize4}, {"strides", strides4}, {"padding", padding_name(padding)}, {"data_format", "NHWC"}},
      [ksize, strides, padding](Args in) { return pool_geometry("avg_pool", in[0], ksize, strides, padding); },
      [ksize, strides, padding](Args in, const PoolGeometry& g) {
    const Tensor& value = in[0];
    Tensor out = Tensor::empty(Shape{g.n, g.oh, g.ow, g.c}, value.dtype());
    tapeflow::detail::visit_floating("avg_pool", value, [&]<class T>() {
      const T* x = value.data<T>();
      T* y = out.data<T>();
      for_each_window(g, false, [&](std::int64_t n, std::int64_t, std::int64_t, const Window& win, std::int64_t o) {
        const T* img = x + n * g.h * g.w * g.c;
        T* sum = y + o;
        std::fill_n(sum, g.c, T(0));
        for (std::int64_t ih = win.h0; ih < win.h1; ++ih)
          for (std::int64_t iw = win.w0; iw < win.w1; ++iw) {
            const T* v = img + (ih * g.w + iw) * g.c;
            for (std::int64_t c = 0; c < g.c; ++c) sum[c] += v[c];
          }
        const T count = static_cast<T>(win.count());
        for (std::int64_t c = 0; c < g.c; ++c) sum[c] /= count;
      });
    });
    return with_backward(out, [g, ksize, strides, padding](const Tensor& dout) {
      return Grads{avg_pool_grad(g, dout, ksize, strides, padding)};
    });
  });
}

}  // namespace tapeflow::nn
