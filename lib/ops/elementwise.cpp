// Element-wise ops: shape rule, forward kernel and backward rule side by side.
#include "tapeflow/ops/elementwise.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "core/symbolic.h"
#include "ops/kernels.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow {

using detail::broadcast_binary;
using detail::check_same_dtype;
using detail::unary_float;
using detail::visit_floating;
using detail::visit_numeric;

namespace {

/// Same-shape element-wise f(a, b) of one floating dtype: the building block of backward kernels.
template <class F>
Tensor zip(const char* op, const Tensor& a, const Tensor& b, F f) {
  return visit_floating(op, a, [&]<class T>() { return broadcast_binary<T>(a, b, a.shape(), a.dtype(), f); });
}

struct BinaryPrep {
  Shape out;
};

BinaryPrep prep_binary(const char* op, const Tensor& a, const Tensor& b) {
  detail::check_defined(op, a);
  detail::check_defined(op, b);
  return detail::build_checked(op, {&a, &b}, [&] {
    check_same_dtype(op, a, b);
    return BinaryPrep{broadcast_shapes(op, a.shape(), b.shape())};
  });
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

using detail::Args;

// Graph mode: a node of op `type` with x's shape and `dtype` (x's when absent), after the eager
// op's dtype rule (`floating`: float32/float64 only; else any numeric dtype).
Tensor unary_node(const char* type, const char* op, const Tensor& x, bool floating, detail::Replay replay,
                  std::optional<DType> dtype = std::nullopt) {
  detail::check_defined(op, x);
  if (floating) visit_floating(op, x, []<class T>() {});
  else visit_numeric(op, x, []<class T>() {});
  return detail::graph_op(type, {x}, x.shape(), dtype.value_or(x.dtype()), std::move(replay));
}

// Graph mode of a binary op: an arithmetic one (no `dtype`: the result has a's) takes numeric
// dtypes only, as the eager kernel; a comparison gives `dtype` (bool) for any.
Tensor binary_node(const char* type, const char* op, const Tensor& a, const Tensor& b, const Shape& out,
                   detail::Replay replay, std::optional<DType> dtype = std::nullopt) {
  if (!dtype) visit_numeric(op, a, []<class T>() {});
  return detail::graph_op(type, {a, b}, out, dtype.value_or(a.dtype()), std::move(replay));
}

/// In-place ops write data, which a graph tensor does not have.
void check_eager(const char* op, const Tensor& t) {
  if (detail::is_symbolic(t))
    throw ValueError(fmt::format("{}: '{}' ({} {}) is a graph tensor, which has no data to change in place; in graph "
                                 "mode update a Variable with assign / assign_add / assign_sub",
                                 op, t.impl()->name, dtype_name(t.dtype()), t.shape().str()));
}

}  // namespace

// ---------------------------------------------------------------------------- binary

Tensor add(const Tensor& a, const Tensor& b) {
  auto [out] = prep_binary("add", a, b);
  if (detail::any_symbolic(a, b))
    return binary_node("Add", "add", a, b, out, [](Args in) { return add(in[0], in[1]); });
  Tensor c = numeric_binary("add", a, b, out, [](auto x, auto y) { return x + y; });
  return autograd::record(c, {a, b}, "Add", [sa = a.shape(), sb = b.shape(), ga = a.requires_grad(),
                                             gb = b.requires_grad()](const Tensor& g) {
    return Grads{maybe(ga, [&] { return sum_to(g, sa); }), maybe(gb, [&] { return sum_to(g, sb); })};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  auto [out] = prep_binary("sub", a, b);
  if (detail::any_symbolic(a, b))
    return binary_node("Sub", "sub", a, b, out, [](Args in) { return sub(in[0], in[1]); });
  Tensor c = numeric_binary("sub", a, b, out, [](auto x, auto y) { return x - y; });
  return autograd::record(c, {a, b}, "Sub", [sa = a.shape(), sb = b.shape(), ga = a.requires_grad(),
                                             gb = b.requires_grad()](const Tensor& g) {
    return Grads{maybe(ga, [&] { return sum_to(g, sa); }), maybe(gb, [&] { return sum_to(neg(g), sb); })};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  auto [out] = prep_binary("mul", a, b);
  if (detail::any_symbolic(a, b))
    return binary_node("Mul", "mul", a, b, out, [](Args in) { return mul(in[0], in[1]); });
  Tensor c = numeric_binary("mul", a, b, out, [](auto x, auto y) { return x * y; });
  return autograd::record(c, {a, b}, "Mul", [a, b](const Tensor& g) {  // dA = g*b, dB = g*a
    return Grads{maybe(a.requires_grad(), [&] { return sum_to(g * b, a.shape()); }),
                 maybe(b.requires_grad(), [&] { return sum_to(g * a, b.shape()); })};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  auto [out] = prep_binary("div", a, b);
  if (detail::any_symbolic(a, b))
    return binary_node("RealDiv", "div", a, b, out, [](Args in) { return div(in[0], in[1]); });
  Tensor c = numeric_binary("div", a, b, out, [](auto x, auto y) { return x / y; });
  return autograd::record(c, {a, b}, "RealDiv", [a, b](const Tensor& g) {  // dA = g/b, dB = -g*a/b^2
    return Grads{maybe(a.requires_grad(), [&] { return sum_to(g / b, a.shape()); }),
                 maybe(b.requires_grad(), [&] { return sum_to(neg(g * a / square(b)), b.shape()); })};
  });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  auto [out] = prep_binary("pow", a, b);
  if (detail::any_symbolic(a, b)) {
    visit_floating("pow", a, []<class T>() {});
    return binary_node("Pow", "pow", a, b, out, [](Args in) { return pow(in[0], in[1]); });
  }
  Tensor c = float_binary("pow", a, b, out, [](auto x, auto y) { return std::pow(x, y); });
  return autograd::record(c, {a, b}, "Pow", [a, b, c = c.detach()](const Tensor& g) {
    // dA = g * b * a^(b-1); dB = g * a^b * log(a)
    return Grads{maybe(a.requires_grad(), [&] { return sum_to(g * b * pow(a, b - 1.0), a.shape()); }),
                 maybe(b.requires_grad(), [&] { return sum_to(g * c * log(a), b.shape()); })};
  });
}

Tensor pow(const Tensor& a, double exponent) { return pow(a, scalar(exponent, a.dtype())); }

Tensor maximum(const Tensor& a, const Tensor& b) {
  auto [out] = prep_binary("maximum", a, b);
  if (detail::any_symbolic(a, b))
    return binary_node("Maximum", "maximum", a, b, out, [](Args in) { return maximum(in[0], in[1]); });
  Tensor c = numeric_binary("maximum", a, b, out, [](auto x, auto y) { return x >= y ? x : y; });
  return autograd::record(c, {a, b}, "Maximum", [a, b](const Tensor& g) {
    Tensor take_a = greater_equal(a, b);
    return Grads{maybe(a.requires_grad(), [&] { return sum_to(where(take_a, g, zeros_like(g)), a.shape()); }),
                 maybe(b.requires_grad(), [&] { return sum_to(where(take_a, zeros_like(g), g), b.shape()); })};
  });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  auto [out] = prep_binary("minimum", a, b);
  if (detail::any_symbolic(a, b))
    return binary_node("Minimum", "minimum", a, b, out, [](Args in) { return minimum(in[0], in[1]); });
  Tensor c = numeric_binary("minimum", a, b, out, [](auto x, auto y) { return x <= y ? x : y; });
  return autograd::record(c, {a, b}, "Minimum", [a, b](const Tensor& g) {
    Tensor take_a = less_equal(a, b);
    return Grads{maybe(a.requires_grad(), [&] { return sum_to(where(take_a, g, zeros_like(g)), a.shape()); }),
                 maybe(b.requires_grad(), [&] { return sum_to(where(take_a, zeros_like(g), g), b.shape()); })};
  });
}

// ---------------------------------------------------------------------------- unary

Tensor neg(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Neg", "neg", x, false, [](Args in) { return neg(in[0]); });
  detail::check_defined("neg", x);
  Tensor y = visit_numeric("neg", x, [&]<class T>() {
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    const T* p = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t i = 0, end = x.numel(); i < end; ++i) o[i] = static_cast<T>(-p[i]);
    return out;
  });
  return autograd::record(y, {x}, "Neg", [](const Tensor& g) { return Grads{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Exp", "exp", x, true, [](Args in) { return exp(in[0]); });
  Tensor y = unary_float("exp", x, [](const auto& a) { return a.exp(); });
  return autograd::record(y, {x}, "Exp", [y = y.detach()](const Tensor& g) { return Grads{g * y}; });
}

Tensor log(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Log", "log", x, true, [](Args in) { return log(in[0]); });
  Tensor y = unary_float("log", x, [](const auto& a) { return a.log(); });
  return autograd::record(y, {x}, "Log", [x](const Tensor& g) { return Grads{g / x}; });
}

Tensor sqrt(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Sqrt", "sqrt", x, true, [](Args in) { return sqrt(in[0]); });
  Tensor y = unary_float("sqrt", x, [](const auto& a) { return a.sqrt(); });
  return autograd::record(y, {x}, "Sqrt", [y = y.detach()](const Tensor& g) {  // g / (2 sqrt(x))
    return Grads{zip("SqrtGrad", g, y, [](auto gv, auto yv) { return gv * decltype(gv)(0.5) / yv; })};
  });
}

Tensor rsqrt(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Rsqrt", "rsqrt", x, true, [](Args in) { return rsqrt(in[0]); });
  Tensor y = unary_float("rsqrt", x, [](const auto& a) { return a.rsqrt(); });
  return autograd::record(y, {x}, "Rsqrt", [y = y.detach()](const Tensor& g) {  // -g y^3 / 2
    return Grads{zip("RsqrtGrad", g, y, [](auto gv, auto yv) { return gv * decltype(gv)(-0.5) * yv * yv * yv; })};
  });
}

Tensor square(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Square", "square", x, false, [](Args in) { return square(in[0]); });
  detail::check_defined("square", x);
  Tensor y = numeric_binary("square", x, x, x.shape(), [](auto a, auto) { return a * a; });
  return autograd::record(y, {x}, "Square", [x](const Tensor& g) {
    return Grads{zip("SquareGrad", g, x, [](auto gv, auto xv) { return gv * decltype(gv)(2) * xv; })};
  });
}

Tensor abs(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Abs", "abs", x, false, [](Args in) { return abs(in[0]); });
  detail::check_defined("abs", x);
  Tensor y = numeric_binary("abs", x, x, x.shape(), [](auto a, auto) {
    using T = decltype(a);
    if constexpr (std::is_unsigned_v<T>) return a;
    else return a < T(0) ? T(-a) : a;
  });
  return autograd::record(y, {x}, "Abs", [x](const Tensor& g) { return Grads{g * sign(x)}; });
}

Tensor sign(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Sign", "sign", x, false, [](Args in) { return sign(in[0]); });
  detail::check_defined("sign", x);
  Tensor y = numeric_binary("sign", x, x, x.shape(), [](auto a, auto) {
    using T = decltype(a);
    if constexpr (std::is_unsigned_v<T>) return static_cast<T>(a != T(0));
    else return static_cast<T>((T(0) < a) - (a < T(0)));
  });
  return autograd::record(y, {x}, "Sign", [](const Tensor& g) { return Grads{zeros_like(g)}; });
}

Tensor floor(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Floor", "floor", x, true, [](Args in) { return floor(in[0]); });
  Tensor y = unary_float("floor", x, [](const auto& a) { return a.floor(); });
  return autograd::record(y, {x}, "Floor", [](const Tensor& g) { return Grads{zeros_like(g)}; });
}

Tensor clip(const Tensor& x, double lo, double hi) {
  if (lo > hi) throw ValueError(fmt::format("clip_by_value: clip_value_min {} is greater than clip_value_max {}", lo, hi));
  if (detail::any_symbolic(x))
    return unary_node("ClipByValue", "clip_by_value", x, false, [lo, hi](Args in) { return clip(in[0], lo, hi); });
  Tensor y = visit_numeric("clip_by_value", x, [&]<class T>() {
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    const T *p = x.data<T>(), l = static_cast<T>(lo), h = static_cast<T>(hi);
    T* o = out.data<T>();
    for (std::int64_t i = 0, end = x.numel(); i < end; ++i) o[i] = p[i] < l ? l : (p[i] > h ? h : p[i]);
    return out;
  });
  return autograd::record(y, {x}, "ClipByValue", [x, lo, hi](const Tensor& g) {
    return Grads{zip("ClipGrad", g, x, [lo, hi](auto gv, auto xv) {
      return (xv >= lo && xv <= hi) ? gv : decltype(gv)(0);
    })};
  });
}

// ---------------------------------------------------------------------------- activations

Tensor relu(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Relu", "relu", x, true, [](Args in) { return relu(in[0]); });
  Tensor y = unary_float("relu", x, [](const auto& a) { return a.max(0); });
  return autograd::record(y, {x}, "Relu", [y = y.detach()](const Tensor& g) {
    return Grads{zip("ReluGrad", g, y, [](auto gv, auto yv) { return yv > 0 ? gv : decltype(gv)(0); })};
  });
}

Tensor relu6(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Relu6", "relu6", x, true, [](Args in) { return relu6(in[0]); });
  Tensor y = unary_float("relu6", x, [](const auto& a) { return a.max(0).min(6); });
  return autograd::record(y, {x}, "Relu6", [x](const Tensor& g) {
    return Grads{zip("Relu6Grad", g, x, [](auto gv, auto xv) { return (xv > 0 && xv < 6) ? gv : decltype(gv)(0); })};
  });
}

Tensor leaky_relu(const Tensor& x, double alpha) {
  if (detail::any_symbolic(x))
    return unary_node("LeakyRelu", "leaky_relu", x, true, [alpha](Args in) { return leaky_relu(in[0], alpha); });
  Tensor y = unary_float("leaky_relu", x, [alpha](const auto& a) {
    using T = typename std::decay_t<decltype(a)>::Scalar;
    return (a > 0).select(a, a * static_cast<T>(alpha));
  });
  return autograd::record(y, {x}, "LeakyRelu", [x, alpha](const Tensor& g) {
    return Grads{zip("LeakyReluGrad", g, x, [alpha](auto gv, auto xv) {
      return xv > 0 ? gv : static_cast<decltype(gv)>(gv * alpha);
    })};
  });
}

Tensor elu(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Elu", "elu", x, true, [](Args in) { return elu(in[0]); });
  Tensor y = unary_float("elu", x, [](const auto& a) { return (a > 0).select(a, a.exp() - 1); });
  return autograd::record(y, {x}, "Elu", [x, y = y.detach()](const Tensor& g) {
    Tensor gx = zip("EluGrad", g, y, [](auto gv, auto yv) { return gv * (yv + 1); });  // d/dx (e^x - 1) = y + 1
    return Grads{where(greater(x, zeros(Shape{}, x.dtype())), g, gx)};
  });
}

Tensor softplus(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Softplus", "softplus", x, true, [](Args in) { return softplus(in[0]); });
  // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|.
  Tensor y = unary_float("softplus", x, [](const auto& a) { return a.max(0) + (-a.abs()).exp().log1p(); });
  return autograd::record(y, {x}, "Softplus", [x](const Tensor& g) { return Grads{g * sigmoid(x)}; });
}

Tensor sigmoid(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Sigmoid", "sigmoid", x, true, [](Args in) { return sigmoid(in[0]); });
  Tensor y = unary_float("sigmoid", x, [](const auto& a) { return a.logistic(); });
  return autograd::record(y, {x}, "Sigmoid", [y = y.detach()](const Tensor& g) {
    return Grads{zip("SigmoidGrad", g, y, [](auto gv, auto yv) { return gv * yv * (1 - yv); })};
  });
}

Tensor tanh(const Tensor& x) {
  if (detail::any_symbolic(x)) return unary_node("Tanh", "tanh", x, true, [](Args in) { return tanh(in[0]); });
  Tensor y = unary_float("tanh", x, [](const auto& a) { return a.tanh(); });
  return autograd::record(y, {x}, "Tanh", [y = y.detach()](const Tensor& g) {
    return Grads{zip("TanhGrad", g, y, [](auto gv, auto yv) { return gv * (1 - yv * yv); })};
  });
}

// ---------------------------------------------------------------------------- comparisons

namespace {
template <class F>
Tensor compare(const char* op, const char* type, const Tensor& a, const Tensor& b, F f, Tensor (*self)(const Tensor&, const Tensor&)) {
  auto [out] = prep_binary(op, a, b);
  if (detail::any_symbolic(a, b))
    return binary_node(type, op, a, b, out, [self](Args in) { return self(in[0], in[1]); }, bool_);
  return detail::visit_dtype(a.dtype(), [&]<class T>() { return broadcast_binary<T, bool>(a, b, out, bool_, f); });
}
}  // namespace

Tensor equal(const Tensor& a, const Tensor& b) { return compare("equal", "Equal", a, b, [](auto x, auto y) { return x == y; }, equal); }
Tensor not_equal(const Tensor& a, const Tensor& b) { return compare("not_equal", "NotEqual", a, b, [](auto x, auto y) { return x != y; }, not_equal); }
Tensor less(const Tensor& a, const Tensor& b) { return compare("less", "Less", a, b, [](auto x, auto y) { return x < y; }, less); }
Tensor less_equal(const Tensor& a, const Tensor& b) { return compare("less_equal", "LessEqual", a, b, [](auto x, auto y) { return x <= y; }, less_equal); }
Tensor greater(const Tensor& a, const Tensor& b) { return compare("greater", "Greater", a, b, [](auto x, auto y) { return x > y; }, greater); }
Tensor greater_equal(const Tensor& a, const Tensor& b) {
  return compare("greater_equal", "GreaterEqual", a, b, [](auto x, auto y) { return x >= y; }, greater_equal);
}

Tensor logical_not(const Tensor& x) {
  if (x.dtype() != bool_)
    throw DTypeError(fmt::format("logical_not: expected a bool tensor, got {} {}", dtype_name(x.dtype()), x.shape().str()));
  if (detail::any_symbolic(x))
    return detail::graph_op("LogicalNot", {x}, x.shape(), bool_, [](Args in) { return logical_not(in[0]); });
  Tensor out = Tensor::empty(x.shape(), bool_);
  const bool* p = x.data<bool>();
  bool* o = out.data<bool>();
  for (std::int64_t i = 0, end = x.numel(); i < end; ++i) o[i] = !p[i];
  return out;
}

Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y) {
  detail::check_defined("where", cond);
  if (cond.dtype() != bool_)
    throw DTypeError(fmt::format("where: the condition must be bool, got {} {}; compare first (greater(x, y))",
                                 dtype_name(cond.dtype()), cond.shape().str()));
  auto [xy] = prep_binary("where", x, y);
  Shape out = broadcast_shapes("where", cond.shape(), xy);
  if (detail::any_symbolic(cond, x, y))
    return detail::graph_op("Select", {cond, x, y}, out, x.dtype(), [](Args in) { return where(in[0], in[1], in[2]); });
  Tensor c = broadcast_to(cond, out);
  Tensor r = detail::visit_dtype(x.dtype(), [&]<class T>() {
    // Pick x where true, via two broadcasting passes over the materialised condition.
    Tensor res = broadcast_binary<T>(x, y, out, x.dtype(), [](T a, T) { return a; });
    Tensor alt = broadcast_binary<T>(x, y, out, x.dtype(), [](T, T b) { return b; });
    T* o = res.data<T>();
    const T* q = alt.data<T>();
    const bool* m = c.data<bool>();
    for (std::int64_t i = 0, end = res.numel(); i < end; ++i)
      if (!m[i]) o[i] = q[i];
    return res;
  });
  return autograd::record(r, {x, y}, "Select", [c, sx = x.shape(), sy = y.shape(), gx = x.requires_grad(),
                                                gy = y.requires_grad()](const Tensor& g) {
    Tensor z = zeros(Shape{}, g.dtype());
    return Grads{maybe(gx, [&] { return sum_to(where(c, g, z), sx); }),
                 maybe(gy, [&] { return sum_to(where(c, z, g), sy); })};
  });
}

Tensor cast(const Tensor& x, DType dtype) {
  detail::check_defined("cast", x);
  if (x.dtype() == dtype) return x;  // as tf.cast: the same tensor
  if (detail::any_symbolic(x))
    return detail::graph_op("Cast", {x}, x.shape(), dtype, [dtype](Args in) { return cast(in[0], dtype); });
  Tensor y = Tensor::empty(x.shape(), dtype);
  const std::int64_t n = x.numel();
  detail::visit_dtype(x.dtype(), [&]<class S>() {
    detail::visit_dtype(dtype, [&]<class D>() {
      const S* p = x.data<S>();
      D* o = y.data<D>();
      for (std::int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<D, bool>) o[i] = p[i] != S(0);
        else o[i] = static_cast<D>(p[i]);
      }
    });
  });
  if (!is_floating(dtype) || !is_floating(x.dtype())) return y;  // not differentiable
  return autograd::record(y, {x}, "Cast", [from = x.dtype()](const Tensor& g) { return Grads{cast(g, from)}; });
}

Tensor stop_gradient(const Tensor& x) {
  if (detail::any_symbolic(x))
    return detail::graph_op("StopGradient", {x}, x.shape(), x.dtype(), [](Args in) { return in[0].detach(); });
  return x.detach();
}

// ---------------------------------------------------------------------------- add_n

Tensor add_n(const std::vector<Tensor>& inputs) {
  if (inputs.empty()) throw ValueError("add_n: needs at least one tensor");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    detail::check_defined("add_n", inputs[i]);
    check_same_dtype("add_n", inputs[0], inputs[i]);
    if (!(inputs[i].shape() == inputs[0].shape()) &&
        broadcast_shapes("add_n", inputs[0].shape(), inputs[i].shape()) != inputs[0].shape())
      throw ShapeError(fmt::format("add_n: all inputs must have one shape, got {} (input 0) and {} (input {})",
                                   inputs[0].shape().str(), inputs[i].shape().str(), i));
  }
  if (detail::is_symbolic(inputs)) {
    Shape out = inputs[0].shape();
    for (const Tensor& t : inputs) out = broadcast_shapes("add_n", out, t.shape());
    return detail::graph_op("AddN", inputs, out, inputs[0].dtype(), [](Args in) {
      return add_n(std::vector<Tensor>(in.begin(), in.end()));
    });
  }
  Tensor sum = inputs[0];
  for (std::size_t i = 1; i < inputs.size(); ++i) sum = add(sum, inputs[i]);
  return sum;
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

void add_(Tensor& a, const Tensor& b) {
  check_eager("add_", a);
  check_eager("add_", b);
  check_same_dtype("add_", a, b);
  if (broadcast_shapes("add_", a.shape(), b.shape()) != a.shape())
    throw ShapeError(fmt::format("add_: cannot add {} into {} in place: the result would have another shape",
                                 b.shape().str(), a.shape().str()));
  visit_numeric("add_", a, [&]<class T>() {
    detail::broadcast_loop<T, T>(a.data<T>(), a.shape(), b.data<T>(), b.shape(), a.data<T>(), a.shape(),
                                 [](T x, T y) { return static_cast<T>(x + y); });
  });
}

void axpy_(Tensor& a, double alpha, const Tensor& b) {
  check_eager("axpy_", a);
  check_eager("axpy_", b);
  check_same_dtype("axpy_", a, b);
  if (a.shape() != b.shape())
    throw ShapeError(fmt::format("axpy_: shapes {} and {} differ", a.shape().str(), b.shape().str()));
  visit_floating("axpy_", a, [&]<class T>() { detail::amap<T>(a) += static_cast<T>(alpha) * detail::amap<T>(b); });
}

void scale_(Tensor& a, double s) {
  check_eager("scale_", a);
  visit_numeric("scale_", a, [&]<class T>() { detail::amap<T>(a) *= static_cast<T>(s); });
}

void copy_(Tensor& a, const Tensor& b) {
  check_eager("copy_", a);
  check_eager("copy_", b);
  check_same_dtype("copy_", a, b);
  if (a.shape() == b.shape()) {
    if (a.raw_data() != b.raw_data()) std::memcpy(a.raw_data(), b.raw_data(), a.nbytes());
    return;
  }
  Tensor src = broadcast_to(b, a.shape());
  std::memcpy(a.raw_data(), src.raw_data(), a.nbytes());
}

void fill_(Tensor& a, double value) {
  check_eager("fill_", a);
  detail::visit_dtype(a.dtype(), [&]<class T>() {
    T* p = a.data<T>();
    const T v = static_cast<T>(value);
    for (std::int64_t i = 0, end = a.numel(); i < end; ++i) p[i] = v;
  });
}

}  // namespace tapeflow
