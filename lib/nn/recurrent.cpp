// LSTM and GRU: the fused steps (a kernel each way; the same gradients in ops for create_graph)
// and the modules that run them over sequences.
#include "tapeflow/nn/recurrent.h"

#include <cmath>

#include "autograd/door.h"
#include "nn/module_checks.h"
#include "ops/kernels.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/nn/init.h"
#include "tapeflow/nn/linear.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/linalg.h"

namespace tapeflow::nn {

namespace kd = tapeflow::detail;
using autograd::Args;
using autograd::DTypes;

namespace {

/// The checks of a step's operands: each [B, width] with one B, `names` for the messages.
void check_step(const char* op, Args in, const std::vector<std::int64_t>& widths, const char* const* names,
                std::int64_t hidden) {
  const std::int64_t batch = in[0].rank() == 2 ? in[0].dim(0) : -2;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    const Shape& s = in[i].shape();
    const bool ok = s.rank() == 2 && kd::dims_match(s[0], batch) && kd::dims_match(s[1], widths[i]);
    if (!ok)
      throw ShapeError(fmt::format("{}: {} must be [batch, {}] for {} units, got {}", op, names[i],
                                   widths[i] == Shape::kUnknown ? std::string("?") : std::to_string(widths[i]),
                                   hidden, s.str()));
  }
}

void check_square(const char* op, const char* name, const Tensor& w, std::int64_t rows, std::int64_t cols) {
  const Shape& s = w.shape();
  if (s.rank() != 2 || (s[0] != rows && s[0] != Shape::kUnknown) || (s[1] != cols && s[1] != Shape::kUnknown))
    throw ShapeError(fmt::format("{}: {} must be [{}, {}], got {}", op, name, rows, cols, s.str()));
}

// -------------------------------------------------------------------------------- LSTM step

/// The LSTM cell's pointwise part on B rows: `act` [B, 4H] holds the gates and becomes their
/// activations i, j, f, o; c_next = c_prev * f + i * j, h_next = tanh(c_next) * o.
template <class T>
void lstm_cell_rows(T* act, const T* c_prev, T* c_next, T* h_next, std::int64_t B, std::int64_t H, T forget_bias) {
  kd::parallel_rows(B, 8 * H, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      T* g = act + b * 4 * H;
      kd::ArrayMap<T> i(g, H), j(g + H, H), f(g + 2 * H, H), o(g + 3 * H, H);
      i = i.logistic();
      j = j.tanh();
      f = (f + forget_bias).logistic();
      o = o.logistic();
      kd::ArrayMap<T> cn(c_next + b * H, H);
      cn = kd::ConstArrayMap<T>(c_prev + b * H, H) * f + i * j;
      kd::ArrayMap<T>(h_next + b * H, H) = cn.tanh() * o;
    }
  });
}

/// Its gradient on B rows: from the activations, c_prev, c_next and the gradients dh, dc of
/// h_next and c_next, the gates' gradient dgates [B, 4H] and dc_prev (which may be dc).
template <class T>
void lstm_cell_grad_rows(const T* act, const T* c_prev, const T* c_next, const T* dh, const T* dc, T* dgates,
                         T* dc_prev, std::int64_t B, std::int64_t H) {
  kd::parallel_rows(B, 8 * H, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const T* g = act + b * 4 * H;
      kd::ConstArrayMap<T> i(g, H), j(g + H, H), f(g + 2 * H, H), o(g + 3 * H, H);
      kd::ConstArrayMap<T> cp(c_prev + b * H, H), gh(dh + b * H, H);
      const auto th = kd::ConstArrayMap<T>(c_next + b * H, H).tanh().eval();
      const auto d = (kd::ConstArrayMap<T>(dc + b * H, H) + gh * o * (T(1) - th.square())).eval();
      T* out = dgates + b * 4 * H;
      kd::ArrayMap<T>(out, H) = d * j * i * (T(1) - i);
      kd::ArrayMap<T>(out + H, H) = d * i * (T(1) - j.square());
      kd::ArrayMap<T>(out + 2 * H, H) = d * cp * f * (T(1) - f);
      kd::ArrayMap<T>(out + 3 * H, H) = gh * th * o * (T(1) - o);
      kd::ArrayMap<T>(dc_prev + b * H, H) = d * f;
    }
  });
}

/// The LSTM step's gradients in ops (what a create_graph backward records), recomputing the gates.
Grads lstm_grad_ops(const Tensor& dh_in, const Tensor& dc_in, const Tensor& xp, const Tensor& h, const Tensor& c,
                    const Tensor& w, double forget_bias) {
  const std::vector<Tensor> g = split(xp + matmul(h, w), 4, 1);
  const Tensor i = sigmoid(g[0]), j = tanh(g[1]), f = sigmoid(g[2] + forget_bias), o = sigmoid(g[3]);
  const Tensor c2 = c * f + i * j, th = tanh(c2);
  const Tensor dc = dc_in + dh_in * o * (1.0 - square(th));
  const Tensor dgates = concat({dc * j * i * (1.0 - i), dc * i * (1.0 - square(j)), dc * c * f * (1.0 - f),
                                dh_in * th * o * (1.0 - o)},
                               1);
  return {dgates, matmul(dgates, w, false, true), dc * f, matmul(h, dgates, true, false)};
}

}  // namespace

