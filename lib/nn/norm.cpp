// Normalisation: local response normalisation (fused forward and TF's LRNGrad backward kernel),
// moments and batch_normalization (composed, as TensorFlow writes them) and batch_norm with
// moving statistics (a fused per-channel kernel each way in training mode).
#include "tapeflow/nn/norm.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/door.h"
#include "ops/kernels.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow::nn {
namespace {

/// Per-column sums over the rows of a row-major [rows, width] layout: add_row(r, acc) adds row
/// r's contributions into acc (k blocks of `width` doubles). The rows are cut into a fixed number
/// of runs (the CPUs the process may use, never the threads in use), each summed in row order, and the
/// runs' sums added in run order: the result depends neither on scheduling nor on how many
/// threads run.
template <class F>
std::vector<double> column_sums(std::int64_t rows, std::int64_t width, int k, F add_row) {
  const std::size_t n = static_cast<std::size_t>(k * width);
  const detail::FixedRuns runs(rows);
  std::vector<double> partial(static_cast<std::size_t>(runs.count) * n, 0.0);
  auto sum_run = [&](std::int64_t r) {
    double* acc = partial.data() + static_cast<std::size_t>(r) * n;
    for (std::int64_t row = runs.begin(r); row < runs.end(r); ++row) add_row(row, acc);
  };
  detail::parallel_for(runs.count, rows * width >= detail::kParallelGrain && rows >= 2,
                       [&](std::int64_t begin, std::int64_t end) {
                         for (std::int64_t r = begin; r < end; ++r) sum_run(r);
                       });
  std::vector<double> total(n);
  runs.add(partial.data(), static_cast<std::int64_t>(n), total.data());
  return total;
}

/// 0, 1, ..., rank - 1.
std::vector<int> all_axes(int rank) {
  std::vector<int> axes(static_cast<std::size_t>(rank));
  for (int i = 0; i < rank; ++i) axes[static_cast<std::size_t>(i)] = i;
  return axes;
}

/// A [n] tensor of dtype T from doubles.
template <class T>
Tensor vector_tensor(const std::vector<double>& v, std::size_t offset, std::int64_t n) {
  Tensor t = Tensor::empty(Shape{n}, dtype_of<T>);
  T* p = t.data<T>();
  for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(v[offset + static_cast<std::size_t>(i)]);
  return t;
}

// ------------------------------------------------------------------------------------ LRN kernels

struct LrnParams {
  std::int64_t rows, channels, radius;
  double bias, alpha, beta;
};

/// s[c] = v[c - r] + ... + v[c + r] over the channels that exist, for c in [0, C): `padded` holds
/// v at [r, r + C) and zeros around it, so that every window has the same length and the loop
/// over c vectorizes. The terms are added in channel order, as a loop from max(0, c - r) would.
template <class T>
void window_sums(const std::vector<T>& padded, std::int64_t C, std::int64_t r, T* s) {
  std::fill(s, s + C, T(0));
  for (std::int64_t j = 0; j <= 2 * r; ++j) {
    const T* v = padded.data() + j;
    for (std::int64_t c = 0; c < C; ++c) s[c] += v[c];
  }
}

/// y = x * norm^-beta with norm = bias + alpha * (window sum of x^2), per row of `channels`.
template <class T>
void lrn_forward(const T* x, T* y, T* norm, const LrnParams& p) {
  const std::int64_t C = p.channels;
  if (C == 0) return;
  const std::int64_t r = std::min(p.radius, C - 1);  // a wider window covers the same channels
  const T bias = static_cast<T>(p.bias), alpha = static_cast<T>(p.alpha), beta = static_cast<T>(p.beta);
  const bool half = p.beta == 0.5;
  detail::parallel_rows(p.rows, C * (2 * r + 4), [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> sq(static_cast<std::size_t>(C + 2 * r), T(0));
    for (std::int64_t row = begin; row < end; ++row) {
      const T* xr = x + row * C;
      T* yr = y + row * C;
      T* nr = norm + row * C;
      for (std::int64_t c = 0; c < C; ++c) sq[static_cast<std::size_t>(r + c)] = xr[c] * xr[c];
      window_sums(sq, C, r, nr);
      for (std::int64_t c = 0; c < C; ++c) nr[c] = bias + alpha * nr[c];
      if (half)
        for (std::int64_t c = 0; c < C; ++c) yr[c] = xr[c] / std::sqrt(nr[c]);
      else
        for (std::int64_t c = 0; c < C; ++c) yr[c] = xr[c] * std::pow(nr[c], -beta);
    }
  });
}

/// TF's LRNGrad: with p_j = norm_j^-beta,
///   dx_i = g_i p_i - 2 alpha beta x_i * sum_{j in window(i)} g_j x_j p_j / norm_j
/// (the window is symmetric, so j in window(i) <=> i in window(j)).
template <class T>
void lrn_backward(const T* g, const T* x, const T* norm, T* dx, const LrnParams& p) {
  const std::int64_t C = p.channels;
  if (C == 0) return;
  const std::int64_t r = std::min(p.radius, C - 1);
  const T beta = static_cast<T>(p.beta), k = static_cast<T>(2 * p.alpha * p.beta);
  const bool half = p.beta == 0.5;
  detail::parallel_rows(p.rows, C * (2 * r + 6), [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> pw(static_cast<std::size_t>(C)), q(static_cast<std::size_t>(C + 2 * r), T(0)),
        s(static_cast<std::size_t>(C));
    for (std::int64_t row = begin; row < end; ++row) {
      const T* gr = g + row * C;
      const T* xr = x + row * C;
      const T* nr = norm + row * C;
      T* dr = dx + row * C;
      if (half)
        for (std::int64_t c = 0; c < C; ++c) pw[static_cast<std::size_t>(c)] = T(1) / std::sqrt(nr[c]);
      else
        for (std::int64_t c = 0; c < C; ++c) pw[static_cast<std::size_t>(c)] = std::pow(nr[c], -beta);
      for (std::int64_t c = 0; c < C; ++c)
        q[static_cast<std::size_t>(r + c)] = gr[c] * xr[c] * pw[static_cast<std::size_t>(c)] / nr[c];
      window_sums(q, C, r, s.data());
      for (std::int64_t c = 0; c < C; ++c)
        dr[c] = gr[c] * pw[static_cast<std::size_t>(c)] - k * xr[c] * s[static_cast<std::size_t>(c)];
    }
  });
}

// ---------------------------------------------------------------------- batch_norm training kernels

/// What the training-mode forward keeps for the backward: per-channel mean and 1/sqrt(var+eps).
struct BatchStats {
  Tensor mean, inv_std, variance;
};

/// y = (x - mean) * inv_std * scale + offset over x viewed as [rows, C]; batch statistics from x.
template <class T>
BatchStats batch_norm_forward(const Tensor& x, const Tensor& scale, const Tensor& offset, double epsilon,
                              Tensor& y) {
  const std::int64_t C = x.dim(-1), rows = x.numel() / C;
  const T* px = x.data<T>();
  const std::vector<double> sums = column_sums(rows, C, 1, [&](std::int64_t r, double* acc) {
    const T* xr = px + r * C;
    for (std::int64_t c = 0; c < C; ++c) acc[c] += static_cast<double>(xr[c]);
  });
  std::vector<double> mean(static_cast<std::size_t>(C));
  for (std::int64_t c = 0; c < C; ++c) mean[static_cast<std::size_t>(c)] = sums[static_cast<std::size_t>(c)] / static_cast<double>(rows);
  // Two passes (mean, then squared deviations): no cancellation for data far from zero.
  std::vector<double> var = column_sums(rows, C, 1, [&](std::int64_t r, double* acc) {
    const T* xr = px + r * C;
    for (std::int64_t c = 0; c < C; ++c) {
      const double d = static_cast<double>(xr[c]) - mean[static_cast<std::size_t>(c)];
      acc[c] += d * d;
    }
  });
  std::vector<double> inv(static_cast<std::size_t>(C)), a(static_cast<std::size_t>(C)), b(static_cast<std::size_t>(C));
  for (std::size_t c = 0; c < static_cast<std::size_t>(C); ++c) {
    var[c] /= static_cast<double>(rows);
    inv[c] = 1.0 / std::sqrt(var[c] + epsilon);
    const double gamma = scale.defined() ? static_cast<double>(scale.data<T>()[c]) : 1.0;
    const double beta = offset.defined() ? static_cast<double>(offset.data<T>()[c]) : 0.0;
    a[c] = inv[c] * gamma;  // y = x * a + b
    b[c] = beta - mean[c] * a[c];
  }
  std::vector<T> at(a.begin(), a.end()), bt(b.begin(), b.end());
  y = Tensor::empty(x.shape(), x.dtype());
  T* py = y.data<T>();
  detail::parallel_rows(rows, C, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const T* xr = px + r * C;
      T* yr = py + r * C;
      for (std::int64_t c = 0; c < C; ++c) yr[c] = xr[c] * at[static_cast<std::size_t>(c)] + bt[static_cast<std::size_t>(c)];
    }
  });
  return {vector_tensor<T>(mean, 0, C), vector_tensor<T>(inv, 0, C), vector_tensor<T>(var, 0, C)};
}

