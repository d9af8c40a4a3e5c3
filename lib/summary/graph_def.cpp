// A Graph as TensorFlow's GraphDef, for TensorBoard's Graphs tab.
#include <ranges>

#include <fmt/format.h>

#include "summary/encode.h"

namespace tapeflow::summary::internal {

namespace {

// A GraphDef version of the TensorFlow 1.x era (TensorBoard only displays it).
constexpr int kGraphDefProducer = 27;

void set_shape(pb::TensorShapeProto* proto, const Shape& shape) {
  for (std::int64_t d : shape) proto->add_dim()->set_size(d < 0 ? -1 : d);
}

// "node" for output 0, "node:k" for output k: TensorFlow's input names.
std::string input_name(const Tensor& t) {
  const graph::Node& producer = *t.impl()->node;
  const int index = t.impl()->output_index;
  return index == 0 ? producer.name() : fmt::format("{}:{}", producer.name(), index);
}

bool declares_shape(const std::string& type) {
  return type == "Placeholder" || type == "PlaceholderWithDefault" || type == "VariableV2";
}

}  // namespace

std::string graph_def(const Graph& graph) {
  pb::GraphDef def;
  def.mutable_versions()->set_producer(kGraphDefProducer);
  for (const auto& node : graph.nodes()) {
    pb::NodeDef* out = def.add_node();
    out->set_name(node->name());
    out->set_op(node->type());
    // Assign, AssignAdd, the optimizers' Apply ops... update variables that are not among their
    // inputs in tapeflow (they reach them through the Session); TensorFlow's take them as their
    // first inputs, which draws the edges from the variables.
    if (auto it = node->attrs.find("variables"); it != node->attrs.end())
      for (const auto& name : std::views::split(it->second, ','))
        out->add_input(std::string(name.begin(), name.end()));
    const Tensor* first_input = nullptr;
    for (const Tensor& in : node->inputs()) {
      if (!in.defined()) continue;
      if (!first_input) first_input = &in;
      out->add_input(input_name(in));
    }
    for (const auto& control : node->control_inputs()) out->add_input("^" + control->name());

    auto& attrs = *out->mutable_attr();
    const auto& outputs = node->outputs();
    if (first_input && !declares_shape(node->type())) {
      attrs["T"].set_type(data_type_of(first_input->dtype()));
    } else if (!outputs.empty()) {
      attrs["dtype"].set_type(data_type_of(outputs[0].dtype));
      if (declares_shape(node->type())) set_shape(attrs["shape"].mutable_shape(), outputs[0].shape);
    }
    if (!outputs.empty()) {
      pb::AttrValue::ListValue* shapes = attrs["_output_shapes"].mutable_list();
      for (const auto& o : outputs) set_shape(shapes->add_shape(), o.shape);
    }
    for (const auto& [key, value] : node->attrs)
      if (key != "variables" && !attrs.contains(key)) attrs[key].set_s(value);
  }
  return serialize(def);
}

}  // namespace tapeflow::summary::internal