LSTMState lstm_step(const Tensor& x_proj, const LSTMState& state, const Tensor& w_h, double forget_bias) {
  static const char* const kNames[] = {"x_proj", "h", "c"};
  std::vector<Tensor> out = autograd::apply(
      {"LSTMStep", "lstm_step", DTypes::Floating, "T", "x_proj,h,c,w_h"}, {x_proj, state.h, state.c, w_h},
      {{"forget_bias", forget_bias}},
      [](Args in) {
        const std::int64_t hidden = in[1].rank() == 2 ? in[1].dim(1) : Shape::kUnknown;
        check_step("lstm_step", in, {hidden == Shape::kUnknown ? Shape::kUnknown : 4 * hidden, hidden, hidden},
                   kNames, hidden);
        check_square("lstm_step", "w_h", in[3], hidden, hidden == Shape::kUnknown ? Shape::kUnknown : 4 * hidden);
        const OutputSpec spec{in[1].shape(), in[1].dtype()};
        return std::vector<OutputSpec>{spec, spec};
      },
      [forget_bias](Args in, const std::vector<OutputSpec>&) {
        const Tensor &xp = in[0], &h = in[1], &c = in[2], &w = in[3];
        const std::int64_t B = h.dim(0), H = h.dim(1);
        Tensor act = Tensor::empty(xp.shape(), xp.dtype());  // gates, then i, j, f, o
        Tensor h2 = Tensor::empty(h.shape(), h.dtype()), c2 = Tensor::empty(c.shape(), c.dtype());
        kd::visit_floating("lstm_step", xp, [&]<class T>() {
          T* a = act.data<T>();
          std::copy_n(xp.data<T>(), B * 4 * H, a);
          kd::gemm(h.data<T>(), w.data<T>(), a, B, H, 4 * H, false, false, /*accumulate=*/true);
          lstm_cell_rows<T>(a, c.data<T>(), c2.data<T>(), h2.data<T>(), B, H, static_cast<T>(forget_bias));
        });
        return autograd::with_backward(
            std::vector<Tensor>{h2, c2},
            [act, xp = autograd::save(xp), h = autograd::save(h), c = autograd::save(c), w = autograd::save(w),
             c2 = autograd::save_output(c2), forget_bias](std::span<const Tensor> grads) {
              const Tensor dh = grads[0].defined() ? grads[0] : zeros(h.shape(), h.dtype());
              const Tensor dc_in = grads[1].defined() ? grads[1] : zeros(c.shape(), c.dtype());
              auto kernel = [&] {
                const std::int64_t B = h.shape()[0], H = h.shape()[1];
                Tensor dgates = Tensor::empty(xp.shape(), xp.dtype()), dc = Tensor::empty(c.shape(), c.dtype());
                Tensor dh_prev = Tensor::empty(h.shape(), h.dtype()), dw = Tensor::empty(w.shape(), w.dtype());
                kd::visit_floating("LSTMStepGrad", dh, [&]<class T>() {
                  T* dg = dgates.data<T>();
                  lstm_cell_grad_rows<T>(act.data<T>(), c->data<T>(), c2->data<T>(), dh.data<T>(), dc_in.data<T>(), dg,
                                         dc.data<T>(), B, H);
                  kd::gemm(dg, w->data<T>(), dh_prev.data<T>(), B, 4 * H, H, false, true);  // dgates · w_hᵀ
                  kd::gemm(h->data<T>(), dg, dw.data<T>(), H, B, 4 * H, true, false);       // hᵀ · dgates
                });
                return Grads{dgates, dh_prev, dc, dw};
              };
              return autograd::kernel_or_ops(kernel, [&] { return lstm_grad_ops(dh, dc_in, *xp, *h, *c, *w, forget_bias); });
            });
      });
  return {out[0], out[1]};
}

namespace {

/// Step t's [B, width] slice of a time-major [T, B, width] tensor (ops: recorded, differentiable).
Tensor step_of(const Tensor& time_major, std::int64_t t) {
  const std::int64_t B = time_major.dim(1), width = time_major.dim(2);
  return reshape(slice(time_major, {t, 0, 0}, {1, B, width}), Shape{B, width});
}

/// h at the start of every step, [T, B, H]: h0, then hs [T, B, H] but its last step (the rows
/// whose products with the gates' gradients give the recurrent weights' gradients).
template <class T>
Tensor previous_states(const Tensor& h0, const Tensor& hs) {
  const std::int64_t n = h0.numel();
  Tensor out = Tensor::empty(hs.shape(), hs.dtype());
  std::copy_n(h0.data<T>(), n, out.data<T>());
  std::copy_n(hs.data<T>(), (hs.dim(0) - 1) * n, out.data<T>() + n);
  return out;
}

/// lstm_sequence's gradients in ops (what a create_graph backward records): the states again by
/// lstm_step, then the steps' gradients from the last back.
Grads lstm_sequence_grad_ops(std::span<const Tensor> grads, const Tensor& xp, const Tensor& h0, const Tensor& c0,
                             const Tensor& w, double forget_bias) {
  const std::int64_t T = xp.dim(0);
  std::vector<LSTMState> prev{{h0, c0}};
  for (std::int64_t t = 0; t + 1 < T; ++t) prev.push_back(lstm_step(step_of(xp, t), prev.back(), w, forget_bias));
  Tensor dh = grads[1].defined() ? grads[1] : zeros(h0.shape(), h0.dtype());
  Tensor dc = grads[2].defined() ? grads[2] : zeros(c0.shape(), c0.dtype());
  Tensor dw;
  std::vector<Tensor> dgates(static_cast<std::size_t>(T));
  for (std::int64_t t = T - 1; t >= 0; --t) {
    if (grads[0].defined()) dh = dh + step_of(grads[0], t);
    const LSTMState& s = prev[static_cast<std::size_t>(t)];
    Grads g = lstm_grad_ops(dh, dc, step_of(xp, t), s.h, s.c, w, forget_bias);
    dgates[static_cast<std::size_t>(t)] = g[0];
    dh = g[1];
    dc = g[2];
    dw = dw.defined() ? dw + g[3] : g[3];
  }
  return {stack(dgates, 0), dh, dc, dw};
}

}  // namespace