/// With xhat = (x - mean) * inv_std over rows M:
///   d_offset = sum(g), d_scale = sum(g * xhat),
///   dx = scale * inv_std * (g - sum(g) / M - xhat * sum(g * xhat) / M)
template <class T>
Grads batch_norm_backward(const Tensor& g, const Tensor& x, const Tensor& mean, const Tensor& inv_std,
                          const Tensor& scale, bool need_x, bool need_scale, bool need_offset) {
  const std::int64_t C = x.dim(-1), rows = x.numel() / C;
  const T *px = x.data<T>(), *pg = g.data<T>(), *pm = mean.data<T>(), *pi = inv_std.data<T>();
  const std::vector<double> sums = column_sums(rows, C, 2, [&](std::int64_t r, double* acc) {
    const T* xr = px + r * C;
    const T* gr = pg + r * C;
    for (std::int64_t c = 0; c < C; ++c) {
      acc[c] += static_cast<double>(gr[c]);
      acc[C + c] += static_cast<double>(gr[c]) * static_cast<double>((xr[c] - pm[c]) * pi[c]);
    }
  });
  Tensor dx, dscale, doffset;
  if (need_offset) doffset = vector_tensor<T>(sums, 0, C);
  if (need_scale) dscale = vector_tensor<T>(sums, static_cast<std::size_t>(C), C);
  if (need_x) {
    std::vector<T> k(static_cast<std::size_t>(C)), mg(static_cast<std::size_t>(C)), mgx(static_cast<std::size_t>(C));
    for (std::int64_t c = 0; c < C; ++c) {
      const std::size_t i = static_cast<std::size_t>(c);
      const double gamma = scale.defined() ? static_cast<double>(scale.data<T>()[c]) : 1.0;
      k[i] = static_cast<T>(gamma * static_cast<double>(pi[c]));
      mg[i] = static_cast<T>(sums[i] / static_cast<double>(rows));
      mgx[i] = static_cast<T>(sums[static_cast<std::size_t>(C) + i] / static_cast<double>(rows));
    }
    dx = Tensor::empty(x.shape(), x.dtype());
    T* pd = dx.data<T>();
    detail::parallel_rows(rows, C, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        const T* xr = px + r * C;
        const T* gr = pg + r * C;
        T* dr = pd + r * C;
        for (std::int64_t c = 0; c < C; ++c) {
          const std::size_t i = static_cast<std::size_t>(c);
          const T xhat = (xr[c] - pm[c]) * pi[c];
          dr[c] = k[i] * (gr[c] - mg[i] - xhat * mgx[i]);
        }
      }
    });
  }
  return Grads{dx, dscale, doffset};
}

