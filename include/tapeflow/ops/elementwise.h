#pragma once
/// Element-wise ops with numpy broadcasting. Binary ops need both operands of one dtype (as
/// TensorFlow); a C++ number is converted to the tensor's dtype. Output shape: the broadcast of
/// the input shapes. Gradients of broadcast inputs are summed back to their shapes.
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow {

// ---- binary, [broadcast(a, b)]
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
/// a ** b (floating point). d/db uses log(a): keep a > 0 where b requires grad.
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double exponent);
/// Element-wise max / min; on ties the gradient goes to `a`.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

/// tf.add_n: the sum of one or more tensors of one shape and dtype. Differentiable.
Tensor add_n(const std::vector<Tensor>& inputs);

// ---- unary, same shape
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor abs(const Tensor& x);
/// -1, 0 or 1; gradient zero.
Tensor sign(const Tensor& x);
/// The largest integer not above x (float32/float64); gradient zero.
Tensor floor(const Tensor& x);
/// tf.round: the nearest integer, halves to the even one (banker's rounding, as numpy):
/// round(0.5) = 0, round(1.5) = 2, round(-2.5) = -2. Integers are returned unchanged; gradient
/// zero (as floor).
Tensor round(const Tensor& x);
/// Sine and cosine (float32/float64), x in radians.
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
/// The error function 2/sqrt(pi) * integral of e^(-t^2) from 0 to x (float32/float64): GELU's.
Tensor erf(const Tensor& x);
/// log(1 + x), exact for small x (float32/float64).
Tensor log1p(const Tensor& x);
/// e^x - 1, exact for small x (float32/float64).
Tensor expm1(const Tensor& x);
/// tf.clip_by_value: min(max(x, lo), hi); gradient passes where lo <= x <= hi.
Tensor clip(const Tensor& x, double lo, double hi);
inline Tensor clip_by_value(const Tensor& x, double lo, double hi) { return clip(x, lo, hi); }

// ---- activations, same shape (also in tapeflow::nn)
Tensor relu(const Tensor& x);
/// min(max(x, 0), 6)
Tensor relu6(const Tensor& x);
/// x if x > 0 else alpha * x (TensorFlow's default alpha 0.2)
Tensor leaky_relu(const Tensor& x, double alpha = 0.2);
/// x if x > 0 else exp(x) - 1
Tensor elu(const Tensor& x);
/// log(1 + exp(x)), stable for large |x|
Tensor softplus(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// ---- comparisons: bool [broadcast(a, b)], not differentiable
Tensor equal(const Tensor& a, const Tensor& b);
Tensor not_equal(const Tensor& a, const Tensor& b);
Tensor less(const Tensor& a, const Tensor& b);
Tensor less_equal(const Tensor& a, const Tensor& b);
Tensor greater(const Tensor& a, const Tensor& b);
Tensor greater_equal(const Tensor& a, const Tensor& b);
/// Logical and / or / not of bool tensors (tf.logical_and ...); logical_and and logical_or
/// broadcast. Any other dtype is a DTypeError: compare first (not_equal(x, zeros_like(x))).
Tensor logical_and(const Tensor& x, const Tensor& y);
Tensor logical_or(const Tensor& x, const Tensor& y);
Tensor logical_not(const Tensor& x);

/// x where cond else y; cond is bool; all three broadcast. Differentiable in x and y.
Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y);

/// The values converted to `dtype` (tf.cast). Differentiable between floating dtypes.
Tensor cast(const Tensor& x, DType dtype);
/// Blocks the gradient (tf.stop_gradient); same as detach().
Tensor stop_gradient(const Tensor& x);

// ---- operators (a C++ number takes the tensor's dtype)
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// ---- in place, never recorded (for optimizers and initializers). Each bumps the tensor's
// version(): a backward that needs the old values (a record saved the tensor and has not been
// replayed yet) then throws instead of computing a wrong gradient. As every in-place function of
// tapeflow (nn::init's too): the changed tensor first, as a const handle (its data changes, not
// the handle; every copy sees the new values), nothing returned.
/// a += b (b broadcast to a's shape)
void add_(const Tensor& a, const Tensor& b);
/// a += alpha * b, same shapes
void axpy_(const Tensor& a, double alpha, const Tensor& b);
/// a *= s
void scale_(const Tensor& a, double s);
/// a = b (b broadcast to a's shape, same dtype)
void copy_(const Tensor& a, const Tensor& b);
/// every element = value
void fill_(const Tensor& a, double value);

}  // namespace tapeflow