LSTMSequenceOutput lstm_sequence(const Tensor& x_proj, const LSTMState& state, const Tensor& w_h, double forget_bias) {
  static const char* const kNames[] = {"h", "c"};
  std::vector<Tensor> out = autograd::apply(
      {"LSTMSequence", "lstm_sequence", DTypes::Floating, "T", "x_proj,h,c,w_h"}, {x_proj, state.h, state.c, w_h},
      {{"forget_bias", forget_bias}},
      [](Args in) {
        const std::int64_t hidden = in[1].rank() == 2 ? in[1].dim(1) : Shape::kUnknown;
        const std::int64_t gates = hidden == Shape::kUnknown ? Shape::kUnknown : 4 * hidden;
        const Shape& xs = in[0].shape();
        if (xs.rank() != 3 || !kd::dims_match(xs[2], gates) ||
            (in[1].rank() == 2 && !kd::dims_match(xs[1], in[1].dim(0))))
          throw ShapeError(fmt::format("lstm_sequence: x_proj must be [time, batch, {}] for {} units{}, got {}",
                                       gates == Shape::kUnknown ? std::string("?") : std::to_string(gates), hidden,
                                       in[1].rank() == 2 ? fmt::format(" and h {}", in[1].shape().str()) : "",
                                       xs.str()));
        if (xs[0] == 0) throw ValueError(fmt::format("lstm_sequence: x_proj {} has no time steps", xs.str()));
        check_step("lstm_sequence", in.subspan(1), {hidden, hidden}, kNames, hidden);
        check_square("lstm_sequence", "w_h", in[3], hidden, gates);
        const OutputSpec state_spec{in[1].shape(), in[1].dtype()};
        return std::vector<OutputSpec>{{Shape{xs[0], in[1].shape()[0], hidden}, in[1].dtype()}, state_spec,
                                       state_spec};
      },
      [forget_bias](Args in, const std::vector<OutputSpec>&) {
        const Tensor &xp = in[0], &h0 = in[1], &c0 = in[2], &w = in[3];
        const std::int64_t T = xp.dim(0), B = h0.dim(0), H = h0.dim(1);
        Tensor act = Tensor::empty(xp.shape(), xp.dtype());  // gates, then i, j, f, o, of every step
        Tensor hs = Tensor::empty(Shape{T, B, H}, h0.dtype()), cs = Tensor::empty(Shape{T, B, H}, c0.dtype());
        Tensor h_last = Tensor::empty(h0.shape(), h0.dtype()), c_last = Tensor::empty(c0.shape(), c0.dtype());
        kd::visit_floating("lstm_sequence", xp, [&]<class T_>() {
          T_* a = act.data<T_>();
          T_ *hp = hs.data<T_>(), *cp = cs.data<T_>();
          std::copy_n(xp.data<T_>(), T * B * 4 * H, a);
          const kd::PackedRhs<T_> w_packed(w.data<T_>(), H, 4 * H, false, B);  // packed once for all steps
          for (std::int64_t t = 0; t < T; ++t) {
            const T_* h_prev = t == 0 ? h0.data<T_>() : hp + (t - 1) * B * H;
            const T_* c_prev = t == 0 ? c0.data<T_>() : cp + (t - 1) * B * H;
            T_* at = a + t * B * 4 * H;
            w_packed.multiply(h_prev, at, /*accumulate=*/true);
            lstm_cell_rows<T_>(at, c_prev, cp + t * B * H, hp + t * B * H, B, H, static_cast<T_>(forget_bias));
          }
          std::copy_n(hp + (T - 1) * B * H, B * H, h_last.data<T_>());
          std::copy_n(cp + (T - 1) * B * H, B * H, c_last.data<T_>());
        });
        return autograd::with_backward(
            std::vector<Tensor>{hs, h_last, c_last},
            [act, cs, xp = autograd::save(xp), h0 = autograd::save(h0), c0 = autograd::save(c0),
             w = autograd::save(w), hs = autograd::save_output(hs), forget_bias](std::span<const Tensor> grads) {
              auto kernel = [&] {
                const std::int64_t T = xp.shape()[0], B = h0.shape()[0], H = h0.shape()[1];
                Tensor dgates = Tensor::empty(xp.shape(), xp.dtype()), dw = Tensor::empty(w.shape(), w.dtype());
                Tensor dh = grads[1].defined() ? grads[1].clone() : zeros(h0.shape(), h0.dtype());
                Tensor dc = grads[2].defined() ? grads[2].clone() : zeros(c0.shape(), c0.dtype());
                kd::visit_floating("LSTMSequenceGrad", dh, [&]<class T_>() {
                  const kd::PackedRhs<T_> w_t(w->data<T_>(), 4 * H, H, /*tb=*/true, B);  // w_hᵀ, packed once
                  const T_ *a = act.data<T_>(), *cp = cs.data<T_>();
                  T_ *dg = dgates.data<T_>(), *dhp = dh.data<T_>(), *dcp = dc.data<T_>();
                  const T_* dhs = grads[0].defined() ? grads[0].data<T_>() : nullptr;
                  for (std::int64_t t = T - 1; t >= 0; --t) {
                    if (dhs) kd::amap<T_>(dh) += kd::ConstArrayMap<T_>(dhs + t * B * H, B * H);
                    const T_* c_prev = t == 0 ? c0->data<T_>() : cp + (t - 1) * B * H;
                    T_* dgt = dg + t * B * 4 * H;
                    lstm_cell_grad_rows<T_>(a + t * B * 4 * H, c_prev, cp + t * B * H, dhp, dcp, dgt, dcp, B, H);
                    w_t.multiply(dgt, dhp, /*accumulate=*/false);  // dh_prev = dgates · w_hᵀ
                  }
                  const Tensor h_prev = previous_states<T_>(*h0, *hs);
                  kd::gemm(h_prev.data<T_>(), dg, dw.data<T_>(), H, T * B, 4 * H, true, false);  // Σ_t h_prevᵀ · dgates
                });
                return Grads{dgates, dh, dc, dw};
              };
              return autograd::kernel_or_ops(
                  kernel, [&] { return lstm_sequence_grad_ops(grads, *xp, *h0, *c0, *w, forget_bias); });
            });
      });
  return {out[0], {out[1], out[2]}};
}