// ------------------------------------------------------------------------------------ checks

void check_float(const char* op, const char* what, const Tensor& t, const Tensor& x) {
  if (t.dtype() != x.dtype())
    throw DTypeError(fmt::format("{}: {} is {} {} but x is {} {}; all must have x's dtype (cast it: cast({}, {}))", op,
                                 what, dtype_name(t.dtype()), t.shape().str(), dtype_name(x.dtype()),
                                 x.shape().str(), what, dtype_name(x.dtype())));
}

void check_broadcasts(const char* op, const char* what, const Tensor& t, const Tensor& x) {
  try {
    (void)broadcast_shapes(op, t.shape(), x.shape());
  } catch (const ShapeError&) {
    throw ShapeError(fmt::format("{}: {} {} does not broadcast against x {}; give it x's shape or one that "
                                 "broadcasts to it, such as [{}] for the last axis",
                                 op, what, t.shape().str(), x.shape().str(), x.rank() ? x.dim(-1) : 1));
  }
}

void check_channel_vector(const char* what, const Tensor& t, const Tensor& x) {
  const std::int64_t C = x.dim(-1);
  if (t.rank() != 1 || (t.dim(0) != C && t.dim(0) >= 0 && C >= 0))  // unknown (graph mode) matches any
    throw ShapeError(fmt::format("batch_norm: {} has shape {} but x {} has {} channels (its last dimension); {} "
                                 "must be [{}]",
                                 what, t.shape().str(), x.shape().str(), C, what, C));
  check_float("batch_norm", what, t, x);
}

}  // namespace

using autograd::Args;
using autograd::DTypes;
using autograd::with_backward;

// ------------------------------------------------------------------------------------------- LRN

