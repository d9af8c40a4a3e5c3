#include "tapeflow/nn/linear.h"

#include "autograd/door.h"
#include "nn/bias.h"
#include "ops/kernels.h"
#include "tapeflow/nn/conv.h"
#include "tapeflow/nn/init.h"
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/linalg.h"

namespace tapeflow::nn {

namespace {

/// f applied to the rows of x [..., in] as a matrix [rows, in] -> [rows, out], the result
/// shaped [..., out] (tf.layers.dense's Tensordot): reshapes that share the data, around one 2-D
/// op. `who` names the caller in errors.
template <class F>
Tensor on_rows(const std::string& who, const Tensor& x, std::int64_t out, F f) {
  const Shape& s = x.shape();
  if (s.rank() == 2) return f(x);
  if (s.rank() < 2)
    throw ShapeError(fmt::format("{}: x must have at least 2 dimensions, [..., in], got x {}", who, s.str()));
  Shape result = s;
  result[s.rank() - 1] = out;
  int unknown = 0;
  for (int i = 0; i + 1 < s.rank(); ++i)
    if (s[i] == Shape::kUnknown) {
      result[i] = -1;
      ++unknown;
    }
  if (unknown > 1)
    throw ShapeError(fmt::format("{}: the input {} has {} unknown leading dimensions; at most one can be inferred "
                                 "when the rows are shaped back: reshape it to [-1, {}] first",
                                 who, s.str(), unknown, s[s.rank() - 1]));
  return reshape(f(reshape(x, Shape{-1, s[s.rank() - 1]})), result);
}

/// One op whose GEMM starts from the biases and, with Fused::bias_relu, ends with a ReLU on each
/// thread's share of the output: TensorFlow's _FusedMatMul (its graph optimizer's fusion of
/// MatMul + BiasAdd [+ Relu]), in both modes, on x [N, in].
Tensor fused_matmul(const char* name, const Tensor& x, const Tensor& weights, const Tensor& biases,
                    detail::Fused fused) {
  return tapeflow::autograd::apply(
      {"_FusedMatMul", name, tapeflow::autograd::DTypes::Floating, "T", "x,weights,biases"},
      {x, weights, biases},
      {{"transpose_a", false}, {"transpose_b", false}, {"fused_ops", detail::fused_ops(fused)}},
      [name](tapeflow::autograd::Args in) {
        const Shape &sx = in[0].shape(), &sw = in[1].shape(), &sb = in[2].shape();
        auto differ = [](std::int64_t a, std::int64_t b) { return a != b && a >= 0 && b >= 0; };
        if (sx.rank() != 2 || sw.rank() != 2 || differ(sx[1], sw[0]))
          throw ShapeError(fmt::format("{}: cannot multiply x {} by weights {}: expected x [N, in] and "
                                       "weights [in, out] with the same in",
                                       name, sx.str(), sw.str()));
        if (sb.rank() != 1 || differ(sb[0], sw[1]))
          throw ShapeError(fmt::format("{}: biases must be 1-D with one value per output ([{}] for weights "
                                       "{}), got {}",
                                       name, sw[1], sw.str(), sb.str()));
        return OutputSpec{Shape{sx[0], sw[1] >= 0 ? sw[1] : sb[0]}, in[0].dtype()};
      },
      [name, fused](tapeflow::autograd::Args in, const OutputSpec&) {
        const Tensor &x = in[0], &weights = in[1], &biases = in[2];
        const std::int64_t m = x.dim(0), k = x.dim(1), n = weights.dim(1);
        Tensor y = Tensor::empty(Shape{m, n}, x.dtype());
        tapeflow::detail::visit_floating(name, x, [&]<class T>() {
          tapeflow::detail::gemm_bias(x.data<T>(), weights.data<T>(), biases.data<T>(), y.data<T>(), m, k, n,
                                      detail::epilogue(fused));
        });
        return tapeflow::autograd::with_backward(
            y, [x = tapeflow::autograd::save(x), weights = tapeflow::autograd::save(weights),
                y = detail::save_for_fused(fused, y),
                need_x = x.requires_grad(), need_weights = weights.requires_grad(), need_bias = biases.requires_grad(),
                n](const Tensor& dy) {
              const Tensor g = detail::through_fused(y, dy);
              Tensor dx, dw, db;
              if (need_x) dx = matmul(g, *weights, false, true);  // g·Wᵀ
              if (need_weights) dw = matmul(*x, g, true, false);  // xᵀ·g
              if (need_bias) db = detail::bias_grad(g, n);
              return Grads{dx, dw, db};
            });
      });
}

}  // namespace

Tensor xw_plus_b(const Tensor& x, const Tensor& weights, const Tensor& biases) {
  tapeflow::detail::check_defined("xw_plus_b", x);
  tapeflow::detail::check_defined("xw_plus_b", weights);
  return on_rows("xw_plus_b", x, weights.rank() == 2 ? weights.dim(1) : -1,
                 [&](const Tensor& rows) { return fused_matmul("xw_plus_b", rows, weights, biases, detail::Fused::bias); });
}

Tensor relu_layer(const Tensor& x, const Tensor& weights, const Tensor& biases) {
  tapeflow::detail::check_defined("relu_layer", x);
  tapeflow::detail::check_defined("relu_layer", weights);
  return on_rows("relu_layer", x, weights.rank() == 2 ? weights.dim(1) : -1, [&](const Tensor& rows) {
    return fused_matmul("relu_layer", rows, weights, biases, detail::Fused::bias_relu);
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
  if (options.bias) bias_ = register_parameter("bias", tapeflow::zeros({out_}, options.dtype));
}

std::string Linear::extra_repr() const {
  std::string s = fmt::format("{}, {}", in_, out_);
  if (!options_.bias) s += ", bias=false";
  if (options_.relu) s += ", relu=true";
  if (options_.dtype != float32) s += fmt::format(", dtype={}", dtype_name(options_.dtype));
  return s;
}

Tensor Linear::forward(const Tensor& input) {
  if (!input.defined()) throw ValueError(fmt::format("{}: the input tensor is undefined", str_line()));
  const Shape& s = input.shape();
  if (s.rank() < 2 || (s[s.rank() - 1] != in_ && s[s.rank() - 1] != Shape::kUnknown))
    throw ShapeError(fmt::format("{}: expected an input of shape [..., {}] (e.g. [N, {}] or [batch, time, {}]), got "
                                 "{}; to flatten the other dimensions into rows, reshape(x, {{-1, {}}})",
                                 str_line(), in_, in_, in_, s.str(), in_));
  if (input.dtype() != options_.dtype)
    throw DTypeError(fmt::format("{}: the input is {} {} but the parameters are {}; cast the input "
                                 "(cast(x, {})) or build the layer with LinearOptions{{.dtype = {}}}",
                                 str_line(), dtype_name(input.dtype()), s.str(), dtype_name(options_.dtype),
                                 dtype_name(options_.dtype), dtype_name(input.dtype())));
  // [..., in] x [in, out] -> [..., out], + [out] on every row
  return on_rows(str_line(), input, out_, [&](const Tensor& rows) {
    if (!options_.bias) return options_.relu ? tapeflow::relu(matmul(rows, weight_)) : matmul(rows, weight_);
    return fused_matmul("xw_plus_b", rows, weight_, bias_,
                        options_.relu ? detail::Fused::bias_relu : detail::Fused::bias);
  });
}

}  // namespace tapeflow::nn
