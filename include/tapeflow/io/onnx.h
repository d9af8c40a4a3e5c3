#pragma once
/// ONNX export: a trained model as an .onnx file for ONNX Runtime, TensorRT, OpenVINO, a browser...
///
///   // eager: the module's forward, traced on example inputs in eval mode
///   tapeflow::onnx::export_module(net, {images.slice(0, 1)}, "lenet.onnx");
///
///   // graph mode: the graph between placeholders and fetches, variables frozen as initializers
///   tapeflow::onnx::export_graph(sess, {image_place}, {logits}, "convnet.onnx",
///                                {.frozen = {{is_training, tapeflow::scalar(false)}}});
///
/// What is exported is what the door saw: every op records its TensorFlow type and attributes
/// (autograd's door), and the exporter maps each type to ONNX operators (tf2onnx's job). An op
/// with no ONNX form is an Error naming it and its module or node, never a different model.
///
/// Layout: tensors stay NHWC, as in tapeflow; a convolution, pool or LRN becomes
/// Transpose(NHWC->NCHW), the ONNX op, Transpose(NCHW->NHWC) (runtimes fold the pairs), its
/// HWIO filter transposed by a Transpose node, so that every initializer is the tensor that
/// tapeflow holds, under its module or variable name. The opset is 17 by default (the highest
/// that Debian 12's libonnx knows); every model passes onnx::checker::check_model before it is
/// written, and the file is written atomically (never half a file under its name).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow {
class Session;
namespace nn {
class Module;
}
}  // namespace tapeflow

namespace tapeflow::onnx {

struct ExportOptions {
  /// The ONNX opset (of the default domain); 0: the highest the installed libonnx knows.
  std::int64_t opset = 0;
  /// The graph's input and output names; default "input" and "output" (with _0, _1... when
  /// there are several), or in graph mode the placeholders' and fetches' node names.
  std::vector<std::string> input_names{}, output_names{};
  /// Dimension 0 of every input and output is left free ("batch"), unless false; graph mode
  /// also leaves free every dimension that the placeholder leaves unknown.
  bool dynamic_batch = true;
  /// Graph mode: placeholders that are not inputs of the exported model, with the value each is
  /// frozen at (is_training = false, keep_prob = 1), as feed dict pairs.
  std::vector<std::pair<Tensor, Tensor>> frozen{};
  /// The model's doc_string.
  std::string doc_string{};
};

/// Runs `module`'s forward on `example_inputs` (nn::Module takes one) in eval mode and without
/// gradients, and writes the ops it ran as an ONNX model to `path`. Parameters and buffers become
/// initializers named as in state_dict() (`conv_1/weight`); a tensor that the forward made
/// without an op (arange, a constant) becomes an initializer too, with the value it had.
/// Restores the module's training mode afterwards.
void export_module(nn::Module& module, const std::vector<Tensor>& example_inputs, const std::string& path,
                   const ExportOptions& options = {});

/// Writes the graph between `inputs` (placeholders) and `outputs` (graph tensors) as an ONNX
/// model to `path`: what does not depend on the inputs (variables, constants, the frozen
/// placeholders and what is computed from them) is evaluated in `session` and becomes an
/// initializer (TensorFlow's freeze_graph), named after the node that makes it.
void export_graph(Session& session, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                  const std::string& path, const ExportOptions& options = {});

}  // namespace tapeflow::onnx