namespace {

/// The sums of t over the channel windows [c - r, c + r] of its last axis, in ops: t plus t
/// shifted by 1..r channels each way (zeros shifted in).
Tensor channel_window_sum(const Tensor& t, std::int64_t radius) {
  const std::int64_t channels = t.dim(-1);
  Tensor total = t;
  for (std::int64_t k = 1; k <= std::min(radius, channels - 1); ++k) {
    Shape edge = t.shape();
    edge[t.rank() - 1] = k;
    const Tensor zero = zeros(edge, t.dtype());
    total = total + concat({slice(t, {0, 0, 0, k}, {-1, -1, -1, channels - k}), zero}, 3)   // t[c + k]
                  + concat({zero, slice(t, {0, 0, 0, 0}, {-1, -1, -1, channels - k})}, 3);  // t[c - k]
  }
  return total;
}

/// LRNGrad written in ops (what a create_graph backward records): with n = bias + alpha *
/// window_sum(x^2) and y = x n^-beta, dx = g n^-beta - 2 alpha beta x window_sum(g x n^(-beta-1)).
Tensor lrn_grad_ops(const Tensor& g, const Tensor& x, const LrnParams& p) {
  Tensor n = channel_window_sum(square(x), p.radius) * p.alpha + p.bias;
  return g * pow(n, -p.beta) - x * channel_window_sum(g * x * pow(n, -p.beta - 1.0), p.radius) * (2 * p.alpha * p.beta);
}

}  // namespace

Tensor local_response_normalization(const Tensor& input, std::int64_t depth_radius, double bias, double alpha,
                                    double beta) {
  static constexpr const char* op = "local_response_normalization";
  return autograd::apply(
      {"LRN", op, DTypes::Floating, "T", "input"}, {input},
      {{"depth_radius", depth_radius}, {"bias", bias}, {"alpha", alpha}, {"beta", beta}},
      [depth_radius](Args in) {
        if (depth_radius < 0) throw ValueError(fmt::format("{}: depth_radius must be >= 0, got {}", op, depth_radius));
        if (in[0].rank() != 4)
          throw ShapeError(fmt::format("{}: input must be 4-D [batch, height, width, channels] (NHWC), got {} of "
                                       "rank {}; reshape it, e.g. reshape(x, {{-1, 1, 1, C}}) for [batch, C] features",
                                       op, in[0].shape().str(), in[0].rank()));
        return OutputSpec{in[0].shape(), in[0].dtype()};
      },
      [depth_radius, bias, alpha, beta](Args in, const OutputSpec&) {
        const Tensor& input = in[0];
        const LrnParams params{input.numel() / std::max<std::int64_t>(1, input.dim(3)), input.dim(3), depth_radius,
                               bias, alpha, beta};
        Tensor y = Tensor::empty(input.shape(), input.dtype());
        Tensor norm = Tensor::empty(input.shape(), input.dtype());  // bias + alpha * sqr_sum, for the backward
        detail::visit_floating(op, input, [&]<class T>() {
          lrn_forward<T>(input.data<T>(), y.data<T>(), norm.data<T>(), params);
        });
        return with_backward(y, [saved = autograd::save(input), norm, params](const Tensor& g) {
          const Tensor& x = *saved;
          auto kernel = [&] {
            Tensor dx = Tensor::empty(x.shape(), x.dtype());
            detail::visit_floating("LRNGrad", x, [&]<class T>() {
              lrn_backward<T>(g.data<T>(), x.data<T>(), norm.data<T>(), dx.data<T>(), params);
            });
            return dx;
          };
          return Grads{autograd::kernel_or_ops(kernel, [&] { return lrn_grad_ops(g, x, params); })};
        });
      });
}

// ------------------------------------------------------------------------ moments, batch_normalization

Moments moments(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  // A composite of other ops, as TensorFlow's: its own checks first, so that errors name it.
  detail::check_defined("moments", x);
  detail::check_floating("moments", x);
  Tensor mean = reduce_mean(x, axes, true);
  // TensorFlow's deviations use stop_gradient(mean): the first derivative is the same (the
  // variance is stationary in the mean) but the second is not, so tapeflow keeps the mean's path.
  Tensor variance = reduce_mean(square(x - mean), axes, keepdims);
  if (keepdims) return {mean, variance};
  return {squeeze(mean, axes.empty() ? all_axes(x.rank()) : axes), variance};
}

Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& offset,
                           const Tensor& scale, double variance_epsilon) {
  // A composite of element-wise ops, as TensorFlow's: its own checks first, so that errors name it.
  const char* op = "batch_normalization";
  detail::check_defined(op, x);
  if (!mean.defined() || !variance.defined())
    throw ValueError(fmt::format("{}: mean and variance are required (got an undefined {}); only offset and scale "
                                 "may be left out",
                                 op, mean.defined() ? "variance" : "mean"));
  detail::check_floating(op, x);
  const std::pair<const char*, const Tensor*> params[] = {
      {"mean", &mean}, {"variance", &variance}, {"offset", &offset}, {"scale", &scale}};
  for (const auto& [what, t] : params) {
    if (!t->defined()) continue;
    check_float(op, what, *t, x);
    check_broadcasts(op, what, *t, x);
  }
  // TensorFlow's arrangement: only one multiply and one add touch x.
  //   inv = scale / sqrt(variance + eps);  y = x * inv + (offset - mean * inv)
  Tensor inv = rsqrt(variance + variance_epsilon);
  if (scale.defined()) inv = inv * scale;
  Tensor shift = offset.defined() ? offset - mean * inv : neg(mean * inv);
  return x * inv + shift;
}

