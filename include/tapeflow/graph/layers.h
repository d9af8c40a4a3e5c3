#pragma once
/// Graph-mode layers (tf.contrib.layers / slim): each creates its variables with get_variable
/// under a variable scope named by `scope`, builds its ops under the same name scope, and adds
/// its output to `outputs_collections` (the seeds' end points).
///
///   layers::arg_scope defaults({layers::Layer::Conv2d, layers::Layer::FullyConnected},
///                              {.weights_initializer = variance_scaling_initializer(1.0, "FAN_AVG"),
///                               .weights_regularizer = nn::l2_regularizer(0.0005),
///                               .normalizer_fn = layers::batch_norm_fn({.is_training = is_training})});
///   Tensor net = layers::conv2d(images, 32, {5, 5}, "conv1");           // conv1/weights, conv1/Conv2D ...
///   net = layers::max_pool2d(net, {2, 2}, 2, "pool1");
///   net = layers::conv2d(net, 1024, {7, 7}, "fc3", {.padding = nn::Padding::Valid});
///   Tensor logits = layers::conv2d(net, 10, {1, 1}, "fc4", {.activation_fn = nullptr});
///
/// Unset fields of LayerArgs take the value of the innermost arg_scope that covers the layer,
/// else TensorFlow's default (ReLU, xavier weights, zero biases, no regularizer, SAME padding).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tapeflow/graph/variables.h"
#include "tapeflow/nn/conv.h"
#include "tapeflow/tensor.h"

namespace tapeflow::layers {

using Activation = std::function<Tensor(const Tensor&)>;
using Regularizer = std::function<Tensor(const Tensor&)>;
/// A normalizer applied instead of the bias (batch_norm_fn builds one).
using Normalizer = std::function<Tensor(const Tensor&)>;

/// The arguments the layers share (tf.contrib.layers' keyword arguments).
struct LayerArgs {
  /// Applied last; nullptr for none (the logits layer). Default: relu.
  std::optional<Activation> activation_fn = std::nullopt;
  /// Default: xavier_initializer().
  std::optional<Initializer> weights_initializer = std::nullopt;
  /// Default: none. Its penalty joins GraphKeys::REGULARIZATION_LOSSES.
  std::optional<Regularizer> weights_regularizer = std::nullopt;
  /// Default: zeros_initializer().
  std::optional<Initializer> biases_initializer = std::nullopt;
  /// When set, applied to the pre-activation instead of adding biases. Default: none.
  std::optional<Normalizer> normalizer_fn = std::nullopt;
  /// conv2d / pooling padding. Default: SAME for conv2d, VALID for the pools (as contrib).
  std::optional<nn::Padding> padding = std::nullopt;
  /// Collections the layer's output joins (the seeds' end points). Default: none.
  std::optional<std::vector<std::string>> outputs_collections = std::nullopt;
  /// Whether the variables are trainable. Default: true.
  std::optional<bool> trainable = std::nullopt;
};

/// The layers an arg_scope can cover.
enum class Layer { Conv2d, FullyConnected, MaxPool2d, AvgPool2d, Dropout, BatchNorm };

/// RAII tf.contrib.framework.arg_scope: `args` become the defaults of `layers` while it lives;
/// inner scopes override outer ones field by field.
class arg_scope {
 public:
  arg_scope(std::vector<Layer> layers, LayerArgs args);
  ~arg_scope();
  arg_scope(const arg_scope&) = delete;
  arg_scope& operator=(const arg_scope&) = delete;
};

/// tf.contrib.layers.fully_connected: inputs [N, K] -> activation(normalizer(inputs·weights) or
/// inputs·weights + biases) [N, num_outputs]. Variables "<scope>/weights" [K, num_outputs] and
/// "<scope>/biases". scope defaults to "fully_connected" (made unique).
Tensor fully_connected(const Tensor& inputs, std::int64_t num_outputs, const std::string& scope = "",
                       LayerArgs args = {});

/// tf.contrib.layers.conv2d: inputs [N,H,W,C] -> [N,H',W',num_outputs]; weights
/// "<scope>/weights" [kh,kw,C,num_outputs], biases "<scope>/biases". scope defaults to "Conv".
Tensor conv2d(const Tensor& inputs, std::int64_t num_outputs, const std::vector<int>& kernel_size,
              const std::string& scope = "", LayerArgs args = {}, const std::vector<int>& stride = {1, 1});

/// tf.contrib.layers.max_pool2d / avg_pool2d (padding VALID unless set). scope defaults to
/// "MaxPool2D" / "AvgPool2D".
Tensor max_pool2d(const Tensor& inputs, const std::vector<int>& kernel_size, int stride = 2,
                  const std::string& scope = "", LayerArgs args = {});
Tensor avg_pool2d(const Tensor& inputs, const std::vector<int>& kernel_size, int stride = 2,
                  const std::string& scope = "", LayerArgs args = {});

/// tf.contrib.layers.dropout: nn::dropout with keep_prob (a float scalar: a placeholder, or an
/// eager scalar) while is_training (a bool scalar, or an eager bool) is true, the identity
/// otherwise. scope defaults to "Dropout".
Tensor dropout(const Tensor& inputs, const Tensor& keep_prob, const Tensor& is_training = Tensor(),
               const std::string& scope = "", LayerArgs args = {});

/// The arguments of batch_norm (tf.contrib.layers.batch_norm's defaults).
struct BatchNormArgs {
  double decay = 0.999;
  bool center = true;
  bool scale = false;
  double epsilon = 0.001;
  /// A bool scalar (placeholder or eager); undefined means true.
  Tensor is_training = Tensor();
  /// Where the moving-average updates go; empty: none are built.
  std::string updates_collections = GraphKeys::UPDATE_OPS;
  /// scope defaults to "BatchNorm" inside the enclosing layer's scope.
  std::string scope = "";
};

/// tf.contrib.layers.batch_norm over the last axis: while training, normalises with the batch's
/// mean and variance and adds to `updates_collections` one AssignMovingAvg op per statistic
/// (moving = moving - (moving - batch) * (1 - decay), done only when the op runs while
/// training: run them with the train op, under control_dependencies, as TensorFlow users do);
/// otherwise normalises with the moving statistics. Variables "<scope>/beta" (center),
/// "<scope>/gamma" (scale), "<scope>/moving_mean", "<scope>/moving_variance" (non-trainable).
Tensor batch_norm(const Tensor& inputs, BatchNormArgs args = {}, LayerArgs layer_args = {});
/// batch_norm with these arguments as a Normalizer for LayerArgs::normalizer_fn.
Normalizer batch_norm_fn(BatchNormArgs args = {});

/// tf.contrib.layers.flatten: [N, ...] -> [N, prod(...)]. scope defaults to "Flatten".
Tensor flatten(const Tensor& inputs, const std::string& scope = "");

/// tf.contrib.layers.softmax over the last axis. scope defaults to "softmax".
Tensor softmax(const Tensor& logits, const std::string& scope = "");

/// slim.utils.convert_collection_to_dict: the outputs added to collection `key` by the layers,
/// each with its alias (the layer's full scope name, e.g. "Net/conv1").
std::vector<std::pair<std::string, Tensor>> convert_collection_to_dict(const std::string& key);

}  // namespace tapeflow::layers
