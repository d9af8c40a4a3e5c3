// Element-wise ops: shape rule, forward kernel and backward rule side by side.
#include "tapeflow/ops/elementwise.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "autograd/door.h"
#include "ops/grads.h"
#include "ops/kernels.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow {

using detail::broadcast_binary;
using detail::check_same_dtype;
using detail::unary_float;
using detail::visit_floating;
using detail::visit_numeric;

using autograd::apply;
using autograd::Args;
using autograd::DTypes;
using autograd::save;
using autograd::save_output;
using autograd::saved_output;
using autograd::with_backward;

namespace {

/// Same-shape element-wise f(a, b) of one floating dtype: the building block of backward kernels.
template <class F>
Tensor zip(const char* op, const Tensor& a, const Tensor& b, F f) {
  return visit_floating(op, a, [&]<class T>() { return broadcast_binary<T>(a, b, a.shape(), a.dtype(), f); });
}

template <class F>
Tensor numeric_binary(const char* op, const Tensor& a, const Tensor& b, const Shape& out, F f) {
  return visit_numeric(op, a, [&]<class T>() { return broadcast_binary<T>(a, b, out, a.dtype(), f); });
}

template <class F>
Tensor float_binary(const char* op, const Tensor& a, const Tensor& b, const Shape& out, F f) {
  return visit_floating(op, a, [&]<class T>() { return broadcast_binary<T>(a, b, out, a.dtype(), f); });
}

Tensor maybe(bool needed, auto&& compute) { return needed ? Tensor(compute()) : Tensor(); }

/// The rule of a binary element-wise op: numpy broadcasting of the shapes, a's dtype.
auto broadcast_rule(const char* op) {
  return [op](Args in) { return OutputSpec{broadcast_shapes(op, in[0].shape(), in[1].shape()), in[0].dtype()}; };
}

/// An integer division by zero is undefined in C++ (the process dies of SIGFPE): as TensorFlow's
/// Div, it is an error.
void check_integer_divisor(const Tensor& b) {
  if (is_floating(b.dtype())) return;
  visit_numeric("div", b, [&]<class T>() {
    const T* p = b.data<T>();
    for (std::int64_t i = 0, n = b.numel(); i < n; ++i)
      if (p[i] == T(0))
        throw ValueError(fmt::format("div: integer division by zero: the divisor ({} {}) is 0 at element {}; divide "
                                     "in floating point (cast both to float32) where a zero can occur",
                                     dtype_name(b.dtype()), b.shape().str(), i));
  });
}

/// The rule of a unary element-wise op: x's shape and dtype.
OutputSpec same_as_input(Args in) { return {in[0].shape(), in[0].dtype()}; }

/// The rule of an op over two tensors of one shape (a backward kernel's gradient and tensor).
auto same_shapes(const char* op) {
  return [op](Args in) {
    if (in[0].shape() != in[1].shape())
      throw ShapeError(fmt::format("{}: the gradient has shape {} but the tensor it goes with {}", op,
                                   in[0].shape().str(), in[1].shape().str()));
    return OutputSpec{in[0].shape(), in[0].dtype()};
  };
}

/// A backward kernel as an op of its own, as TensorFlow's *Grad ops: f(a, b) element-wise over
/// two tensors of one shape, through the door, differentiable in turn by `backward(a, b, gg)`
/// (in ops, or other such ops): so gradients of gradients go to any order, while a first-order
/// backward runs the kernel alone (nothing is recorded then).
template <class F, class B>
Tensor grad_op(const char* type, const Tensor& a, const Tensor& b, F f, B backward) {
  return apply({type, type, DTypes::Floating}, {a, b}, {}, same_shapes(type), [type, f, backward](Args in, const OutputSpec&) {
    Tensor out = zip(type, in[0], in[1], f);
    return with_backward(out, [a = save(in[0]), b = save(in[1]), backward](const Tensor& gg) { return backward(*a, *b, gg); });
  });
}

// The gradients of the activations (TensorFlow's ReluGrad(gradients, features), SigmoidGrad(y, dy),
// ...), each the other's backward where it is linear in the gradient; ReluGrad, which the ops
// with a fused ReLU use too, is below the anonymous namespace (ops/grads.h).
Tensor relu6_grad(const Tensor& g, const Tensor& x) {
  return grad_op("Relu6Grad", g, x, [](auto gv, auto xv) { return (xv > 0 && xv < 6) ? gv : decltype(gv)(0); },
                 [](const Tensor&, const Tensor& x, const Tensor& gg) { return Grads{relu6_grad(gg, x), Tensor()}; });
}

Tensor leaky_relu_grad(const Tensor& g, const Tensor& x, double alpha) {
  return grad_op("LeakyReluGrad", g, x,
                 [alpha](auto gv, auto xv) { return xv > 0 ? gv : static_cast<decltype(gv)>(gv * alpha); },
                 [alpha](const Tensor&, const Tensor& x, const Tensor& gg) {
                   return Grads{leaky_relu_grad(gg, x, alpha), Tensor()};
                 });
}

Tensor clip_grad(const Tensor& g, const Tensor& x, double lo, double hi) {
  return grad_op("ClipByValueGrad", g, x,
                 [lo, hi](auto gv, auto xv) { return (xv >= lo && xv <= hi) ? gv : decltype(gv)(0); },
                 [lo, hi](const Tensor&, const Tensor& x, const Tensor& gg) {
                   return Grads{clip_grad(gg, x, lo, hi), Tensor()};
                 });
}

Tensor elu_grad(const Tensor& g, const Tensor& y) {  // d/dx (e^x - 1) = y + 1 where x < 0
  return grad_op("EluGrad", g, y, [](auto gv, auto yv) { return yv > 0 ? gv : gv * (yv + 1); },
                 [](const Tensor& g, const Tensor& y, const Tensor& gg) {
                   return Grads{elu_grad(gg, y), where(less(y, zeros_like(y)), gg * g, zeros_like(y))};
                 });
}

Tensor sigmoid_grad(const Tensor& y, const Tensor& g) {  // g y (1 - y)
  return grad_op("SigmoidGrad", y, g, [](auto yv, auto gv) { return gv * yv * (1 - yv); },
                 [](const Tensor& y, const Tensor& g, const Tensor& gg) {
                   return Grads{gg * g * (1.0 - y * 2.0), sigmoid_grad(y, gg)};
                 });
}

Tensor tanh_grad(const Tensor& y, const Tensor& g) {  // g (1 - y^2)
  return grad_op("TanhGrad", y, g, [](auto yv, auto gv) { return gv * (1 - yv * yv); },
                 [](const Tensor& y, const Tensor& g, const Tensor& gg) {
                   return Grads{gg * g * y * -2.0, tanh_grad(y, gg)};
                 });
}

Tensor sqrt_grad(const Tensor& y, const Tensor& g) {  // g / (2 y)
  return grad_op("SqrtGrad", y, g, [](auto yv, auto gv) { return gv * decltype(gv)(0.5) / yv; },
                 [](const Tensor& y, const Tensor& g, const Tensor& gg) {
                   return Grads{gg * g * -0.5 / square(y), sqrt_grad(y, gg)};
                 });
}

Tensor rsqrt_grad(const Tensor& y, const Tensor& g) {  // -g y^3 / 2
  return grad_op("RsqrtGrad", y, g, [](auto yv, auto gv) { return gv * decltype(gv)(-0.5) * yv * yv * yv; },
                 [](const Tensor& y, const Tensor& g, const Tensor& gg) {
                   return Grads{gg * g * square(y) * -1.5, rsqrt_grad(y, gg)};
                 });
}

}  // namespace