// ------------------------------------------------------------------------------------ batch_norm

namespace {

/// The checks of the batch-norm ops' operands: x [..., C] with rank >= 2, the others [C].
void check_batch_norm_operands(Args in) {
  const Tensor& x = in[0];
  if (x.rank() < 2)
    throw ShapeError(fmt::format("batch_norm: x must have rank >= 2 ([batch, ..., channels], e.g. NHWC), got {}",
                                 x.shape().str()));
  const char* what[] = {"x", "scale (gamma)", "offset (beta)", "mean (moving_mean)", "variance (moving_variance)"};
  for (std::size_t i = 1; i < 5 && i < in.size(); ++i)
    if (in[i].defined()) check_channel_vector(what[i], in[i], x);
}

/// FusedBatchNormGrad written in ops, from x, scale and the gradients of y, the batch mean and the
/// batch variance: what a create_graph backward records, so that it can be differentiated again.
/// The statistics are recomputed from x in ops (their own dependence on x is part of the second
/// derivative).
Grads batch_norm_training_grad_ops(std::span<const Tensor> g, const Tensor& x, const Tensor& scale, double epsilon,
                                   bool need_x, bool need_scale, bool need_offset) {
  std::vector<int> axes(static_cast<std::size_t>(x.rank() - 1));
  std::iota(axes.begin(), axes.end(), 0);
  const double rows = static_cast<double>(x.numel() / x.dim(-1));
  Tensor mean = reduce_mean(x, axes);
  Tensor centred = x - mean;
  Tensor inv = rsqrt(reduce_mean(square(centred), axes) + epsilon);
  Tensor xhat = centred * inv;
  Grads grads(3);
  if (g[0].defined()) {
    if (need_offset) grads[2] = reduce_sum(g[0], axes);
    if (need_scale) grads[1] = reduce_sum(g[0] * xhat, axes);
    if (need_x) {
      Tensor dxhat = scale.defined() ? g[0] * scale : g[0];
      grads[0] = (dxhat - reduce_mean(dxhat, axes) - xhat * reduce_mean(dxhat * xhat, axes)) * inv;
    }
  }
  if (need_x) {  // the batch statistics' own gradients
    auto add = [&](const Tensor& t) { grads[0] = grads[0].defined() ? grads[0] + t : t; };
    if (g[1].defined()) add(broadcast_to(g[1] / rows, x.shape()));
    if (g[2].defined()) add(centred * (g[2] * (2.0 / rows)));
  }
  return grads;
}

/// Training-mode batch normalization as one op with TensorFlow's three outputs: y, the batch mean
/// and the batch variance (biased), with one fused kernel each way.
BatchNormOutput batch_norm_training(const Tensor& x, const Tensor& scale, const Tensor& offset, double epsilon) {
  std::vector<Tensor> out = autograd::apply(
      {"FusedBatchNorm", "fused_batch_norm", DTypes::Floating, "Ttt", "x,scale,offset"}, {x, scale, offset},
      {{"epsilon", epsilon}, {"is_training", true}, {"data_format", "NHWC"}},
      [](Args in) {
        check_batch_norm_operands(in);
        const OutputSpec stat{Shape{in[0].dim(-1)}, in[0].dtype()};
        return std::vector<OutputSpec>{{in[0].shape(), in[0].dtype()}, stat, stat};
      },
      [epsilon](Args in, const std::vector<OutputSpec>&) {
        const Tensor &x = in[0], &scale = in[1], &offset = in[2];
        if (x.numel() == 0)
          throw ValueError(fmt::format("batch_norm: x {} is empty; batch statistics need at least one row (or use "
                                       "inference mode)",
                                       x.shape().str()));
        Tensor y;
        BatchStats stats = detail::visit_floating("batch_norm", x, [&]<class T>() {
          return batch_norm_forward<T>(x, scale, offset, epsilon, y);
        });
        const bool need_x = x.requires_grad(), need_scale = scale.defined() && scale.requires_grad(),
                   need_offset = offset.defined() && offset.requires_grad();
        return autograd::with_backward(
            std::vector<Tensor>{y, stats.mean, stats.variance},
            [saved_x = autograd::save(x), saved_mean = autograd::save_output(stats.mean), inv = stats.inv_std,
             saved_scale = autograd::save(scale), epsilon, need_x, need_scale,
             need_offset](std::span<const Tensor> g) {
              const Tensor &x = *saved_x, &scale = *saved_scale, &mean = *saved_mean;
              auto kernel = [&] {
                const Tensor xs = x.detach(), gamma = scale.defined() ? scale.detach() : Tensor();
                Grads grads(3);
                if (g[0].defined())
                  grads = detail::visit_floating("FusedBatchNormGrad", xs, [&]<class T>() {
                    return batch_norm_backward<T>(g[0], xs, mean, inv, gamma, need_x, need_scale, need_offset);
                  });
                // The batch statistics' own gradients: d mean / dx = 1 / M, d var / dx = 2 (x - mean) / M.
                if (need_x && (g[1].defined() || g[2].defined())) {
                  const double rows = static_cast<double>(xs.numel() / xs.dim(-1));
                  Tensor extra = zeros_like(xs);
                  if (g[1].defined()) extra = extra + g[1] / rows;
                  if (g[2].defined()) extra = extra + (xs - mean) * (g[2] * (2.0 / rows));
                  grads[0] = grads[0].defined() ? grads[0] + extra : extra;
                }
                return grads;
              };
              return autograd::kernel_or_ops(kernel, [&] {
                return batch_norm_training_grad_ops(g, x, scale, epsilon, need_x, need_scale, need_offset);
              });
            });
      });
  return {out[0], out[1], out[2]};
}

}  // namespace