// --------------------------------------------------------------------------------- GRU step

namespace {

/// The GRU's gates on B rows: `ru` [B, 2H] holds their pre-activations and becomes r and u;
/// rh = r * h.
template <class T>
void gru_gate_rows(T* ru, const T* h, T* rh, std::int64_t B, std::int64_t H) {
  kd::parallel_rows(B, 4 * H, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      kd::ArrayMap<T> g(ru + b * 2 * H, 2 * H);
      g = g.logistic();
      kd::ArrayMap<T>(rh + b * H, H) = g.head(H) * kd::ConstArrayMap<T>(h + b * H, H);
    }
  });
}

/// Its output on B rows: `c` [B, H] holds the candidate's pre-activation and becomes tanh of it;
/// h_next = u * h + (1 - u) * c.
template <class T>
void gru_output_rows(const T* ru, const T* h, T* c, T* h_next, std::int64_t B, std::int64_t H) {
  kd::parallel_rows(B, 4 * H, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      kd::ArrayMap<T> cb(c + b * H, H);
      cb = cb.tanh();
      const kd::ConstArrayMap<T> u(ru + b * 2 * H + H, H);
      kd::ArrayMap<T>(h_next + b * H, H) = u * kd::ConstArrayMap<T>(h + b * H, H) + (T(1) - u) * cb;
    }
  });
}

/// The gradient of the candidate's pre-activation on B rows: dcand = dh (1 - u)(1 - c²).
template <class T>
void gru_candidate_grad_rows(const T* ru, const T* c, const T* dh, T* dcand, std::int64_t B, std::int64_t H) {
  kd::parallel_rows(B, 4 * H, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const kd::ConstArrayMap<T> u(ru + b * 2 * H + H, H), cb(c + b * H, H);
      kd::ArrayMap<T>(dcand + b * H, H) = kd::ConstArrayMap<T>(dh + b * H, H) * (T(1) - u) * (T(1) - cb.square());
    }
  });
}

/// Then, from drh = dcand · w_cᵀ, the gates' gradient dg [B, 2H] and the part of h's gradient that
/// does not pass through w_g: dh_prev = dh u + drh r (the caller adds dg · w_gᵀ).
template <class T>
void gru_gates_grad_rows(const T* ru, const T* h, const T* c, const T* dh, const T* drh, T* dg, T* dh_prev,
                         std::int64_t B, std::int64_t H) {
  kd::parallel_rows(B, 6 * H, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const kd::ConstArrayMap<T> r(ru + b * 2 * H, H), u(ru + b * 2 * H + H, H), hb(h + b * H, H), cb(c + b * H, H),
          d(dh + b * H, H), dr(drh + b * H, H);
      kd::ArrayMap<T>(dg + b * 2 * H, H) = dr * hb * r * (T(1) - r);
      kd::ArrayMap<T>(dg + b * 2 * H + H, H) = d * (hb - cb) * u * (T(1) - u);
      kd::ArrayMap<T>(dh_prev + b * H, H) = d * u + dr * r;
    }
  });
}

/// The GRU step's gradients in ops, recomputing the gates.
Grads gru_grad_ops(const Tensor& dh_in, const Tensor& gx, const Tensor& cx, const Tensor& h, const Tensor& wg,
                   const Tensor& wc) {
  const std::vector<Tensor> ru = split(sigmoid(gx + matmul(h, wg)), 2, 1);
  const Tensor &r = ru[0], &u = ru[1];
  const Tensor rh = r * h;
  const Tensor c = tanh(cx + matmul(rh, wc));
  const Tensor dcand = dh_in * (1.0 - u) * (1.0 - square(c));
  const Tensor drh = matmul(dcand, wc, false, true);
  const Tensor dg = concat({drh * h * r * (1.0 - r), dh_in * (h - c) * u * (1.0 - u)}, 1);
  const Tensor dh = dh_in * u + drh * r + matmul(dg, wg, false, true);
  return {dg, dcand, dh, matmul(h, dg, true, false), matmul(rh, dcand, true, false)};
}

}  // namespace

