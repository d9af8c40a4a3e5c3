// Graph-mode layers (tf.contrib.layers) and arg_scope.
#include "tapeflow/graph/layers.h"

#include <algorithm>

#include <fmt/format.h>

#include "nn/window.h"

#include "tapeflow/autograd.h"
#include "tapeflow/graph/session.h"
#include "tapeflow/nn/dropout.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/nn/norm.h"
#include "tapeflow/nn/pool.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/linalg.h"

namespace tapeflow::layers {

namespace {

struct ScopeEntry {
  std::vector<Layer> layers;
  LayerArgs args;
};
thread_local std::vector<ScopeEntry> arg_scopes;

template <class T>
void fill(std::optional<T>& field, const std::optional<T>& from) {
  if (!field && from) field = from;
}

// The call's arguments, completed by the arg_scopes covering `layer` (innermost first).
LayerArgs resolve(Layer layer, LayerArgs args) {
  for (auto it = arg_scopes.rbegin(); it != arg_scopes.rend(); ++it) {
    if (std::find(it->layers.begin(), it->layers.end(), layer) == it->layers.end()) continue;
    const LayerArgs& s = it->args;
    fill(args.activation_fn, s.activation_fn);
    fill(args.weights_initializer, s.weights_initializer);
    fill(args.weights_regularizer, s.weights_regularizer);
    fill(args.biases_initializer, s.biases_initializer);
    fill(args.normalizer_fn, s.normalizer_fn);
    fill(args.padding, s.padding);
    fill(args.outputs_collections, s.outputs_collections);
    fill(args.trainable, s.trainable);
  }
  return args;
}

// A scope name: the given one, else `default_name` made unique under the current name scope.
std::string scope_name(const std::string& scope, const std::string& default_name) {
  if (!scope.empty()) return scope;
  std::string full = get_default_graph().unique_name(default_name, false);
  return full.substr(full.rfind('/') == std::string::npos ? 0 : full.rfind('/') + 1);
}

// The layer's output joins its collections, remembered under the layer's scope name.
Tensor collect(const Tensor& output, const std::string& alias, const LayerArgs& args) {
  if (args.outputs_collections && !args.outputs_collections->empty()) {
    graph::node_of("layers", output).attrs["alias"] = std::string(alias);
    add_to_collections(*args.outputs_collections, output);
  }
  return output;
}

std::int64_t channels(const char* layer, const Tensor& inputs, int min_rank) {
  if (inputs.rank() < min_rank)
    throw ShapeError(fmt::format("layers::{}: inputs '{}' must have rank >= {}, got shape {}", layer,
                                 inputs.is_symbolic() ? inputs.impl()->name : std::string("(eager)"), min_rank,
                                 inputs.shape().str()));
  const std::int64_t c = inputs.shape().dim(-1);
  if (c < 0)
    throw ShapeError(fmt::format("layers::{}: the last dimension of the inputs must be known to create the "
                                 "variables, got shape {}",
                                 layer, inputs.shape().str()));
  return c;
}

// Bias or normalizer, then activation: the tail every weight layer shares.
Tensor finish_layer(Tensor y, std::int64_t num_outputs, const LayerArgs& a) {
  if (a.normalizer_fn && *a.normalizer_fn) {
    y = (*a.normalizer_fn)(y);
  } else {
    Tensor b = get_variable("biases", {num_outputs},
                            {.dtype = y.dtype(),
                             .initializer = a.biases_initializer ? *a.biases_initializer : zeros_initializer(),
                             .trainable = a.trainable.value_or(true)});
    y = nn::bias_add(y, b);
  }
  Activation act = a.activation_fn ? *a.activation_fn : Activation([](const Tensor& x) { return relu(x); });
  return act ? act(y) : y;
}

GetVariableOptions weight_options(const LayerArgs& a, DType dtype) {
  return {.dtype = dtype,
          .initializer = a.weights_initializer ? *a.weights_initializer : xavier_initializer(),
          .regularizer = a.weights_regularizer ? *a.weights_regularizer : nullptr,
          .trainable = a.trainable.value_or(true)};
}

}  // namespace

arg_scope::arg_scope(std::vector<Layer> layers, LayerArgs args) {
  arg_scopes.push_back({std::move(layers), std::move(args)});
}
arg_scope::~arg_scope() { arg_scopes.pop_back(); }

Tensor fully_connected(const Tensor& inputs, std::int64_t num_outputs, const std::string& scope, LayerArgs args) {
  LayerArgs a = resolve(Layer::FullyConnected, std::move(args));
  const std::int64_t k = channels("fully_connected", inputs, 2);
  if (inputs.rank() != 2)
    throw ShapeError(fmt::format("layers::fully_connected: inputs must be [batch, features], got shape {}; "
                                 "flatten them first (layers::flatten)",
                                 inputs.shape().str()));
  variable_scope vs(scope_name(scope, "fully_connected"));
  Tensor w = get_variable("weights", {k, num_outputs}, weight_options(a, inputs.dtype()));
  return collect(finish_layer(matmul(inputs, w), num_outputs, a), vs.name(), a);
}

Tensor conv2d(const Tensor& inputs, std::int64_t num_outputs, const std::vector<int>& kernel_size,
              const std::string& scope, LayerArgs args, const std::vector<int>& stride) {
  LayerArgs a = resolve(Layer::Conv2d, std::move(args));
  const std::int64_t c = channels("conv2d", inputs, 4);
  auto k = nn::detail::spatial_pair("layers::conv2d", "kernel_size", kernel_size);
  variable_scope vs(scope_name(scope, "Conv"));
  Tensor w = get_variable("weights", {k[0], k[1], c, num_outputs}, weight_options(a, inputs.dtype()));
  Tensor y = nn::conv2d(inputs, w, stride, a.padding.value_or(nn::Padding::Same));
  return collect(finish_layer(y, num_outputs, a), vs.name(), a);
}

namespace {
Tensor pool2d(bool is_max, const Tensor& inputs, const std::vector<int>& kernel_size, int stride,
              const std::string& scope, LayerArgs args) {
  LayerArgs a = resolve(is_max ? Layer::MaxPool2d : Layer::AvgPool2d, std::move(args));
  const std::string name = scope_name(scope, is_max ? "MaxPool2D" : "AvgPool2D");
  name_scope ns(name);
  const nn::Padding padding = a.padding.value_or(nn::Padding::Valid);
  Tensor y = is_max ? nn::max_pool(inputs, kernel_size, {stride, stride}, padding)
                    : nn::avg_pool(inputs, kernel_size, {stride, stride}, padding);
  return collect(y, ns.name().substr(0, ns.name().size() - 1), a);
}
}  // namespace

Tensor max_pool2d(const Tensor& inputs, const std::vector<int>& kernel_size, int stride, const std::string& scope,
                  LayerArgs args) {
  return pool2d(true, inputs, kernel_size, stride, scope, std::move(args));
}

Tensor avg_pool2d(const Tensor& inputs, const std::vector<int>& kernel_size, int stride, const std::string& scope,
                  LayerArgs args) {
  return pool2d(false, inputs, kernel_size, stride, scope, std::move(args));
}

Tensor dropout(const Tensor& inputs, const Tensor& keep_prob, const Tensor& is_training, const std::string& scope,
               LayerArgs args) {
  LayerArgs a = resolve(Layer::Dropout, std::move(args));
  name_scope ns(scope_name(scope, "Dropout"));
  Tensor keep = keep_prob.dtype() == inputs.dtype() ? keep_prob : cast(keep_prob, inputs.dtype());
  // Not training: keep everything (dropout with keep_prob 1 is the identity).
  if (is_training.defined()) keep = where(is_training, keep, scalar(1.0, inputs.dtype()));
  return collect(nn::dropout(inputs, keep), ns.name().substr(0, ns.name().size() - 1), a);
}

Tensor batch_norm(const Tensor& inputs, BatchNormArgs args, LayerArgs layer_args) {
  LayerArgs a = resolve(Layer::BatchNorm, std::move(layer_args));
  const std::int64_t c = channels("batch_norm", inputs, 2);
  variable_scope vs(args.scope.empty() ? "BatchNorm" : args.scope);
  const bool trainable = a.trainable.value_or(true);
  const DType dt = inputs.dtype();
  Tensor beta = args.center
                    ? get_variable("beta", {c}, {.dtype = dt, .initializer = zeros_initializer(), .trainable = trainable})
                    : Tensor();
  Tensor gamma = args.scale
                     ? get_variable("gamma", {c}, {.dtype = dt, .initializer = ones_initializer(), .trainable = trainable})
                     : Tensor();
  Tensor moving_mean = get_variable(
      "moving_mean", {c},
      {.dtype = dt, .initializer = zeros_initializer(), .trainable = false,
       .collections = {GraphKeys::GLOBAL_VARIABLES, GraphKeys::MODEL_VARIABLES}});
  Tensor moving_variance = get_variable(
      "moving_variance", {c},
      {.dtype = dt, .initializer = ones_initializer(), .trainable = false,
       .collections = {GraphKeys::GLOBAL_VARIABLES, GraphKeys::MODEL_VARIABLES}});
  Tensor training = args.is_training.defined() ? args.is_training : scalar(1.0, bool_);
  // One FusedBatchNorm node (the batch or the moving statistics, as `training` says at run time),
  // and the moving averages' updates from its batch statistics: the eager BatchNorm's two ops.
  nn::BatchNormOutput out = nn::fused_batch_norm(inputs, gamma, beta, moving_mean, moving_variance, args.epsilon,
                                                 training);
  Tensor y = out.y;
  if (!args.updates_collections.empty()) {
    for (const auto& [moving, batch] : {std::pair{moving_mean, out.batch_mean}, std::pair{moving_variance, out.batch_variance}}) {
      name_scope scope(graph::node_of("batch_norm", moving).name() + "/");  // "BatchNorm/moving_mean/AssignMovingAvg"
      add_to_collection(args.updates_collections,
                        named("AssignMovingAvg", nn::assign_moving_average(moving, batch, args.decay, training)));
    }
  }
  if (a.activation_fn && *a.activation_fn) y = (*a.activation_fn)(y);
  return collect(y, vs.name(), a);
}

Normalizer batch_norm_fn(BatchNormArgs args) {
  return [args](const Tensor& x) { return batch_norm(x, args); };
}

Tensor flatten(const Tensor& inputs, const std::string& scope) {
  name_scope ns(scope_name(scope, "Flatten"));
  return nn::flatten(inputs);
}

Tensor softmax(const Tensor& logits, const std::string& scope) {
  name_scope ns(scope_name(scope, "softmax"));
  return nn::softmax(logits);
}

std::vector<std::pair<std::string, Tensor>> convert_collection_to_dict(const std::string& key) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Tensor& t : get_collection(key)) {
    const graph::Node& n = graph::node_of("convert_collection_to_dict", t);
    auto alias = n.attrs.find("alias");
    out.emplace_back(alias != n.attrs.end() ? std::get<std::string>(alias->second) : n.name(), t);
  }
  return out;
}

}  // namespace tapeflow::layers