BatchNormOutput fused_batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& mean,
                                 const Tensor& variance, double epsilon, const Tensor& is_training) {
  std::vector<Tensor> out = autograd::apply(
      {"FusedBatchNorm", "fused_batch_norm", DTypes::Floating, "TttTTb",
       "x,scale (gamma),offset (beta),mean (moving_mean),variance (moving_variance),training"},
      {x, scale, offset, mean, variance, is_training}, {{"epsilon", epsilon}, {"data_format", "NHWC"}},
      [epsilon](Args in) {
        if (!(epsilon >= 0.0)) throw ValueError(fmt::format("batch_norm: epsilon must be >= 0, got {}", epsilon));
        check_batch_norm_operands(in);
        if (in[5].rank() != 0)
          throw ShapeError(fmt::format("batch_norm: training must be a bool scalar tensor [] (e.g. "
                                       "placeholder(bool_, {{}}) or scalar(1, bool_)), got {} {}",
                                       dtype_name(in[5].dtype()), in[5].shape().str()));
        const OutputSpec stat{Shape{in[0].dim(-1)}, in[0].dtype()};
        return std::vector<OutputSpec>{{in[0].shape(), in[0].dtype()}, stat, stat};
      },
      [epsilon](Args in, const std::vector<OutputSpec>&) -> std::vector<Tensor> {
        // The training flag's value picks the statistics (a graph's is fed per run): a composite
        // of the training op above or of batch_normalization, which record themselves.
        if (in[5].item<bool>()) {
          BatchNormOutput o = batch_norm_training(in[0], in[1], in[2], epsilon);
          return {o.y, o.batch_mean, o.batch_variance};
        }
        // Copies of the [C] statistics: a later training step updates the moving ones in place,
        // and the backward of this output must not see that. (They get no gradient.)
        Tensor m = in[3].clone(), v = in[4].clone();
        return {batch_normalization(in[0], m, v, in[2], in[1], epsilon), m, v};
      });
  return {out[0], out[1], out[2]};
}

BatchNormOutput fused_batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& mean,
                                 const Tensor& variance, double epsilon, bool is_training) {
  return fused_batch_norm(x, scale, offset, mean, variance, epsilon, scalar(is_training ? 1 : 0, bool_));
}

Tensor assign_moving_average(const Tensor& moving, const Tensor& value, double decay, const Tensor& training) {
  return autograd::apply(
      {"AssignSub", "assign_moving_average", DTypes::Floating, "TTb", "moving,value,training"},
      {moving, value, training}, {{"decay", decay}},
      [decay](Args in) {
        if (!(decay >= 0.0 && decay <= 1.0))
          throw ValueError(fmt::format("batch_norm: decay must be in [0, 1], got {}", decay));
        if (in[1].shape() != in[0].shape() && in[1].shape().is_fully_known() && in[0].shape().is_fully_known())
          throw ShapeError(fmt::format("assign_moving_average: value {} must have the shape of moving {}",
                                       in[1].shape().str(), in[0].shape().str()));
        return OutputSpec{in[0].shape(), in[0].dtype()};
      },
      [decay](Args in, const OutputSpec&) {
        Tensor moving = in[0];
        if (in[2].item<bool>()) {
          NoGradGuard no_grad;
          axpy_(moving, -1.0, (moving - in[1].detach()) * (1.0 - decay));  // moving -= (moving - value) * (1 - decay)
        }
        return moving;
      });
}