Tensor gru_step(const Tensor& gates_x, const Tensor& candidate_x, const Tensor& h, const Tensor& gates_h,
                const Tensor& candidate_h) {
  static const char* const kNames[] = {"gates_x", "candidate_x", "h"};
  return autograd::apply(
      {"GRUStep", "gru_step", DTypes::Floating, "T", "gates_x,candidate_x,h,gates_h,candidate_h"},
      {gates_x, candidate_x, h, gates_h, candidate_h}, {},
      [](Args in) {
        const std::int64_t hidden = in[2].rank() == 2 ? in[2].dim(1) : Shape::kUnknown;
        check_step("gru_step", in, {hidden == Shape::kUnknown ? Shape::kUnknown : 2 * hidden, hidden, hidden}, kNames,
                   hidden);
        check_square("gru_step", "gates_h", in[3], hidden, hidden == Shape::kUnknown ? Shape::kUnknown : 2 * hidden);
        check_square("gru_step", "candidate_h", in[4], hidden, hidden);
        return OutputSpec{in[2].shape(), in[2].dtype()};
      },
      [](Args in, const OutputSpec&) {
        const Tensor &gx = in[0], &cx = in[1], &h = in[2], &wg = in[3], &wc = in[4];
        const std::int64_t B = h.dim(0), H = h.dim(1);
        Tensor ru = Tensor::empty(gx.shape(), gx.dtype());  // r, u
        Tensor rh = Tensor::empty(h.shape(), h.dtype()), c = Tensor::empty(h.shape(), h.dtype());
        Tensor h2 = Tensor::empty(h.shape(), h.dtype());
        kd::visit_floating("gru_step", gx, [&]<class T>() {
          T* g = ru.data<T>();
          std::copy_n(gx.data<T>(), B * 2 * H, g);
          kd::gemm(h.data<T>(), wg.data<T>(), g, B, H, 2 * H, false, false, true);
          gru_gate_rows<T>(g, h.data<T>(), rh.data<T>(), B, H);
          T* cp = c.data<T>();
          std::copy_n(cx.data<T>(), B * H, cp);
          kd::gemm(rh.data<T>(), wc.data<T>(), cp, B, H, H, false, false, true);
          gru_output_rows<T>(g, h.data<T>(), cp, h2.data<T>(), B, H);
        });
        return autograd::with_backward(
            h2, [ru, rh, c, gx = autograd::save(gx), cx = autograd::save(cx), h = autograd::save(h),
                 wg = autograd::save(wg), wc = autograd::save(wc)](const Tensor& dh_in) {
              auto kernel = [&] {
                const std::int64_t B = h.shape()[0], H = h.shape()[1];
                Tensor dg = Tensor::empty(gx.shape(), gx.dtype()), dcand = Tensor::empty(h.shape(), h.dtype());
                Tensor drh = Tensor::empty(h.shape(), h.dtype()), dh = Tensor::empty(h.shape(), h.dtype());
                Tensor dwg = Tensor::empty(wg.shape(), wg.dtype()), dwc = Tensor::empty(wc.shape(), wc.dtype());
                kd::visit_floating("GRUStepGrad", dh_in, [&]<class T>() {
                  const T *g = ru.data<T>(), *cv = c.data<T>(), *hp = h->data<T>(), *d = dh_in.data<T>();
                  T *dcp = dcand.data<T>(), *drp = drh.data<T>(), *dgp = dg.data<T>(), *dhp = dh.data<T>();
                  gru_candidate_grad_rows<T>(g, cv, d, dcp, B, H);
                  kd::gemm(dcp, wc->data<T>(), drp, B, H, H, false, true);  // d(r h) = dcand · w_cᵀ
                  gru_gates_grad_rows<T>(g, hp, cv, d, drp, dgp, dhp, B, H);
                  kd::gemm(dgp, wg->data<T>(), dhp, B, 2 * H, H, false, true, true);  // += dg · w_gᵀ
                  kd::gemm(hp, dgp, dwg.data<T>(), H, B, 2 * H, true, false);
                  kd::gemm(rh.data<T>(), dcp, dwc.data<T>(), H, B, H, true, false);
                });
                return Grads{dg, dcand, dh, dwg, dwc};
              };
              return autograd::kernel_or_ops(kernel, [&] { return gru_grad_ops(dh_in, *gx, *cx, *h, *wg, *wc); });
            });
      });
}

namespace {

/// gru_sequence's gradients in ops (what a create_graph backward records): the states again by
/// gru_step, then the steps' gradients from the last back.
Grads gru_sequence_grad_ops(std::span<const Tensor> grads, const Tensor& gx, const Tensor& cx, const Tensor& h0,
                            const Tensor& wg, const Tensor& wc) {
  const std::int64_t T = gx.dim(0);
  std::vector<Tensor> prev{h0};
  for (std::int64_t t = 0; t + 1 < T; ++t) prev.push_back(gru_step(step_of(gx, t), step_of(cx, t), prev.back(), wg, wc));
  Tensor dh = grads[1].defined() ? grads[1] : zeros(h0.shape(), h0.dtype());
  Tensor dwg, dwc;
  std::vector<Tensor> dgs(static_cast<std::size_t>(T)), dcs(static_cast<std::size_t>(T));
  for (std::int64_t t = T - 1; t >= 0; --t) {
    if (grads[0].defined()) dh = dh + step_of(grads[0], t);
    Grads g = gru_grad_ops(dh, step_of(gx, t), step_of(cx, t), prev[static_cast<std::size_t>(t)], wg, wc);
    dgs[static_cast<std::size_t>(t)] = g[0];
    dcs[static_cast<std::size_t>(t)] = g[1];
    dh = g[2];
    dwg = dwg.defined() ? dwg + g[3] : g[3];
    dwc = dwc.defined() ? dwc + g[4] : g[4];
  }
  return {stack(dgs, 0), stack(dcs, 0), dh, dwg, dwc};
}

}  // namespace

