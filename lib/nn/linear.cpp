#include "tapeflow/nn/linear.h"

#include "core/symbolic.h"
#include "nn/bias.h"
#include "ops/kernels.h"
#include "tapeflow/nn/conv.h"
#include "tapeflow/nn/init.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/linalg.h"

namespace tapeflow::nn {

Tensor xw_plus_b(const Tensor& x, const Tensor& weights, const Tensor& biases) {
  const char* op = "xw_plus_b";
  tapeflow::detail::check_defined(op, x);
  tapeflow::detail::check_defined(op, weights);
  tapeflow::detail::check_defined(op, biases);
  if (tapeflow::detail::any_symbolic(x, weights, biases)) return bias_add(matmul(x, weights), biases);
  const Shape &sx = x.shape(), &sw = weights.shape(), &sb = biases.shape();
  if (sx.rank() != 2 || sw.rank() != 2 || sx[1] != sw[0])
    throw ShapeError(fmt::format("xw_plus_b: cannot multiply x {} by weights {}: expected x [N, in] and weights "
                                 "[in, out] with the same in",
                                 sx.str(), sw.str()));
  if (sb.rank() != 1 || sb[0] != sw[1])
    throw ShapeError(fmt::format("xw_plus_b: biases must be 1-D with one value per output ([{}] for weights {}), "
                                 "got {}",
                                 sw[1], sw.str(), sb.str()));
  tapeflow::detail::check_same_dtype(op, x, weights);
  tapeflow::detail::check_same_dtype(op, x, biases);
  const std::int64_t m = sx[0], k = sx[1], n = sw[1];
  Tensor y = Tensor::empty(Shape{m, n}, x.dtype());
  tapeflow::detail::visit_floating(op, x, [&]<class T>() {
    tapeflow::detail::gemm_bias(x.data<T>(), weights.data<T>(), biases.data<T>(), y.data<T>(), m, k, n);
  });
  return autograd::record(y, {x, weights, biases}, "XwPlusB",
                          [x = weights.requires_grad() ? x.detach() : Tensor(),
                           weights = x.requires_grad() ? weights.detach() : Tensor(),
                           need_bias = biases.requires_grad(), n](const Tensor& g) {
    Tensor dx, dw, db;
    if (weights.defined()) dx = matmul(g, weights, false, true);  // g·Wᵀ
    if (x.defined()) dw = matmul(x, g, true, false);              // xᵀ·g
    if (need_bias) db = detail::bias_grad(g, n);
    return Grads{dx, dw, db};
  });
}

Linear::Linear(std::int64_t in_features, std::int64_t out_features, LinearOptions options)
    : in_(in_features), out_(out_features), options_(options) {
  if (in_features <= 0 || out_features <= 0)
    throw ValueError(fmt::format("Linear({}, {}): in_features and out_features must be positive", in_features,
                                 out_features));
  if (!is_floating(options.dtype))
    throw DTypeError(fmt::format("Linear({}, {}): dtype must be float32 or float64, got {}", in_features,
                                 out_features, dtype_name(options.dtype)));
  // tf.layers.dense's defaults: glorot uniform kernel, zero bias.
  weight_ = register_parameter("weight", init::glorot_uniform({in_, out_}, options.dtype, options.generator));
  if (options.bias) bias_ = register_parameter("bias", init::zeros({out_}, options.dtype));
}

std::string Linear::extra_repr() const {
  std::string s = fmt::format("{}, {}", in_, out_);
  if (!options_.bias) s += ", bias=false";
  if (options_.dtype != float32) s += fmt::format(", dtype={}", dtype_name(options_.dtype));
  return s;
}

Tensor Linear::forward(const Tensor& input) {
  if (!input.defined()) throw ValueError(fmt::format("{}: the input tensor is undefined", str_line()));
  const Shape& s = input.shape();
  if (s.rank() != 2 || (s[1] != in_ && s[1] != Shape::kUnknown))
    throw ShapeError(fmt::format("{}: expected an input of shape [N,{}], got {}{}", str_line(), in_, s.str(),
                                 s.rank() == 2 ? ""
                                               : fmt::format("; flatten it first, e.g. reshape(x, {{-1, {}}})",
                                                             in_)));
  if (input.dtype() != options_.dtype)
    throw DTypeError(fmt::format("{}: the input is {} {} but the parameters are {}; cast the input "
                                 "(cast(x, {})) or build the layer with LinearOptions{{.dtype = {}}}",
                                 str_line(), dtype_name(input.dtype()), s.str(), dtype_name(options_.dtype),
                                 dtype_name(options_.dtype), dtype_name(input.dtype())));
  // [N,in] x [in,out] -> [N,out], + [out] on every row
  return options_.bias ? xw_plus_b(input, weight_, bias_) : matmul(input, weight_);
}

}  // namespace tapeflow::nn