Tensor detail::relu_grad(const Tensor& g, const Tensor& y) {
  return grad_op("ReluGrad", g, y, [](auto gv, auto yv) { return yv > 0 ? gv : decltype(gv)(0); },
                 [](const Tensor&, const Tensor& y, const Tensor& gg) { return Grads{relu_grad(gg, y), Tensor()}; });
}

// ---------------------------------------------------------------------------- binary

Tensor add(const Tensor& a, const Tensor& b) {
  return apply({.type = "Add", .name = "add", .node = "add"}, {a, b}, {}, broadcast_rule("add"), [](Args in, const OutputSpec& s) {
    Tensor c = numeric_binary("add", in[0], in[1], s.shape, [](auto x, auto y) { return x + y; });
    return with_backward(c, [sa = in[0].shape(), sb = in[1].shape(), ga = in[0].requires_grad(),
                             gb = in[1].requires_grad()](const Tensor& g) {
      return Grads{maybe(ga, [&] { return sum_to(g, sa); }), maybe(gb, [&] { return sum_to(g, sb); })};
    });
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return apply({.type = "Sub", .name = "sub", .node = "sub"}, {a, b}, {}, broadcast_rule("sub"), [](Args in, const OutputSpec& s) {
    Tensor c = numeric_binary("sub", in[0], in[1], s.shape, [](auto x, auto y) { return x - y; });
    return with_backward(c, [sa = in[0].shape(), sb = in[1].shape(), ga = in[0].requires_grad(),
                             gb = in[1].requires_grad()](const Tensor& g) {
      return Grads{maybe(ga, [&] { return sum_to(g, sa); }), maybe(gb, [&] { return sum_to(neg(g), sb); })};
    });
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return apply({.type = "Mul", .name = "mul", .node = "mul"}, {a, b}, {}, broadcast_rule("mul"), [](Args in, const OutputSpec& s) {
    Tensor c = numeric_binary("mul", in[0], in[1], s.shape, [](auto x, auto y) { return x * y; });
    return with_backward(c, [a = save(in[0]), b = save(in[1])](const Tensor& g) {  // dA = g*b, dB = g*a
      return Grads{maybe(a.requires_grad(), [&] { return sum_to(g * *b, a.shape()); }),
                   maybe(b.requires_grad(), [&] { return sum_to(g * *a, b.shape()); })};
    });
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return apply({.type = "RealDiv", .name = "div", .node = "truediv"}, {a, b}, {}, broadcast_rule("div"), [](Args in, const OutputSpec& s) {
    check_integer_divisor(in[1]);
    Tensor c = numeric_binary("div", in[0], in[1], s.shape, [](auto x, auto y) { return x / y; });
    return with_backward(c, [a = save(in[0]), b = save(in[1])](const Tensor& g) {  // dA = g/b, dB = -g*a/b^2
      return Grads{maybe(a.requires_grad(), [&] { return sum_to(g / *b, a.shape()); }),
                   maybe(b.requires_grad(), [&] { return sum_to(neg(g * *a / square(*b)), b.shape()); })};
    });
  });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  return apply({.type = "Pow", .name = "pow", .t = DTypes::Floating, .node = "pow"}, {a, b}, {}, broadcast_rule("pow"), [](Args in, const OutputSpec& s) {
    Tensor c = float_binary("pow", in[0], in[1], s.shape, [](auto x, auto y) { return std::pow(x, y); });
    return with_backward(c, [a = save(in[0]), b = save(in[1]), c = save_output(c)](const Tensor& g) {
      // dA = g * b * a^(b-1); dB = g * a^b * log(a)
      return Grads{maybe(a.requires_grad(), [&] { return sum_to(g * *b * pow(*a, *b - 1.0), a.shape()); }),
                   maybe(b.requires_grad(), [&] { return sum_to(g * saved_output(c) * log(*a), b.shape()); })};
    });
  });
}

Tensor pow(const Tensor& a, double exponent) {
  detail::check_defined("pow", a);
  return pow(a, scalar(exponent, a.dtype()));
}

namespace {
/// maximum / minimum: `take_a(a, b)` says where the value (and the gradient) comes from a.
template <class Pick>
Tensor extremum(const char* type, const char* op, const Tensor& a, const Tensor& b, Pick pick,
                Tensor (*take_a)(const Tensor&, const Tensor&)) {
  return apply({type, op}, {a, b}, {}, broadcast_rule(op), [op, pick, take_a](Args in, const OutputSpec& s) {
    Tensor c = numeric_binary(op, in[0], in[1], s.shape, pick);
    return with_backward(c, [a = save(in[0]), b = save(in[1]), take_a](const Tensor& g) {
      Tensor from_a = take_a(*a, *b);
      return Grads{maybe(a.requires_grad(), [&] { return sum_to(where(from_a, g, zeros_like(g)), a.shape()); }),
                   maybe(b.requires_grad(), [&] { return sum_to(where(from_a, zeros_like(g), g), b.shape()); })};
    });
  });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  return extremum("Maximum", "maximum", a, b, [](auto x, auto y) { return x >= y ? x : y; }, greater_equal);
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return extremum("Minimum", "minimum", a, b, [](auto x, auto y) { return x <= y ? x : y; }, less_equal);
}

// ---------------------------------------------------------------------------- unary

Tensor neg(const Tensor& x) {
  return apply({"Neg", "neg"}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    const Tensor& x = in[0];
    Tensor y = visit_numeric("neg", x, [&]<class T>() {
      Tensor out = Tensor::empty(x.shape(), x.dtype());
      const T* p = x.data<T>();
      T* o = out.data<T>();
      for (std::int64_t i = 0, end = x.numel(); i < end; ++i) o[i] = static_cast<T>(-p[i]);
      return out;
    });
    return with_backward(y, [](const Tensor& g) { return Grads{neg(g)}; });
  });
}

Tensor exp(const Tensor& x) {
  return apply({"Exp", "exp", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("exp", in[0], [](const auto& a) { return a.exp(); });
    return with_backward(y, [y = save_output(y)](const Tensor& g) { return Grads{g * saved_output(y)}; });
  });
}

Tensor log(const Tensor& x) {
  return apply({"Log", "log", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("log", in[0], [](const auto& a) { return a.log(); });
    return with_backward(y, [x = save(in[0])](const Tensor& g) { return Grads{g / *x}; });
  });
}

Tensor sqrt(const Tensor& x) {
  return apply({"Sqrt", "sqrt", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("sqrt", in[0], [](const auto& a) { return a.sqrt(); });
    return with_backward(y, [y = save_output(y)](const Tensor& g) {
      return Grads{sqrt_grad(saved_output(y), g)};
    });
  });
}

Tensor rsqrt(const Tensor& x) {
  return apply({"Rsqrt", "rsqrt", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("rsqrt", in[0], [](const auto& a) { return a.rsqrt(); });
    return with_backward(y, [y = save_output(y)](const Tensor& g) {
      return Grads{rsqrt_grad(saved_output(y), g)};
    });
  });
}

Tensor square(const Tensor& x) {
  return apply({"Square", "square"}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    const Tensor& x = in[0];
    Tensor y = numeric_binary("square", x, x, x.shape(), [](auto a, auto) { return a * a; });
    return with_backward(y, [x = save(x)](const Tensor& g) { return Grads{g * (*x * 2.0)}; });
  });
}

Tensor abs(const Tensor& x) {
  return apply({"Abs", "abs"}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    const Tensor& x = in[0];
    Tensor y = numeric_binary("abs", x, x, x.shape(), [](auto a, auto) {
      using T = decltype(a);
      if constexpr (std::is_unsigned_v<T>) return a;
      else return a < T(0) ? T(-a) : a;
    });
    return with_backward(y, [x = save(x)](const Tensor& g) { return Grads{g * sign(*x)}; });
  });
}

Tensor sign(const Tensor& x) {
  return apply({"Sign", "sign"}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    const Tensor& x = in[0];
    Tensor y = numeric_binary("sign", x, x, x.shape(), [](auto a, auto) {
      using T = decltype(a);
      if constexpr (std::is_unsigned_v<T>) return static_cast<T>(a != T(0));
      else return static_cast<T>((T(0) < a) - (a < T(0)));
    });
    return with_backward(y, [](const Tensor& g) { return Grads{zeros_like(g)}; });
  });
}

Tensor floor(const Tensor& x) {
  return apply({"Floor", "floor", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("floor", in[0], [](const auto& a) { return a.floor(); });
    return with_backward(y, [](const Tensor& g) { return Grads{zeros_like(g)}; });
  });
}

Tensor round(const Tensor& x) {
  return apply({"Round", "round"}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    const Tensor& x = in[0];
    // rint rounds half to even in the default rounding mode (as TensorFlow's Round and numpy's
    // round); integers are already whole.
    Tensor y = is_floating(x.dtype()) ? unary_float("round", x, [](const auto& a) { return a.rint(); }) : x.clone();
    return with_backward(y, [](const Tensor& g) { return Grads{zeros_like(g)}; });
  });
}

Tensor sin(const Tensor& x) {
  return apply({"Sin", "sin", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("sin", in[0], [](const auto& a) { return a.sin(); });
    return with_backward(y, [x = save(in[0])](const Tensor& g) { return Grads{g * cos(*x)}; });
  });
}

Tensor cos(const Tensor& x) {
  return apply({"Cos", "cos", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("cos", in[0], [](const auto& a) { return a.cos(); });
    return with_backward(y, [x = save(in[0])](const Tensor& g) { return Grads{neg(g * sin(*x))}; });
  });
}

Tensor erf(const Tensor& x) {
  return apply({"Erf", "erf", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("erf", in[0], [](const auto& a) {
      return a.unaryExpr([](auto v) { return std::erf(v); });
    });
    return with_backward(y, [x = save(in[0])](const Tensor& g) {  // d erf(x) = 2/sqrt(pi) e^(-x^2)
      return Grads{g * exp(neg(square(*x))) * 1.1283791670955126};
    });
  });
}

Tensor log1p(const Tensor& x) {
  return apply({"Log1p", "log1p", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("log1p", in[0], [](const auto& a) { return a.log1p(); });
    return with_backward(y, [x = save(in[0])](const Tensor& g) { return Grads{g / (*x + 1.0)}; });
  });
}

Tensor expm1(const Tensor& x) {
  return apply({"Expm1", "expm1", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("expm1", in[0], [](const auto& a) { return a.expm1(); });
    // e^x, not y + 1: for x << 0, y + 1 keeps few of e^x's digits.
    return with_backward(y, [x = save(in[0])](const Tensor& g) { return Grads{g * exp(*x)}; });
  });
}

Tensor clip(const Tensor& x, double lo, double hi) {
  return apply({.type = "ClipByValue", .name = "clip_by_value", .node = "clip_by_value"}, {x}, {{"clip_value_min", lo}, {"clip_value_max", hi}},
               [lo, hi](Args in) {
                 if (lo > hi)
                   throw ValueError(fmt::format("clip_by_value: clip_value_min {} is greater than clip_value_max {}",
                                                lo, hi));
                 return same_as_input(in);
               },
               [lo, hi](Args in, const OutputSpec&) {
    const Tensor& x = in[0];
    Tensor y = visit_numeric("clip_by_value", x, [&]<class T>() {
      Tensor out = Tensor::empty(x.shape(), x.dtype());
      const T *p = x.data<T>(), l = static_cast<T>(lo), h = static_cast<T>(hi);
      T* o = out.data<T>();
      for (std::int64_t i = 0, end = x.numel(); i < end; ++i) o[i] = p[i] < l ? l : (p[i] > h ? h : p[i]);
      return out;
    });
    return with_backward(y, [x = save(x), lo, hi](const Tensor& g) { return Grads{clip_grad(g, *x, lo, hi)}; });
  });
}

// ---------------------------------------------------------------------------- activations

Tensor relu(const Tensor& x) {
  return apply({"Relu", "relu", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("relu", in[0], [](const auto& a) { return a.max(0); });
    return with_backward(y, [y = save_output(y)](const Tensor& g) {
      return Grads{detail::relu_grad(g, saved_output(y))};
    });
  });
}

Tensor relu6(const Tensor& x) {
  return apply({"Relu6", "relu6", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("relu6", in[0], [](const auto& a) { return a.max(0).min(6); });
    return with_backward(y, [x = save(in[0])](const Tensor& g) { return Grads{relu6_grad(g, *x)}; });
  });
}

Tensor leaky_relu(const Tensor& x, double alpha) {
  return apply({"LeakyRelu", "leaky_relu", DTypes::Floating}, {x}, {{"alpha", alpha}}, same_as_input,
               [alpha](Args in, const OutputSpec&) {
    Tensor y = unary_float("leaky_relu", in[0], [alpha](const auto& a) {
      using T = typename std::decay_t<decltype(a)>::Scalar;
      return (a > 0).select(a, a * static_cast<T>(alpha));
    });
    return with_backward(y, [x = save(in[0]), alpha](const Tensor& g) { return Grads{leaky_relu_grad(g, *x, alpha)}; });
  });
}

Tensor elu(const Tensor& x) {
  return apply({"Elu", "elu", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("elu", in[0], [](const auto& a) { return (a > 0).select(a, a.exp() - 1); });
    return with_backward(y, [y = save_output(y)](const Tensor& g) {
      return Grads{elu_grad(g, saved_output(y))};
    });
  });
}

Tensor softplus(const Tensor& x) {
  return apply({"Softplus", "softplus", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|.
    Tensor y = unary_float("softplus", in[0], [](const auto& a) { return a.max(0) + (-a.abs()).exp().log1p(); });
    return with_backward(y, [x = save(in[0])](const Tensor& g) { return Grads{g * sigmoid(*x)}; });
  });
}

Tensor sigmoid(const Tensor& x) {
  return apply({"Sigmoid", "sigmoid", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("sigmoid", in[0], [](const auto& a) { return a.logistic(); });
    return with_backward(y, [y = save_output(y)](const Tensor& g) {
      return Grads{sigmoid_grad(saved_output(y), g)};
    });
  });
}

Tensor tanh(const Tensor& x) {
  return apply({"Tanh", "tanh", DTypes::Floating}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    Tensor y = unary_float("tanh", in[0], [](const auto& a) { return a.tanh(); });
    return with_backward(y, [y = save_output(y)](const Tensor& g) {
      return Grads{tanh_grad(saved_output(y), g)};
    });
  });
}

// ---------------------------------------------------------------------------- comparisons

namespace {
/// A bool-valued binary op with broadcasting: comparisons (one dtype T for both) and the logical
/// ops (signature "b": bool only).
template <class F>
Tensor compare(const char* type, const char* op, const Tensor& a, const Tensor& b, F f, const char* signature = "T",
               const char* input_names = nullptr) {
  return apply({type, op, DTypes::Any, signature, input_names}, {a, b}, {},
               [op](Args in) { return OutputSpec{broadcast_shapes(op, in[0].shape(), in[1].shape()), bool_}; },
               [f](Args in, const OutputSpec& s) {
                 return detail::visit_dtype(in[0].dtype(), [&]<class T>() {
                   return broadcast_binary<T, bool>(in[0], in[1], s.shape, bool_, f);
                 });
               });
}
}  // namespace

Tensor equal(const Tensor& a, const Tensor& b) { return compare("Equal", "equal", a, b, [](auto x, auto y) { return x == y; }); }
Tensor not_equal(const Tensor& a, const Tensor& b) { return compare("NotEqual", "not_equal", a, b, [](auto x, auto y) { return x != y; }); }
Tensor less(const Tensor& a, const Tensor& b) { return compare("Less", "less", a, b, [](auto x, auto y) { return x < y; }); }
Tensor less_equal(const Tensor& a, const Tensor& b) { return compare("LessEqual", "less_equal", a, b, [](auto x, auto y) { return x <= y; }); }
Tensor greater(const Tensor& a, const Tensor& b) { return compare("Greater", "greater", a, b, [](auto x, auto y) { return x > y; }); }
Tensor greater_equal(const Tensor& a, const Tensor& b) {
  return compare("GreaterEqual", "greater_equal", a, b, [](auto x, auto y) { return x >= y; });
}

Tensor logical_and(const Tensor& x, const Tensor& y) {
  return compare("LogicalAnd", "logical_and", x, y, [](auto a, auto b) { return a && b; }, "b", "x,y");
}

Tensor logical_or(const Tensor& x, const Tensor& y) {
  return compare("LogicalOr", "logical_or", x, y, [](auto a, auto b) { return a || b; }, "b", "x,y");
}

Tensor logical_not(const Tensor& x) {
  return apply({"LogicalNot", "logical_not", DTypes::Any, "b", "x"}, {x}, {}, same_as_input, [](Args in, const OutputSpec&) {
    const Tensor& x = in[0];
    Tensor out = Tensor::empty(x.shape(), bool_);
    const bool* p = x.data<bool>();
    bool* o = out.data<bool>();
    for (std::int64_t i = 0, end = x.numel(); i < end; ++i) o[i] = !p[i];
    return out;
  });
}

Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y) {
  return apply({"Select", "where", DTypes::Any, "bTT", "the condition,x,y"}, {cond, x, y}, {},
               [](Args in) {
                 const Shape xy = broadcast_shapes("where", in[1].shape(), in[2].shape());
                 return OutputSpec{broadcast_shapes("where", in[0].shape(), xy), in[1].dtype()};
               },
               [](Args in, const OutputSpec& s) {
    const Tensor &x = in[1], &y = in[2];
    Tensor c = broadcast_to(in[0], s.shape);
    Tensor r = detail::visit_dtype(x.dtype(), [&]<class T>() {
      // Pick x where true, via two broadcasting passes over the materialised condition.
      Tensor res = broadcast_binary<T>(x, y, s.shape, x.dtype(), [](T a, T) { return a; });
      Tensor alt = broadcast_binary<T>(x, y, s.shape, x.dtype(), [](T, T b) { return b; });
      T* o = res.data<T>();
      const T* q = alt.data<T>();
      const bool* m = c.data<bool>();
      for (std::int64_t i = 0, end = res.numel(); i < end; ++i)
        if (!m[i]) o[i] = q[i];
      return res;
    });
    return with_backward(r, [c = save(c), sx = x.shape(), sy = y.shape(), gx = x.requires_grad(),
                             gy = y.requires_grad()](const Tensor& g) {
      Tensor z = zeros(Shape{}, g.dtype());
      return Grads{Tensor(), maybe(gx, [&] { return sum_to(where(*c, g, z), sx); }),
                   maybe(gy, [&] { return sum_to(where(*c, z, g), sy); })};
    });
  });
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.defined() && x.dtype() == dtype) return x;  // as tf.cast: the same tensor
  return apply({"Cast", "cast", DTypes::Any, "a"}, {x}, {{"DstT", dtype}},
               [dtype](Args in) { return OutputSpec{in[0].shape(), dtype}; },
               [dtype](Args in, const OutputSpec&) {
    const Tensor& x = in[0];
    Tensor y = Tensor::empty(x.shape(), dtype);
    const std::int64_t n = x.numel();
    detail::visit_dtype(x.dtype(), [&]<class S>() {
      detail::visit_dtype(dtype, [&]<class D>() {
        const S* p = x.data<S>();
        D* o = y.data<D>();
        if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D> && !std::is_same_v<D, bool>) {
          // A float whose integer part D cannot hold (NaN and infinities included) has no value in
          // D: converting it is undefined behaviour in C++, so it is an error here.
          constexpr double lo = static_cast<double>(std::numeric_limits<D>::min());
          constexpr double hi = -lo == 0 ? static_cast<double>(std::numeric_limits<D>::max()) + 1 : -lo;
          for (std::int64_t i = 0; i < n; ++i) {
            const double v = std::trunc(static_cast<double>(p[i]));
            if (!(v >= lo && v < hi))
              throw ValueError(fmt::format("cast: element {} of the {} {} tensor is {}, which {} cannot hold (its range "
                                           "is [{}, {}]); clip or round the values first",
                                           i, dtype_name(x.dtype()), x.shape().str(), p[i], dtype_name(dtype),
                                           std::numeric_limits<D>::min(), std::numeric_limits<D>::max()));
            o[i] = static_cast<D>(p[i]);
          }
        } else {
          for (std::int64_t i = 0; i < n; ++i) {
            if constexpr (std::is_same_v<D, bool>) o[i] = p[i] != S(0);
            else o[i] = static_cast<D>(p[i]);
          }
        }
      });
    });
    // Differentiable between floating dtypes only: the door records no integer output.
    return with_backward(y, [from = x.dtype()](const Tensor& g) { return Grads{cast(g, from)}; });
  });
}

