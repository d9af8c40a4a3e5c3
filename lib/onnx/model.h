#pragma once
// What the exporter's two front ends (the eager trace, the graph walk) hand the one back end that
// maps ops to ONNX (convert.cpp): ops by TensorFlow type and attributes, over named values.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "tapeflow/attr.h"
#include "tapeflow/io/onnx.h"
#include "tapeflow/tensor.h"

namespace tapeflow::onnx::detail {

/// One op to export: its TensorFlow type and attributes, its inputs and outputs as value names
/// ("" for an absent optional input or an output nothing reads).
struct Op {
  std::string type;
  std::string where;  // for messages: "op conv2d (Conv2D) in module 'conv_1'", "node 'Net/fc4/Conv2D' (Conv2D)"
  std::string name;   // the base of its ONNX nodes' names: "conv_1/Conv2D"
  AttrMap attrs;
  std::vector<std::string> inputs, outputs;
};

/// The ONNX graph being written: its values' static types, its constants, unique names.
class Emitter {
 public:
  Emitter(::onnx::GraphProto& graph, std::int64_t opset) : graph_(graph), opset_(opset) {}

  std::int64_t opset() const { return opset_; }
  /// An eager trace's example batch size when dimension 0 is left free (-1 otherwise): a
  /// reshape or broadcast to a shape with that size, computed from the traced shapes, takes it
  /// from the input at run time instead.
  std::int64_t batch = -1;
  ::onnx::GraphProto& graph() { return graph_; }

  /// `base` if no value or node has it yet, else base_1, base_2...
  std::string fresh(const std::string& base);
  /// Declares a value (an op's output, a graph input) with its static type.
  void declare(const std::string& name, const OutputSpec& spec) { specs_[name] = spec; }
  const OutputSpec& spec(const std::string& name) const;
  bool known(const std::string& name) const { return specs_.count(name) != 0; }
  /// The value of a constant (an initializer), or nullptr.
  const Tensor* constant(const std::string& name) const;

  /// An initializer named fresh(name) holding `value`; returns its name.
  std::string initializer(const std::string& name, const Tensor& value);
  /// A 1-D int64 initializer (shapes, axes, pads).
  std::string int64s(const std::string& name, const std::vector<std::int64_t>& values);
  /// A scalar initializer of `dtype`.
  std::string scalar(const std::string& name, double value, DType dtype);

  /// `name` as an Identity of `of` (a constant stays a constant under its new name).
  void alias(const std::string& name, const std::string& of);
  /// Appends a node named fresh(name); its outputs are declared by the caller.
  ::onnx::NodeProto& node(const std::string& op_type, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& name);

  /// Converts one op (throws an Error naming op.where when it cannot).
  void convert(const Op& op);
  /// True when the back end maps ops of this type.
  static bool maps(const std::string& type);

 private:
  ::onnx::GraphProto& graph_;
  std::int64_t opset_;
  std::map<std::string, OutputSpec> specs_;
  std::map<std::string, Tensor> constants_;
  std::map<std::string, int> next_;  // the next suffix to try for a base name
  std::set<std::string> taken_;
};

/// Fills a ValueInfoProto: the dtype and the shape; dimension 0 when `free_batch` is a
/// `dim_param` named "batch", and unknown dimensions (-1) are `dim_param`s too (<name>_<k>).
void set_value_info(::onnx::ValueInfoProto& info, const std::string& name, const OutputSpec& spec, bool free_batch);
::onnx::TensorProto_DataType onnx_type(DType dtype, const std::string& who);

/// The opset the options ask for, checked against what the installed libonnx knows.
std::int64_t resolve_opset(const ExportOptions& options, const char* who);
/// Sets the model's header (IR version, opset, producer), runs onnx::checker::check_model and
/// writes the file atomically.
void finish_and_write(::onnx::ModelProto& model, std::int64_t opset, const std::string& path, const ExportOptions& options,
                      const char* who);

}  // namespace tapeflow::onnx::detail