GRUSequenceOutput gru_sequence(const Tensor& gates_x, const Tensor& candidate_x, const Tensor& h, const Tensor& gates_h,
                               const Tensor& candidate_h) {
  std::vector<Tensor> out = autograd::apply(
      {"GRUSequence", "gru_sequence", DTypes::Floating, "T", "gates_x,candidate_x,h,gates_h,candidate_h"},
      {gates_x, candidate_x, h, gates_h, candidate_h}, {},
      [](Args in) {
        static const char* const kNames[] = {"h"};
        const std::int64_t hidden = in[2].rank() == 2 ? in[2].dim(1) : Shape::kUnknown;
        const std::int64_t batch = in[2].rank() == 2 ? in[2].dim(0) : Shape::kUnknown;
        const std::int64_t two = hidden == Shape::kUnknown ? Shape::kUnknown : 2 * hidden;
        const Shape &gs = in[0].shape(), &cs = in[1].shape();
        const std::int64_t time = gs.rank() == 3 ? gs[0] : Shape::kUnknown;
        auto fits = [&](const Shape& s, std::int64_t width) {
          return s.rank() == 3 && kd::dims_match(s[0], time) && kd::dims_match(s[1], batch) &&
                 kd::dims_match(s[2], width);
        };
        if (!fits(gs, two) || !fits(cs, hidden))
          throw ShapeError(fmt::format(
              "gru_sequence: gates_x must be [time, batch, 2 * units] and candidate_x [time, batch, units], with "
              "h {}; got gates_x {}, candidate_x {}",
              in[2].shape().str(), gs.str(), cs.str()));
        if (time == 0)
          throw ValueError(fmt::format("gru_sequence: gates_x {} has no time steps", gs.str()));
        check_step("gru_sequence", in.subspan(2, 1), {hidden}, kNames, hidden);
        check_square("gru_sequence", "gates_h", in[3], hidden, two);
        check_square("gru_sequence", "candidate_h", in[4], hidden, hidden);
        return std::vector<OutputSpec>{{Shape{time, batch, hidden}, in[2].dtype()}, {in[2].shape(), in[2].dtype()}};
      },
      [](Args in, const std::vector<OutputSpec>&) {
        const Tensor &gx = in[0], &cx = in[1], &h0 = in[2], &wg = in[3], &wc = in[4];
        const std::int64_t T = gx.dim(0), B = h0.dim(0), H = h0.dim(1);
        // Kept for the backward, every step's: r and u, r * h, the candidate.
        Tensor ru = Tensor::empty(gx.shape(), gx.dtype()), rh = Tensor::empty(Shape{T, B, H}, h0.dtype());
        Tensor c = Tensor::empty(Shape{T, B, H}, h0.dtype()), hs = Tensor::empty(Shape{T, B, H}, h0.dtype());
        Tensor h_last = Tensor::empty(h0.shape(), h0.dtype());
        kd::visit_floating("gru_sequence", gx, [&]<class T_>() {
          T_ *g = ru.data<T_>(), *rhp = rh.data<T_>(), *cp = c.data<T_>(), *hp = hs.data<T_>();
          std::copy_n(gx.data<T_>(), T * B * 2 * H, g);
          std::copy_n(cx.data<T_>(), T * B * H, cp);
          const kd::PackedRhs<T_> wg_packed(wg.data<T_>(), H, 2 * H, false, B), wc_packed(wc.data<T_>(), H, H, false, B);
          for (std::int64_t t = 0; t < T; ++t) {
            const T_* h_prev = t == 0 ? h0.data<T_>() : hp + (t - 1) * B * H;
            T_ *gt = g + t * B * 2 * H, *rht = rhp + t * B * H, *ct = cp + t * B * H;
            wg_packed.multiply(h_prev, gt, /*accumulate=*/true);
            gru_gate_rows<T_>(gt, h_prev, rht, B, H);
            wc_packed.multiply(rht, ct, /*accumulate=*/true);
            gru_output_rows<T_>(gt, h_prev, ct, hp + t * B * H, B, H);
          }
          std::copy_n(hp + (T - 1) * B * H, B * H, h_last.data<T_>());
        });
        return autograd::with_backward(
            std::vector<Tensor>{hs, h_last},
            [ru, rh, c, gx = autograd::save(gx), cx = autograd::save(cx), h0 = autograd::save(h0),
             wg = autograd::save(wg), wc = autograd::save(wc), hs = autograd::save_output(hs)](std::span<const Tensor> grads) {
              auto kernel = [&] {
                const std::int64_t T = gx.shape()[0], B = h0.shape()[0], H = h0.shape()[1];
                Tensor dg = Tensor::empty(gx.shape(), gx.dtype()), dcand = Tensor::empty(cx.shape(), cx.dtype());
                Tensor dwg = Tensor::empty(wg.shape(), wg.dtype()), dwc = Tensor::empty(wc.shape(), wc.dtype());
                Tensor dh = grads[1].defined() ? grads[1].clone() : zeros(h0.shape(), h0.dtype());
                Tensor dh_step = Tensor::empty(h0.shape(), h0.dtype()), drh = Tensor::empty(h0.shape(), h0.dtype());
                kd::visit_floating("GRUSequenceGrad", dh, [&]<class T_>() {
                  const Tensor h_prev = previous_states<T_>(*h0, *hs);
                  const T_* hpp = h_prev.data<T_>();
                  const kd::PackedRhs<T_> wg_t(wg->data<T_>(), 2 * H, H, /*tb=*/true, B);  // w_gᵀ, packed once
                  const kd::PackedRhs<T_> wc_t(wc->data<T_>(), H, H, /*tb=*/true, B);      // w_cᵀ
                  const T_ *g = ru.data<T_>(), *cv = c.data<T_>();
                  const T_* dhs = grads[0].defined() ? grads[0].data<T_>() : nullptr;
                  T_ *dgp = dg.data<T_>(), *dcp = dcand.data<T_>(), *dhp = dh.data<T_>(), *dsp = dh_step.data<T_>(),
                     *drp = drh.data<T_>();
                  for (std::int64_t t = T - 1; t >= 0; --t) {
                    if (dhs) kd::amap<T_>(dh) += kd::ConstArrayMap<T_>(dhs + t * B * H, B * H);
                    const T_ *gt = g + t * B * 2 * H, *ct = cv + t * B * H, *ht = hpp + t * B * H;
                    gru_candidate_grad_rows<T_>(gt, ct, dhp, dcp + t * B * H, B, H);
                    wc_t.multiply(dcp + t * B * H, drp, /*accumulate=*/false);  // d(r h) = dcand · w_cᵀ
                    gru_gates_grad_rows<T_>(gt, ht, ct, dhp, drp, dgp + t * B * 2 * H, dsp, B, H);
                    wg_t.multiply(dgp + t * B * 2 * H, dsp, /*accumulate=*/true);  // += dg · w_gᵀ
                    std::copy_n(dsp, B * H, dhp);
                  }
                  // Σ_t h_prevᵀ · dg and Σ_t (r h)ᵀ · dcand, each one product over all T·B rows.
                  kd::gemm(hpp, dgp, dwg.data<T_>(), H, T * B, 2 * H, true, false);
                  kd::gemm(rh.data<T_>(), dcp, dwc.data<T_>(), H, T * B, H, true, false);
                });
                return Grads{dg, dcand, dh, dwg, dwc};
              };
              return autograd::kernel_or_ops(kernel,
                                             [&] { return gru_sequence_grad_ops(grads, *gx, *cx, *h0, *wg, *wc); });
            });
      });
  return {out[0], out[1]};
}