Tensor stop_gradient(const Tensor& x) {
  return apply({"StopGradient", "stop_gradient", DTypes::Any, "a"}, {x}, {}, same_as_input,
               [](Args in, const OutputSpec&) { return in[0].detach(); });
}

// ---------------------------------------------------------------------------- add_n

Tensor add_n(const std::vector<Tensor>& inputs) {
  if (inputs.empty()) throw ValueError("add_n: needs at least one tensor");
  return apply({"AddN", "add_n"}, inputs, {{"N", static_cast<std::int64_t>(inputs.size())}},
               [](Args in) {
                 Shape out = in[0].shape();
                 for (std::size_t i = 1; i < in.size(); ++i) {
                   if (in[i].shape() != in[0].shape() &&
                       broadcast_shapes("add_n", in[0].shape(), in[i].shape()) != in[0].shape())
                     throw ShapeError(fmt::format("add_n: all inputs must have one shape, got {} (input 0) and {} "
                                                  "(input {})",
                                                  in[0].shape().str(), in[i].shape().str(), i));
                   out = broadcast_shapes("add_n", out, in[i].shape());
                 }
                 return OutputSpec{out, in[0].dtype()};
               },
               [](Args in, const OutputSpec&) {
                 Tensor sum = in[0];
                 for (std::size_t i = 1; i < in.size(); ++i) sum = add(sum, in[i]);
                 return sum;
               });
}

