// Graph-mode summary ops: ScalarSummary, HistogramSummary, ImageSummary, MergeSummary nodes
// whose kernels call the encoders of encode.cpp / image.cpp.
#include "tapeflow/summary/ops.h"

#include <functional>

#include <fmt/format.h>

#include "core/dispatch.h"
#include "summary/encode.h"

namespace tapeflow::summary {

using namespace internal;
using graph::RunContext;
using Args = std::span<const Tensor>;

namespace {

const graph::OutputSpec kSerializedSummary{Shape{-1}, uint8};

Graph& graph_for(const char* who, const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs) {
    if (!(t.defined() && t.is_symbolic())) continue;
    graph::Node& n = graph::node_of(who, t);
    if (!n.graph())
      throw ValueError(fmt::format("{}: '{}' belongs to a Graph that no longer exists", who, t.impl()->name));
    return *n.graph();
  }
  return get_default_graph();
}

// The cleaned name of a summary (ValueError when nothing is left of it).
std::string summary_name(const char* who, const std::string& name) {
  std::string cleaned = clean_tag(name);
  if (cleaned.empty())
    throw ValueError(fmt::format("{}: the summary name '{}' is empty once cleaned; name it with letters, digits or "
                                 "'_-./'",
                                 who, name));
  return cleaned;
}

using Encode = std::function<std::string(const std::string& tag, const Tensor& value)>;

// TensorFlow's summary_scope: a name scope `name` (made unique) whose name is the tag, and a node
// of that exact name computing the serialized Summary of its input.
Tensor summary_node(Graph& g, const char* type, const std::string& name, const Tensor& input,
                    const std::vector<std::string>& collections, Encode encode) {
  DefaultGraphScope in_graph(g);
  name_scope scope(name);
  const std::string tag = scope.name().substr(0, scope.name().size() - 1);
  auto node = g.add_node(type, type, {input}, {kSerializedSummary},
                         [tag, encode = std::move(encode)](Args in, RunContext&) {
                           return std::vector<Tensor>{bytes_tensor(encode(tag, in[0]))};
                         });
  g.rename_last(*node, scope.name());
  Tensor out = node->output(0);
  for (const auto& key : collections) g.add_to_collection(key, out);
  return out;
}

}  // namespace

Tensor scalar(const std::string& name, const Tensor& tensor, const std::vector<std::string>& collections) {
  detail::check_defined("summary::scalar", tensor);
  Graph& g = graph_for("summary::scalar", {tensor});
  const std::string clean = summary_name("summary::scalar", name);
  const std::string who = fmt::format("summary::scalar '{}'", g.unique_name(clean, false));
  detail::check_numeric(who.c_str(), tensor);
  if (tensor.rank() != 0)
    throw ShapeError(fmt::format("{}: the value must be a scalar (shape []), got shape {}; reduce it first "
                                 "(reduce_mean) or reshape it to []",
                                 who, tensor.shape().str()));
  return summary_node(g, "ScalarSummary", clean, tensor, collections, [](const std::string& tag, const Tensor& v) {
    return scalar_summary(tag, scalar_value(fmt::format("summary::scalar '{}'", tag), v));
  });
}

Tensor histogram(const std::string& name, const Tensor& values, const std::vector<std::string>& collections) {
  detail::check_defined("summary::histogram", values);
  Graph& g = graph_for("summary::histogram", {values});
  const std::string clean = summary_name("summary::histogram", name);
  const std::string who = fmt::format("summary::histogram '{}'", g.unique_name(clean, false));
  detail::check_numeric(who.c_str(), values);
  return summary_node(g, "HistogramSummary", clean, values, collections,
                      [](const std::string& tag, const Tensor& v) {
                        return histogram_summary(fmt::format("summary::histogram '{}'", tag), tag, v);
                      });
}

Tensor image(const std::string& name, const Tensor& tensor, int max_outputs,
             const std::vector<std::string>& collections) {
  detail::check_defined("summary::image", tensor);
  Graph& g = graph_for("summary::image", {tensor});
  const std::string clean = summary_name("summary::image", name);
  const std::string who = fmt::format("summary::image '{}'", g.unique_name(clean, false));
  check_image_input(who, tensor.shape(), tensor.dtype());
  if (max_outputs < 1) throw ValueError(fmt::format("{}: max_outputs must be at least 1, got {}", who, max_outputs));
  return summary_node(g, "ImageSummary", clean, tensor, collections,
                      [max_outputs](const std::string& tag, const Tensor& v) {
                        return image_summary(fmt::format("summary::image '{}'", tag), tag, v, max_outputs);
                      });
}

Tensor merge(const std::vector<Tensor>& inputs, const std::vector<std::string>& collections,
             const std::string& name) {
  if (inputs.empty())
    throw ValueError("summary::merge: nothing to merge (an empty list of summaries); merge_all returns an undefined "
                     "tensor instead when a collection is empty");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined()) throw ValueError(fmt::format("summary::merge: input {} is an undefined tensor", i));
    if (t.dtype() != uint8 || t.rank() != 1)
      throw DTypeError(fmt::format("summary::merge: input {} ({}) is {} {}, not a serialized summary (uint8 1-D, the "
                                   "output of a summary op)",
                                   i, t.is_symbolic() ? "'" + t.impl()->name + "'" : "a constant",
                                   dtype_name(t.dtype()), t.shape().str()));
  }
  Graph& g = graph_for("summary::merge", inputs);
  DefaultGraphScope in_graph(g);
  // tf.summary.merge: name_scope(name, "Merge"), then the MergeSummary op named `name`.
  name_scope scope(name.empty() ? "Merge" : name);
  auto node = g.add_node("MergeSummary", name.empty() ? "MergeSummary" : name, inputs, {kSerializedSummary},
                         [](Args in, RunContext& ctx) {
                           const std::string who = fmt::format("summary::merge '{}'", ctx.node.name());
                           std::vector<std::string_view> parts;
                           parts.reserve(in.size());
                           for (const Tensor& t : in) parts.push_back(bytes_of(who, t));
                           return std::vector<Tensor>{bytes_tensor(merge_summaries(who, parts))};
                         });
  Tensor out = node->output(0);
  for (const auto& key : collections) g.add_to_collection(key, out);
  return out;
}

Tensor merge_all(const std::string& key, const std::string& scope, const std::string& name) {
  std::vector<Tensor> summaries = get_default_graph().get_collection(key, scope);
  if (summaries.empty()) return Tensor();
  return merge(summaries, {}, name);
}

}  // namespace tapeflow::summary
