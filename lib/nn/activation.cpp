// The activations of today's models: GELU (exact and tanh forms) and SiLU / swish, fused kernels
// whose backward is a kernel for first-order training and ops (differentiable again) for
// create_graph.
#include <cmath>
#include <numbers>

#include <unsupported/Eigen/SpecialFunctions>

#include "autograd/door.h"
#include "ops/kernels.h"
#include "tapeflow/nn/functional.h"

namespace tapeflow::nn {

using autograd::Args;
using autograd::DTypes;

namespace {

OutputSpec same_as_input(Args in) { return {in[0].shape(), in[0].dtype()}; }

constexpr double kInvSqrt2 = 0.70710678118654752440;          // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;        // 1 / sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;       // sqrt(2 / pi)
constexpr double kCubic = 0.044715;                           // the tanh form's cubic term

/// gelu'(x), element-wise: Phi(x) + x phi(x) (exact); for the tanh form, with
/// t = tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3): 0.5 (1 + t) + 0.5 x (1 - t^2) u'.
template <class A>
auto gelu_slope(const A& x, bool approximate) {
  using T = typename A::Scalar;
  if (!approximate)
    return (T(0.5) * (T(1) + (x * T(kInvSqrt2)).erf()) + x * T(kInvSqrt2Pi) * (x.square() * T(-0.5)).exp()).eval();
  const auto t = (T(kSqrt2OverPi) * (x + T(kCubic) * x.cube())).tanh().eval();
  const auto du = T(kSqrt2OverPi) * (T(1) + T(3 * kCubic) * x.square());
  return (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t.square()) * du).eval();
}

/// gelu''(x) in ops (the gradient of GeluGrad with respect to x, differentiable again):
/// phi(x) (2 - x^2) exact; (1 - t^2) (u' - x t u'^2 + 0.5 x u'') for the tanh form.
Tensor gelu_curvature(const Tensor& x, bool approximate) {
  if (!approximate) return exp(square(x) * -0.5) * kInvSqrt2Pi * (2.0 - square(x));
  const Tensor t = tanh((x + square(x) * x * kCubic) * kSqrt2OverPi);
  const Tensor du = (1.0 + square(x) * (3 * kCubic)) * kSqrt2OverPi;
  const Tensor ddu = x * (6 * kCubic * kSqrt2OverPi);
  return (1.0 - square(t)) * (du - x * t * square(du) + x * ddu * 0.5);
}

/// GELU's gradient as an op of its own: g * gelu'(x). Linear in g; its gradient with respect to x
/// is g * gelu''(x) in ops, so GELU differentiates to any order.
Tensor gelu_grad(const Tensor& g, const Tensor& x, bool approximate) {
  return autograd::apply(
      {"GeluGrad", "gelu_grad", DTypes::Floating, "T", "gradients,features"}, {g, x}, {{"approximate", approximate}},
      [](Args in) {
        if (in[0].shape() != in[1].shape())
          throw ShapeError(fmt::format("gelu_grad: the gradient has shape {} but the features {}",
                                       in[0].shape().str(), in[1].shape().str()));
        return OutputSpec{in[0].shape(), in[0].dtype()};
      },
      [approximate](Args in, const OutputSpec& s) {
        Tensor out = Tensor::empty(s.shape, s.dtype);
        detail::visit_floating("gelu_grad", in[0], [&]<class T>() {
          const T* g = in[0].data<T>();
          const T* x = in[1].data<T>();
          T* o = out.data<T>();
          detail::parallel_chunks(out.numel(), [&](std::int64_t b, std::int64_t n) {
            detail::ConstArrayMap<T> G(g + b, n), X(x + b, n);
            detail::ArrayMap<T>(o + b, n) = G * gelu_slope(X, approximate);
          });
        });
        return autograd::with_backward(out, [g = autograd::save(in[0]), x = autograd::save(in[1]),
                                             approximate](const Tensor& gg) {
          return Grads{g.requires_grad() ? gelu_grad(gg, *x, approximate) : Tensor(),
                       x.requires_grad() ? gg * *g * gelu_curvature(*x, approximate) : Tensor()};
        });
      });
}

}  // namespace

Tensor gelu(const Tensor& x, bool approximate) {
  return autograd::apply({"Gelu", "gelu", DTypes::Floating, "T", "features"}, {x}, {{"approximate", approximate}},
                         same_as_input, [approximate](Args in, const OutputSpec&) {
    Tensor y = detail::unary_float("gelu", in[0], [approximate](const auto& a) {
      using T = typename std::decay_t<decltype(a)>::Scalar;
      if (!approximate) return (T(0.5) * a * (T(1) + (a * T(kInvSqrt2)).erf())).eval();
      return (T(0.5) * a * (T(1) + (T(kSqrt2OverPi) * (a + T(kCubic) * a.cube())).tanh())).eval();
    });
    return autograd::with_backward(y, [x = autograd::save(in[0]), approximate](const Tensor& g) {
      return Grads{gelu_grad(g, *x, approximate)};
    });
  });
}

Tensor silu(const Tensor& x) {
  return autograd::apply({"Silu", "silu", DTypes::Floating, "T", "features"}, {x}, {}, same_as_input,
                         [](Args in, const OutputSpec&) {
    Tensor y = detail::unary_float("silu", in[0], [](const auto& a) { return (a * a.logistic()).eval(); });
    return autograd::with_backward(y, [x = autograd::save(in[0])](const Tensor& g) {
      // d/dx x s(x) = s (1 + x (1 - s))
      auto kernel = [&] {
        Tensor dx = Tensor::empty(g.shape(), g.dtype());
        detail::visit_floating("silu", g, [&]<class T>() {
          const T* gp = g.data<T>();
          const T* xp = x->data<T>();
          T* o = dx.data<T>();
          detail::parallel_chunks(dx.numel(), [&](std::int64_t b, std::int64_t n) {
            detail::ConstArrayMap<T> G(gp + b, n), X(xp + b, n);
            const auto s = X.logistic().eval();
            detail::ArrayMap<T>(o + b, n) = G * s * (T(1) + X * (T(1) - s));
          });
        });
        return dx;
      };
      auto ops = [&] {
        const Tensor s = sigmoid(*x);
        return g * s * (1.0 + *x * (1.0 - s));
      };
      return Grads{autograd::kernel_or_ops(kernel, ops)};
    });
  });
}

}  // namespace tapeflow::nn
