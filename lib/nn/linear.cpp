#include "tapeflow/nn/linear.h"

#include "tapeflow/nn/init.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/linalg.h"

namespace tapeflow::nn {

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
  Tensor y = matmul(input, weight_);  // [N,in] x [in,out] -> [N,out]
  return options_.bias ? y + bias_ : y;  // + [out], broadcast over N
}

}  // namespace tapeflow::nn