Tensor batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& moving_mean,
                  const Tensor& moving_variance, bool training, double decay, double epsilon) {
  return batch_norm(x, scale, offset, moving_mean, moving_variance, scalar(training ? 1 : 0, bool_), decay, epsilon);
}

Tensor batch_norm(const Tensor& x, const Tensor& scale, const Tensor& offset, const Tensor& moving_mean,
                  const Tensor& moving_variance, const Tensor& training, double decay, double epsilon) {
  if (!moving_mean.defined() || !moving_variance.defined())
    throw ValueError(fmt::format("batch_norm: moving_mean and moving_variance are required; create them as "
                                 "zeros({{{0}}}) and ones({{{0}}}) of x's dtype",
                                 x.defined() && x.rank() > 0 ? fmt::format("{}", x.dim(-1)) : std::string("C")));
  if (!(decay >= 0.0 && decay <= 1.0))
    throw ValueError(fmt::format("batch_norm: decay must be in [0, 1], got {}", decay));
  BatchNormOutput out = fused_batch_norm(x, scale, offset, moving_mean, moving_variance, epsilon, training);
  assign_moving_average(moving_mean, out.batch_mean, decay, training);
  assign_moving_average(moving_variance, out.batch_variance, decay, training);
  return out.y;
}

// ------------------------------------------------------------------------------------ layer_norm

namespace {

/// A layer norm's geometry: x as [rows, width], width the product of the normalised axes.
struct LayerNormPlan : OutputSpec {
  int begin = 0;
  std::int64_t rows = 0, width = 0;
};

template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, const LayerNormPlan& p,
                        double epsilon) {
  detail::parallel_rows(p.rows, p.width, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      detail::ConstArrayMap<T> row(x + r * p.width, p.width);
      const T m = row.sum() / static_cast<T>(p.width);
      const T v = (row - m).square().sum() / static_cast<T>(p.width);
      const T s = T(1) / std::sqrt(v + static_cast<T>(epsilon));
      mean[r] = m;
      rstd[r] = s;
      detail::ArrayMap<T> out(y + r * p.width, p.width);
      out = (row - m) * s;
      if (gamma) out *= detail::ConstArrayMap<T>(gamma, p.width);
      if (beta) out += detail::ConstArrayMap<T>(beta, p.width);
    }
  });
}

/// The first-order gradients (dx, dgamma, dbeta) from the saved row statistics:
///   dxhat = g * gamma;  dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
template <class T>
Grads layer_norm_backward(const Tensor& g, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                          const Tensor& rstd, const LayerNormPlan& p, bool need_x, bool need_gamma, bool need_beta) {
  const T* gp = g.data<T>();
  const T* xp = x.data<T>();
  const T* gm = gamma.defined() ? gamma.data<T>() : nullptr;
  const T* mp = mean.data<T>();
  const T* sp = rstd.data<T>();
  Grads grads(3);
  if (need_x) {
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    T* d = dx.data<T>();
    detail::parallel_rows(p.rows, p.width, [&](std::int64_t r0, std::int64_t r1) {
      Eigen::Array<T, Eigen::Dynamic, 1> xhat(p.width), dxhat(p.width);
      for (std::int64_t r = r0; r < r1; ++r) {
        xhat = (detail::ConstArrayMap<T>(xp + r * p.width, p.width) - mp[r]) * sp[r];
        dxhat = detail::ConstArrayMap<T>(gp + r * p.width, p.width);
        if (gm) dxhat *= detail::ConstArrayMap<T>(gm, p.width);
        const T a = dxhat.mean(), b = (dxhat * xhat).mean();
        detail::ArrayMap<T>(d + r * p.width, p.width) = sp[r] * (dxhat - a - xhat * b);
      }
    });
    grads[0] = dx;
  }
  if (need_gamma || need_beta) {
    const std::vector<double> sums = column_sums(p.rows, p.width, 2, [&](std::int64_t r, double* acc) {
      const T* gr = gp + r * p.width;
      const T* xr = xp + r * p.width;
      for (std::int64_t c = 0; c < p.width; ++c) {
        acc[c] += static_cast<double>(gr[c]) * static_cast<double>((xr[c] - mp[r]) * sp[r]);
        acc[p.width + c] += static_cast<double>(gr[c]);
      }
    });
    const std::vector<std::int64_t> dims = x.shape().vec();
    const Shape params(std::vector<std::int64_t>(dims.begin() + p.begin, dims.end()));
    if (need_gamma) grads[1] = reshape(vector_tensor<T>(sums, 0, p.width), params);
    if (need_beta) grads[2] = reshape(vector_tensor<T>(sums, static_cast<std::size_t>(p.width), p.width), params);
  }
  return grads;
}

