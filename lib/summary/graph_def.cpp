// A Graph as TensorFlow's GraphDef, for TensorBoard's Graphs tab.
#include <variant>

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

// The door's attributes as TensorFlow's AttrValue fields.
void set_attr(pb::AttrValue& out, const AttrValue& value) {
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) out.set_b(v);
        else if constexpr (std::is_same_v<V, std::int64_t>) out.set_i(v);
        else if constexpr (std::is_same_v<V, double>) out.set_f(static_cast<float>(v));
        else if constexpr (std::is_same_v<V, DType>) out.set_type(data_type_of(v));
        else if constexpr (std::is_same_v<V, std::string>) out.set_s(v);
        else if constexpr (std::is_same_v<V, Shape>) set_shape(out.mutable_shape(), v);
        else if constexpr (std::is_same_v<V, std::vector<std::int64_t>>)
          for (std::int64_t i : v) out.mutable_list()->add_i(i);
        else
          for (const std::string& s : v) out.mutable_list()->add_s(s);
      },
      value);
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
      for (const auto& name : std::get<std::vector<std::string>>(it->second)) out->add_input(name);
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
      if (key != "variables" && !attrs.contains(key)) set_attr(attrs[key], value);
  }
  return serialize(def);
}

}  // namespace tapeflow::summary::internal