// ------------------------------------------------------------------------------ the cells

namespace {

using detail::check_defined;
using detail::check_dtype;
using detail::check_float_dtype;
using detail::named;

void check_sizes(const std::string& where, std::int64_t input, std::int64_t hidden) {
  if (input <= 0 || hidden <= 0)
    throw ValueError(fmt::format("{}: input_size and hidden_size must be positive", where));
}

/// Rows [begin, begin + count) of w [rows, cols] (a slice recorded on the tape).
Tensor rows_of(const Tensor& w, std::int64_t begin, std::int64_t count) {
  return slice(w, {begin, 0}, {count, -1});
}

std::string dtype_suffix(DType dtype) {
  return dtype == float32 ? "" : fmt::format(", dtype={}", dtype_name(dtype));
}

/// "3, 5, num_layers=2, dtype=float64" (the defaults left out): LSTM's and GRU's extra_repr.
std::string layers_repr(std::int64_t input, std::int64_t hidden, std::int64_t layers, DType dtype) {
  std::string s = fmt::format("{}, {}", input, hidden);
  if (layers != 1) s += fmt::format(", num_layers={}", layers);
  return s + dtype_suffix(dtype);
}

/// A cell's check of an input or a state: [..., width] of the parameters' dtype (`options`: the
/// options struct that sets it, for the message).
template <class Where>
void check_cell_input(const Where& where, const Tensor& x, const char* what, std::int64_t width, DType dtype,
                      const char* options) {
  check_defined(where, x);
  const Shape& s = x.shape();
  if (s.rank() < 2 || (s[s.rank() - 1] != width && s[s.rank() - 1] != Shape::kUnknown))
    throw ShapeError(fmt::format("{}: expected {} [..., {}], got {}", where(), what, width, s.str()));
  check_dtype(where, x, dtype, options);
}

}  // namespace

LSTMCell::LSTMCell(std::int64_t input_size, std::int64_t hidden_size, LSTMCellOptions options)
    : input_(input_size), hidden_(hidden_size), options_(options) {
  const std::string where = str_line();
  check_sizes(where, input_, hidden_);
  check_float_dtype(where, options_.dtype);
  weight_ = register_parameter(
      "weight", init::glorot_uniform({input_ + hidden_, 4 * hidden_}, options_.dtype, options_.generator));
  bias_ = register_parameter("bias", tapeflow::zeros({4 * hidden_}, options_.dtype));
}

std::string LSTMCell::extra_repr() const {
  std::string s = fmt::format("{}, {}", input_, hidden_);
  if (options_.forget_bias != 1.0) s += fmt::format(", forget_bias={}", options_.forget_bias);
  return s + dtype_suffix(options_.dtype);
}

void LSTMCell::check_input(const Tensor& x, const char* what, std::int64_t width) const {
  check_cell_input([this] { return str_line(); }, x, what, width, options_.dtype, "LSTMCellOptions");
}

Tensor LSTMCell::project(const Tensor& x) const { return xw_plus_b(x, rows_of(weight_, 0, input_), bias_); }
Tensor LSTMCell::recurrent_weight() const { return rows_of(weight_, input_, hidden_); }

LSTMState LSTMCell::zero_state(std::int64_t batch) const {
  return {tapeflow::zeros({batch, hidden_}, options_.dtype), tapeflow::zeros({batch, hidden_}, options_.dtype)};
}

Tensor LSTMCell::forward(const Tensor& x) {
  check_input(x, "an input", input_);
  return forward(x, zero_state(x.dim(0))).h;
}

LSTMState LSTMCell::forward(const Tensor& x, const LSTMState& state) {
  check_input(x, "an input", input_);
  check_input(state.h, "a state h", hidden_);
  check_input(state.c, "a state c", hidden_);
  return named([this] { return str_line(); },
               [&] { return lstm_step(project(x), state, recurrent_weight(), options_.forget_bias); });
}

GRUCell::GRUCell(std::int64_t input_size, std::int64_t hidden_size, GRUCellOptions options)
    : input_(input_size), hidden_(hidden_size), options_(options) {
  const std::string where = str_line();
  check_sizes(where, input_, hidden_);
  check_float_dtype(where, options_.dtype);
  const std::int64_t rows = input_ + hidden_;
  gates_weight_ = register_parameter("gates_weight",
                                     init::glorot_uniform({rows, 2 * hidden_}, options_.dtype, options_.generator));
  gates_bias_ = register_parameter("gates_bias", tapeflow::ones({2 * hidden_}, options_.dtype));
  candidate_weight_ = register_parameter(
      "candidate_weight", init::glorot_uniform({rows, hidden_}, options_.dtype, options_.generator));
  candidate_bias_ = register_parameter("candidate_bias", tapeflow::zeros({hidden_}, options_.dtype));
}

std::string GRUCell::extra_repr() const { return fmt::format("{}, {}", input_, hidden_) + dtype_suffix(options_.dtype); }

void GRUCell::check_input(const Tensor& x, const char* what, std::int64_t width) const {
  check_cell_input([this] { return str_line(); }, x, what, width, options_.dtype, "GRUCellOptions");
}

