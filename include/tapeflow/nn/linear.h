#pragma once
/// nn::Linear: the fully connected layer (tf.layers.dense without the activation).
#include <cstdint>
#include <string>

#include "tapeflow/dtype.h"
#include "tapeflow/nn/module.h"
#include "tapeflow/ops/random.h"

namespace tapeflow::nn {

/// tf.nn.xw_plus_b: x [N, in] · weights [in, out] + biases [out] -> [N, out]. Eager, one op whose
/// GEMM starts from the biases (no separate pass over the output): TensorFlow's "_FusedMatMul"
/// (its graph optimizer's fusion of MatMul and BiasAdd), also as the node in graph mode.
/// x may have more dimensions, [..., in] -> [..., out] (e.g. [batch, time, in]): its rows are
/// multiplied as one [rows, in] matrix, between reshapes that share the data (graph mode:
/// "Reshape" nodes around the "_FusedMatMul", as tf.layers.dense's Tensordot). Differentiable in
/// all three.
Tensor xw_plus_b(const Tensor& x, const Tensor& weights, const Tensor& biases);

/// tf.nn.relu_layer: relu(x · weights + biases), as one op whose product's epilogue applies the
/// ReLU to each thread's share of the output while it is in cache (TensorFlow's "_FusedMatMul"
/// with fused_ops BiasAdd and Relu, also the node in graph mode). Shapes as xw_plus_b. The
/// gradient is relu's then xw_plus_b's: where the output is 0, nothing flows back.
Tensor relu_layer(const Tensor& x, const Tensor& weights, const Tensor& biases);

struct LinearOptions {
  /// Add a learned bias.
  bool bias = true;
  /// Apply a ReLU to the output (tf.layers.dense(activation=tf.nn.relu)): with a bias, fused into
  /// the product as relu_layer; without one, relu(x·W).
  bool relu = false;
  /// The parameters' dtype: float32, or float64 (e.g. for gradient checks). Inputs must match.
  DType dtype = float32;
  /// The generator for the initial weight (nullptr: the default generator, see manual_seed()).
  Generator* generator = nullptr;
};

/// y = x·W + b: input [..., in] -> output [..., out] (e.g. [N, in] -> [N, out], or a sequence
/// [batch, time, in] -> [batch, time, out]).
///
/// Parameters (TensorFlow's layout, not torch's transposed one):
///   `weight` [in, out], initialised glorot (Xavier) uniform: U(-l, l), l = sqrt(6 / (in + out));
///   `bias`   [out],     initialised to zeros (when options.bias).
/// These are the defaults of TensorFlow's tf.layers.dense. To initialise differently, overwrite
/// the values in place with nn/init.h, e.g. `nn::init::he_normal_(lin.weight())`.
///
/// An input that is not [..., in] is a ShapeError naming the module and the input's shape.
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, LinearOptions options = {});

  /// [..., in] -> [..., out]
  Tensor forward(const Tensor& input) override;

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  const LinearOptions& options() const { return options_; }
  /// [in, out]
  const Tensor& weight() const { return weight_; }
  /// [out]; undefined when options.bias is false.
  const Tensor& bias() const { return bias_; }

  std::string type_name() const override { return "Linear"; }
  /// "784, 128", plus ", bias=false" and ", dtype=float64" when not the defaults.
  std::string extra_repr() const override;

 private:
  std::int64_t in_;
  std::int64_t out_;
  LinearOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace tapeflow::nn