// ---------------------------------------------------------------------------- operators

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
namespace {
/// The number `v` as a 0-d tensor of t's dtype. An integer tensor takes only whole numbers in its
/// range: like TensorFlow, refuse `labels * 0.5` rather than silently compute `labels * 0`.
Tensor scalar_like(const char* op, double v, const Tensor& t) {
  detail::check_defined(op, t);
  if (is_floating(t.dtype()) || t.dtype() == bool_) return scalar(v, t.dtype());
  const bool exact = detail::visit_dtype(t.dtype(), [v]<class T>() {
    return v >= static_cast<double>(std::numeric_limits<T>::lowest()) &&
           v < static_cast<double>(std::numeric_limits<T>::max()) + 1.0 && std::trunc(v) == v;
  });
  if (!exact)
    throw DTypeError(fmt::format("{}: cannot convert {} to {}, the dtype of the tensor {}; cast the tensor first "
                                 "(cast(x, float32))",
                                 op, v, dtype_name(t.dtype()), t.shape().str()));
  return scalar(v, t.dtype());
}
}  // namespace

Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like("add", b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like("sub", b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like("mul", b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like("div", b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like("add", a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like("sub", a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like("mul", a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like("div", a, b), b); }

// ---------------------------------------------------------------------------- in place

void add_(const Tensor& target, const Tensor& b) {
  Tensor a = target;  // a handle to the data that changes
  detail::check_has_data("add_", a);
  detail::check_has_data("add_", b);
  check_same_dtype("add_", a, b);
  if (broadcast_shapes("add_", a.shape(), b.shape()) != a.shape())
    throw ShapeError(fmt::format("add_: cannot add {} into {} in place: the result would have another shape",
                                 b.shape().str(), a.shape().str()));
  a.bump_version();
  visit_numeric("add_", a, [&]<class T>() {
    detail::broadcast_loop<T, T>(a.data<T>(), a.shape(), b.data<T>(), b.shape(), a.data<T>(), a.shape(),
                                 [](T x, T y) { return static_cast<T>(x + y); });
  });
}

void axpy_(const Tensor& target, double alpha, const Tensor& b) {
  Tensor a = target;
  detail::check_has_data("axpy_", a);
  detail::check_has_data("axpy_", b);
  check_same_dtype("axpy_", a, b);
  if (a.shape() != b.shape())
    throw ShapeError(fmt::format("axpy_: shapes {} and {} differ", a.shape().str(), b.shape().str()));
  a.bump_version();
  visit_floating("axpy_", a, [&]<class T>() { detail::amap<T>(a) += static_cast<T>(alpha) * detail::amap<T>(b); });
}

void scale_(const Tensor& target, double s) {
  Tensor a = target;
  detail::check_has_data("scale_", a);
  a.bump_version();
  visit_numeric("scale_", a, [&]<class T>() { detail::amap<T>(a) *= static_cast<T>(s); });
}

void copy_(const Tensor& target, const Tensor& b) {
  Tensor a = target;
  detail::check_has_data("copy_", a);
  detail::check_has_data("copy_", b);
  check_same_dtype("copy_", a, b);
  a.bump_version();
  if (a.shape() == b.shape()) {
    if (a.raw_data() != b.raw_data()) std::memcpy(a.raw_data(), b.raw_data(), a.nbytes());
    return;
  }
  Tensor src = broadcast_to(b, a.shape());
  std::memcpy(a.raw_data(), src.raw_data(), a.nbytes());
}

void fill_(const Tensor& target, double value) {
  Tensor a = target;
  detail::check_has_data("fill_", a);
  a.bump_version();
  detail::visit_dtype(a.dtype(), [&]<class T>() {
    T* p = a.data<T>();
    const T v = static_cast<T>(value);
    for (std::int64_t i = 0, end = a.numel(); i < end; ++i) p[i] = v;
  });
}

}  // namespace tapeflow