std::pair<Tensor, Tensor> GRUCell::project(const Tensor& x) const {
  return {xw_plus_b(x, rows_of(gates_weight_, 0, input_), gates_bias_),
          xw_plus_b(x, rows_of(candidate_weight_, 0, input_), candidate_bias_)};
}

Tensor GRUCell::forward(const Tensor& x) {
  check_input(x, "an input", input_);
  return forward(x, tapeflow::zeros({x.dim(0), hidden_}, options_.dtype));
}

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) {
  check_input(x, "an input", input_);
  check_input(h, "a state h", hidden_);
  return named([this] { return str_line(); }, [&] {
    auto [gx, cx] = project(x);
    return gru_step(gx, cx, h, rows_of(gates_weight_, input_, hidden_), rows_of(candidate_weight_, input_, hidden_));
  });
}

// ------------------------------------------------------------------------------- the layers

namespace {

void check_layers(const std::string& where, std::int64_t layers) {
  if (layers <= 0) throw ValueError(fmt::format("{}: num_layers must be positive, got {}", where, layers));
}

template <class Where>
void check_sequence(const Where& where, const Tensor& x, std::int64_t features, std::size_t initial,
                    std::int64_t layers) {
  check_defined(where, x);
  const Shape& s = x.shape();
  if (s.rank() != 3 || (s[2] != features && s[2] != Shape::kUnknown))
    throw ShapeError(fmt::format("{}: expected an input [batch, time, {}], got {}", where(), features, s.str()));
  if (s[1] == 0) throw ValueError(fmt::format("{}: the input {} has no time steps", where(), s.str()));
  if (initial != 0 && initial != static_cast<std::size_t>(layers))
    throw ValueError(fmt::format("{}: {} initial states for {} layers; give one per layer, or none for zeros", where(),
                                 initial, layers));
}

}  // namespace

LSTM::LSTM(std::int64_t input_size, std::int64_t hidden_size, LSTMOptions options)
    : input_(input_size), hidden_(hidden_size), options_(options) {
  const std::string where = str_line();
  check_layers(where, options_.num_layers);
  for (std::int64_t k = 0; k < options_.num_layers; ++k)
    cells_.push_back(register_module(fmt::format("cell_{}", k),
                                     LSTMCell(k == 0 ? input_ : hidden_, hidden_,
                                              {.forget_bias = options_.forget_bias,
                                               .dtype = options_.dtype,
                                               .generator = options_.generator})));
}

std::string LSTM::extra_repr() const { return layers_repr(input_, hidden_, options_.num_layers, options_.dtype); }

Tensor LSTM::forward(const Tensor& x) { return forward(x, {}).output; }

LSTMOutput LSTM::forward(const Tensor& x, const std::vector<LSTMState>& initial) {
  const auto where = [this] { return str_line(); };
  check_sequence(where, x, input_, initial.size(), options_.num_layers);
  check_dtype(where, x, options_.dtype, "LSTMOptions");
  LSTMOutput result;
  Tensor layer_input = transpose(x, {1, 0, 2});  // [T, B, F]: each step's rows contiguous
  for (std::size_t k = 0; k < cells_.size(); ++k) {
    LSTMCell& cell = *cells_[k];
    LSTMState state = initial.empty() ? cell.zero_state(x.dim(0)) : initial[k];
    cell.check_input(state.h, "an initial h", hidden_);
    cell.check_input(state.c, "an initial c", hidden_);
    LSTMSequenceOutput run = named(where, [&] {
      return lstm_sequence(cell.project(layer_input), state, cell.recurrent_weight(), options_.forget_bias);
    });
    result.states.push_back(run.state);
    layer_input = run.h;  // [T, B, H]
  }
  result.output = transpose(layer_input, {1, 0, 2});
  return result;
}

GRU::GRU(std::int64_t input_size, std::int64_t hidden_size, GRUOptions options)
    : input_(input_size), hidden_(hidden_size), options_(options) {
  check_layers(str_line(), options_.num_layers);
  for (std::int64_t k = 0; k < options_.num_layers; ++k)
    cells_.push_back(register_module(
        fmt::format("cell_{}", k),
        GRUCell(k == 0 ? input_ : hidden_, hidden_, {.dtype = options_.dtype, .generator = options_.generator})));
}

std::string GRU::extra_repr() const { return layers_repr(input_, hidden_, options_.num_layers, options_.dtype); }

Tensor GRU::forward(const Tensor& x) { return forward(x, {}).output; }

GRUOutput GRU::forward(const Tensor& x, const std::vector<Tensor>& initial) {
  const auto where = [this] { return str_line(); };
  check_sequence(where, x, input_, initial.size(), options_.num_layers);
  check_dtype(where, x, options_.dtype, "GRUOptions");
  GRUOutput result;
  Tensor layer_input = transpose(x, {1, 0, 2});
  for (std::size_t k = 0; k < cells_.size(); ++k) {
    GRUCell& cell = *cells_[k];
    Tensor h = initial.empty() ? tapeflow::zeros({x.dim(0), hidden_}, options_.dtype) : initial[k];
    cell.check_input(h, "an initial h", hidden_);
    const std::pair<Tensor, Tensor> projected = cell.project(layer_input);  // gates_x, candidate_x
    const Tensor wg = rows_of(cell.gates_weight_, cell.input_, hidden_);
    const Tensor wc = rows_of(cell.candidate_weight_, cell.input_, hidden_);
    GRUSequenceOutput run =
        named(where, [&] { return gru_sequence(projected.first, projected.second, h, wg, wc); });
    result.states.push_back(run.state);
    layer_input = run.h;
  }
  result.output = transpose(layer_input, {1, 0, 2});
  return result;
}

}  // namespace tapeflow::nn