/// The same gradients in ops, recomputing the statistics from x: what a create_graph backward
/// records, so that they differentiate again.
Grads layer_norm_grad_ops(const Tensor& g, const Tensor& x, const Tensor& gamma, int begin, double epsilon,
                          bool need_x, bool need_gamma, bool need_beta) {
  std::vector<int> axes, leading;
  for (int i = 0; i < x.rank(); ++i) (i < begin ? leading : axes).push_back(i);
  const Tensor centred = x - reduce_mean(x, axes, true);
  const Tensor rstd = rsqrt(reduce_mean(square(centred), axes, true) + epsilon);
  const Tensor xhat = centred * rstd;
  Grads grads(3);
  if (need_x) {
    const Tensor dxhat = gamma.defined() ? g * gamma : g;
    grads[0] = rstd * (dxhat - reduce_mean(dxhat, axes, true) - xhat * reduce_mean(dxhat * xhat, axes, true));
  }
  if (need_gamma) grads[1] = reduce_sum(g * xhat, leading);
  if (need_beta) grads[2] = reduce_sum(g, leading);
  return grads;
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double epsilon, int begin_norm_axis) {
  return autograd::apply(
      {"LayerNorm", "layer_norm", DTypes::Floating, "Ttt", "x,gamma (scale),beta (offset)"}, {x, gamma, beta},
      {{"epsilon", epsilon}, {"begin_norm_axis", begin_norm_axis}},
      [epsilon, begin_norm_axis](Args in) {
        const Shape& s = in[0].shape();
        if (!(epsilon >= 0.0))
          throw ValueError(fmt::format("layer_norm: epsilon must be >= 0, got {}", epsilon));
        const int begin = begin_norm_axis < 0 ? begin_norm_axis + s.rank() : begin_norm_axis;
        if (s.rank() == 0 || begin < 0 || begin >= s.rank())
          throw ShapeError(fmt::format("layer_norm: begin_norm_axis {} is out of range for x {} of rank {}; the "
                                       "normalised axes are [begin_norm_axis, rank), at least the last one",
                                       begin_norm_axis, s.str(), s.rank()));
        const std::vector<std::int64_t> dims = s.vec();
        const Shape params(std::vector<std::int64_t>(dims.begin() + begin, dims.end()));
        const char* names[] = {"x", "gamma", "beta"};
        for (int i = 1; i < 3; ++i) {
          if (!in[i].defined()) continue;
          const Shape& ps = in[i].shape();
          bool ok = ps.rank() == params.rank();
          for (int d = 0; ok && d < ps.rank(); ++d)
            ok = detail::dims_match(ps[d], params[d]);
          if (!ok)
            throw ShapeError(fmt::format("layer_norm: {} has shape {} but x {} is normalised over its axes from "
                                         "{} on, {}: {} must have that shape",
                                         names[i], ps.str(), s.str(), begin, params.str(), names[i]));
        }
        LayerNormPlan p;
        p.shape = s;
        p.dtype = in[0].dtype();
        p.begin = begin;
        p.width = params.is_fully_known() ? params.numel() : -1;
        p.rows = s.is_fully_known() && p.width > 0 ? s.numel() / p.width : 0;
        return p;
      },
      [epsilon](Args in, const LayerNormPlan& p) {
        const Tensor &x = in[0], &gamma = in[1], &beta = in[2];
        Tensor y = Tensor::empty(x.shape(), x.dtype());
        Tensor mean = Tensor::empty(Shape{p.rows}, x.dtype()), rstd = Tensor::empty(Shape{p.rows}, x.dtype());
        detail::visit_floating("layer_norm", x, [&]<class T>() {
          layer_norm_forward<T>(x.data<T>(), gamma.defined() ? gamma.data<T>() : nullptr,
                                beta.defined() ? beta.data<T>() : nullptr, y.data<T>(), mean.data<T>(),
                                rstd.data<T>(), p, epsilon);
        });
        return autograd::with_backward(
            y, [x = autograd::save(x), gamma = autograd::save(gamma), mean, rstd, p, epsilon,
                need_x = x.requires_grad(), need_gamma = gamma.defined() && gamma.requires_grad(),
                need_beta = beta.defined() && beta.requires_grad()](const Tensor& g) {
              auto kernel = [&] {
                return detail::visit_floating("LayerNormGrad", g, [&]<class T>() {
                  return layer_norm_backward<T>(g, *x, gamma.defined() ? *gamma : Tensor(), mean, rstd, p, need_x,
                                                need_gamma, need_beta);
                });
              };
              return autograd::kernel_or_ops(kernel, [&] {
                return layer_norm_grad_ops(g, *x, gamma.defined() ? *gamma : Tensor(), p.begin, epsilon, need_x,
                                           need_gamma, need_beta);
              });
            });
      });
}

}  // namespace tapeflow::nn
