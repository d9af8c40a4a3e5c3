// The exporter's front ends: an eager module traced through the door, or a graph walked from its
// fetches back to its placeholders; both hand convert.cpp ops by TensorFlow type and attributes.
#include <algorithm>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include "autograd/door.h"
#include "onnx/model.h"
#include "tapeflow/autograd.h"
#include "tapeflow/error.h"
#include "tapeflow/graph/graph.h"
#include "tapeflow/graph/session.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/nn/module.h"

namespace tapeflow::onnx {

namespace detail {

std::int64_t resolve_opset(const ExportOptions& options, const char* who) {
  const auto& range = ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map().at(::onnx::ONNX_DOMAIN);
  constexpr std::int64_t kLowest = 13;  // Squeeze, Unsqueeze, ReduceSum and Split as tapeflow writes them
  if (options.opset == 0) return range.second;
  if (options.opset < kLowest || options.opset > range.second)
    throw ValueError(fmt::format("{}: opset {} is not supported: tapeflow writes opsets {} to {} (the highest the "
                                 "installed libonnx knows); leave options.opset at 0 for {}",
                                 who, options.opset, kLowest, range.second, range.second));
  return options.opset;
}

void set_value_info(::onnx::ValueInfoProto& info, const std::string& name, const OutputSpec& spec, bool free_batch) {
  info.set_name(name);
  auto* type = info.mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx_type(spec.dtype, name));
  auto* shape = type->mutable_shape();
  for (int k = 0; k < spec.shape.rank(); ++k) {
    auto* d = shape->add_dim();
    if (k == 0 && (free_batch || spec.shape[0] < 0)) d->set_dim_param("batch");
    else if (spec.shape[k] < 0) d->set_dim_param(fmt::format("{}_{}", name, k));
    else d->set_dim_value(spec.shape[k]);
  }
}

namespace {

void collect_inputs(const ::onnx::GraphProto& g, std::unordered_set<std::string>& used) {
  for (const auto& n : g.node()) {
    for (const auto& i : n.input()) used.insert(i);
    for (const auto& a : n.attribute())
      if (a.has_g()) collect_inputs(a.g(), used);
  }
}

/// Drops the initializers no node reads (a zero state that the exporter replaced by zeros shaped
/// at run time, say).
void drop_unused_initializers(::onnx::GraphProto& g) {
  std::unordered_set<std::string> used;
  collect_inputs(g, used);
  for (const auto& o : g.output()) used.insert(o.name());
  auto* inits = g.mutable_initializer();
  inits->erase(std::remove_if(inits->begin(), inits->end(), [&](const ::onnx::TensorProto& t) { return !used.count(t.name()); }),
               inits->end());
}

}  // namespace

void finish_and_write(::onnx::ModelProto& model, std::int64_t opset, const std::string& path, const ExportOptions& options,
                      const char* who) {
  drop_unused_initializers(*model.mutable_graph());
  model.set_ir_version(::onnx::IR_VERSION);
  model.set_producer_name("tapeflow");
  model.set_producer_version("0.1.0");
  if (!options.doc_string.empty()) model.set_doc_string(options.doc_string);
  auto* set = model.add_opset_import();
  set->set_domain("");
  set->set_version(opset);
  try {
    ::onnx::checker::check_model(model);
    ::onnx::ModelProto inferred(model);  // type and shape consistency of every node, strictly
    ::onnx::shape_inference::InferShapes(inferred, ::onnx::OpSchemaRegistry::Instance(),
                                         ::onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: the model fails ONNX's checker, so '{}' was not written: {} (an exporter bug: "
                            "please report it with the model)",
                            who, path, e.what()));
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw Error(fmt::format("{}: the model could not be serialized (over protobuf's 2 GB limit?); '{}' was not written",
                            who, path));
  io::write_file_atomically(path, bytes);
}

}  // namespace detail

namespace {

using detail::Emitter;
using detail::Op;

std::string default_name(const std::vector<std::string>& given, std::size_t i, std::size_t n, const char* base) {
  if (i < given.size()) return given[i];
  return n == 1 ? std::string(base) : fmt::format("{}_{}", base, i);
}

void check_names(const std::vector<std::string>& given, std::size_t n, const char* what, const char* who) {
  if (!given.empty() && given.size() != n)
    throw ValueError(fmt::format("{}: {} {} names given for {} {}s; give one per {} or none", who, given.size(), what,
                                 n, what, what));
}

// ---------------------------------------------------------------------------- eager: the trace

/// What the door told the tracer: every op the forward applied, nested as they ran.
class Trace final : public autograd::Tracer {
 public:
  struct Call {
    std::string type, fn, module;
    AttrMap attrs;
    std::vector<Tensor> inputs, outputs;  // held, so that no address is reused while tracing
    std::vector<Call> inner;
  };

  explicit Trace(std::map<const void*, std::string> module_paths) : paths_(std::move(module_paths)) {}

  void enter() override { frames_.emplace_back(); }
  void leave(const autograd::OpDef& def, autograd::Args inputs, std::initializer_list<autograd::Attr> attrs,
             autograd::Args outputs) override {
    Call call{def.type, def.name, module(), {}, {inputs.begin(), inputs.end()}, {outputs.begin(), outputs.end()},
              std::move(frames_.back())};
    for (const autograd::Attr& a : attrs) call.attrs[a.name()] = a.value();
    frames_.pop_back();
    frames_.back().push_back(std::move(call));
  }
  void abandon() override { frames_.pop_back(); }
  void enter_module(const void* m) override { modules_.push_back(m); }
  void leave_module() override { modules_.pop_back(); }

  const std::vector<Call>& calls() const { return frames_.front(); }

 private:
  std::string module() const {
    if (modules_.empty()) return "";
    auto it = paths_.find(modules_.back());
    return it == paths_.end() ? "" : it->second;
  }
  std::map<const void*, std::string> paths_;
  std::vector<std::vector<Call>> frames_{1};
  std::vector<const void*> modules_;
};

void collect_paths(const nn::Module& m, const std::string& prefix, std::map<const void*, std::string>& out) {
  out.emplace(&m, prefix);
  for (const auto& [name, child] : m.named_children())
    collect_paths(*child, prefix.empty() ? name : prefix + "/" + name, out);
}

/// Writes the traced calls into the emitter, naming every tensor it meets.
class EagerWriter {
 public:
  EagerWriter(Emitter& e, const nn::Module& module) : e_(e) {
    for (const auto& named : {module.named_parameters(), module.named_buffers()})
      for (const auto& [name, t] : named) state_.emplace(t.impl().get(), name);
  }

  void name_input(const Tensor& t, const std::string& name) { names_[t.impl().get()] = name; }

  /// The value name of `t`: an op's output, an input, else a parameter, a buffer or a constant
  /// (a tensor the forward made without an op), which becomes an initializer now.
  std::string value(const Tensor& t, const std::string& module) {
    if (!t.defined()) return "";
    auto it = names_.find(t.impl().get());
    if (it != names_.end()) return it->second;
    auto s = state_.find(t.impl().get());
    const std::string name =
        e_.initializer(s != state_.end() ? s->second : (module.empty() ? "" : module + "/") + "const", t);
    names_[t.impl().get()] = name;
    return name;
  }

  void write(const Trace::Call& call) {
    if (!Emitter::maps(call.type) && !call.inner.empty()) {  // a composite: the ops it applied
      for (const Trace::Call& inner : call.inner) write(inner);
      for (const Tensor& out : call.outputs)
        if (out.defined() && !names_.count(out.impl().get()))
          throw ValueError(fmt::format("{}: it computed an output without ops that export; tapeflow has no ONNX form "
                                       "for {} ops",
                                       where(call), call.type));
      return;
    }
    Op op{call.type, where(call), (call.module.empty() ? "" : call.module + "/") + call.type, call.attrs, {}, {}};
    for (const Tensor& t : call.inputs) op.inputs.push_back(value(t, call.module));
    bool any_new = false;
    for (std::size_t k = 0; k < call.outputs.size(); ++k) {
      const Tensor& t = call.outputs[k];
      if (!t.defined() || names_.count(t.impl().get())) {  // an input returned as it is (reshape to its shape)
        op.outputs.emplace_back();
        continue;
      }
      const std::string name = e_.fresh(call.outputs.size() == 1 ? op.name : fmt::format("{}:{}", op.name, k));
      op.outputs.push_back(name);
      names_[t.impl().get()] = name;
      any_new = true;
    }
    if (!any_new) return;
    e_.convert(op);
    for (std::size_t k = 0; k < op.outputs.size(); ++k)
      if (!op.outputs[k].empty() && !e_.known(op.outputs[k]))
        throw Error(fmt::format("{}: the exporter wrote no output {} (a bug: please report it)", op.where, k));
  }

 private:
  static std::string where(const Trace::Call& call) {
    return call.module.empty() ? fmt::format("onnx export: op {} ({})", call.fn, call.type)
                               : fmt::format("onnx export: op {} ({}) in module '{}'", call.fn, call.type, call.module);
  }
  Emitter& e_;
  std::unordered_map<const TensorImpl*, std::string> state_, names_;
};

/// Declares the graph's outputs: an Identity from each value to its output name.
void write_outputs(Emitter& e, ::onnx::GraphProto& g, const std::vector<std::string>& values,
                   const std::vector<std::string>& names, bool dynamic_batch) {
  std::unordered_set<std::string> seen;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!seen.insert(names[i]).second) throw ValueError(fmt::format("onnx export: two outputs are named '{}'", names[i]));
    e.node("Identity", {values[i]}, {names[i]}, names[i]);
    const OutputSpec& spec = e.spec(values[i]);
    detail::set_value_info(*g.add_output(), names[i], spec, dynamic_batch);
  }
}

}  // namespace

void export_module(nn::Module& module, const std::vector<Tensor>& example_inputs, const std::string& path,
                   const ExportOptions& options) {
  static constexpr const char* who = "onnx::export_module";
  if (example_inputs.size() != 1)
    throw ValueError(fmt::format("{}: nn::Module's forward takes one input, got {} example inputs", who,
                                 example_inputs.size()));
  for (const Tensor& t : example_inputs) {
    if (!t.defined()) throw ValueError(fmt::format("{}: the example input is an undefined tensor", who));
    if (t.is_symbolic())
      throw ValueError(fmt::format("{}: the example input is a graph tensor; export a graph with onnx::export_graph",
                                   who));
  }
  check_names(options.input_names, example_inputs.size(), "input", who);
  const std::int64_t opset = detail::resolve_opset(options, who);

  std::map<const void*, std::string> paths;
  collect_paths(module, "", paths);
  Trace trace(std::move(paths));
  std::vector<Tensor> outputs;
  {
    const bool was_training = module.is_training();
    module.eval();
    struct Restore {
      nn::Module& m;
      bool training;
      ~Restore() { m.train(training); }
    } restore{module, was_training};
    NoGradGuard no_grad;
    autograd::TraceScope scope(trace);
    outputs.push_back(module(example_inputs[0]));
  }
  check_names(options.output_names, outputs.size(), "output", who);

  ::onnx::ModelProto model;
  ::onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("tapeflow");
  Emitter e(g, opset);
  if (options.dynamic_batch && example_inputs[0].rank() > 0) e.batch = example_inputs[0].dim(0);
  EagerWriter writer(e, module);
  for (std::size_t i = 0; i < example_inputs.size(); ++i) {
    const Tensor& x = example_inputs[i];
    const std::string name = e.fresh(default_name(options.input_names, i, example_inputs.size(), "input"));
    writer.name_input(x, name);
    e.declare(name, {x.shape(), x.dtype()});
    detail::set_value_info(*g.add_input(), name, {x.shape(), x.dtype()}, options.dynamic_batch);
  }
  for (const Trace::Call& call : trace.calls()) writer.write(call);
  std::vector<std::string> values, names;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    values.push_back(writer.value(outputs[i], ""));
    names.push_back(e.fresh(default_name(options.output_names, i, outputs.size(), "output")));
  }
  write_outputs(e, g, values, names, options.dynamic_batch);
  detail::finish_and_write(model, opset, path, options, who);
}

// ---------------------------------------------------------------------------- graph mode

void export_graph(Session& session, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
                  const std::string& path, const ExportOptions& options) {
  static constexpr const char* who = "onnx::export_graph";
  if (outputs.empty()) throw ValueError(fmt::format("{}: no outputs to export", who));
  check_names(options.input_names, inputs.size(), "input", who);
  check_names(options.output_names, outputs.size(), "output", who);
  const std::int64_t opset = detail::resolve_opset(options, who);

  std::unordered_map<const graph::Node*, std::size_t> input_index;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    graph::Node& n = graph::node_of(who, inputs[i]);
    if (n.type() != "Placeholder" && n.type() != "PlaceholderWithDefault")
      throw ValueError(fmt::format("{}: input {} is '{}' ({}), not a placeholder: the model's inputs are the "
                                   "placeholders it is fed through",
                                   who, i, n.name(), n.type()));
    input_index[&n] = i;
  }
  std::unordered_set<const graph::Node*> frozen;
  for (const auto& [placeholder, value] : options.frozen) frozen.insert(&graph::node_of(who, placeholder));

  // The nodes the outputs need (data inputs only: control dependencies are not part of a model),
  // and which of them depend on an input.
  std::vector<const graph::Node*> needed;
  std::unordered_set<const graph::Node*> seen;
  std::function<void(const graph::Node&)> visit = [&](const graph::Node& n) {
    if (!seen.insert(&n).second) return;
    if (input_index.count(&n)) return;
    for (const Tensor& t : n.inputs())
      if (t.defined()) visit(*t.impl()->node);
    needed.push_back(&n);
  };
  for (const Tensor& t : outputs) {
    graph::Node& n = graph::node_of(who, t);
    if (t.impl()->output_index < 0) throw ValueError(fmt::format("{}: output '{}' is an operation, not a tensor", who, n.name()));
    visit(n);
  }
  std::sort(needed.begin(), needed.end(), [](const graph::Node* a, const graph::Node* b) { return a->id() < b->id(); });
  std::unordered_set<const graph::Node*> dynamic;
  for (const auto& [n, i] : input_index) dynamic.insert(n);
  for (const graph::Node* n : needed)
    for (const Tensor& t : n->inputs())
      if (t.defined() && dynamic.count(t.impl()->node.get())) {
        dynamic.insert(n);
        break;
      }

  ::onnx::ModelProto model;
  ::onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("tapeflow");
  Emitter e(g, opset);
  auto value_name = [](const Tensor& t) { return fmt::format("{}:{}", t.impl()->node->name(), t.impl()->output_index); };

  for (std::size_t i = 0; i < inputs.size(); ++i) {
    graph::Node& n = graph::node_of(who, inputs[i]);
    const std::string name = default_name(options.input_names, i, inputs.size(), n.name().c_str());
    const OutputSpec& spec = n.outputs()[0];
    e.declare(name, spec);
    detail::set_value_info(*g.add_input(), name, spec, options.dynamic_batch);
    e.alias(value_name(inputs[i]), name);
  }

  // Freeze what the dynamic part reads from the static part: one session run.
  std::vector<Tensor> folded;
  std::unordered_set<const TensorImpl*> folded_seen;
  auto fold = [&](const Tensor& t) {
    if (!dynamic.count(t.impl()->node.get()) && folded_seen.insert(t.impl().get()).second) folded.push_back(t);
  };
  for (const graph::Node* n : needed)
    if (dynamic.count(n))
      for (const Tensor& t : n->inputs())
        if (t.defined()) fold(t);
  for (const Tensor& t : outputs) fold(t);
  for (const graph::Node* n : needed)
    if (!dynamic.count(n) && (n->type() == "Placeholder") && !frozen.count(n))
      throw ValueError(fmt::format("{}: the outputs need placeholder '{}' {}, which is neither an input nor frozen: "
                                   "add it to the inputs, or freeze it (options.frozen = {{{{placeholder, value}}}}, "
                                   "e.g. is_training at false, keep_prob at 1)",
                                   who, n->name(), n->outputs()[0].shape.str()));
  FeedDict feeds(options.frozen.begin(), options.frozen.end());
  const std::vector<Tensor> values = folded.empty() ? std::vector<Tensor>{} : session.run(folded, feeds);
  for (std::size_t k = 0; k < folded.size(); ++k) {
    const Tensor& t = folded[k];
    const std::string& node = t.impl()->node->name();
    e.alias(value_name(t), e.initializer(t.impl()->output_index == 0 ? node : value_name(t), values[k]));
  }

  std::unordered_set<std::string> used;  // the outputs that a needed node reads or that are fetched
  for (const graph::Node* n : needed)
    for (const Tensor& t : n->inputs())
      if (t.defined()) used.insert(value_name(t));
  for (const Tensor& t : outputs) used.insert(value_name(t));
  for (const graph::Node* n : needed) {
    if (!dynamic.count(n) || input_index.count(n)) continue;
    Op op{n->type(), fmt::format("onnx export: node '{}' ({})", n->name(), n->type()), n->name(), n->attrs, {}, {}};
    for (const Tensor& t : n->inputs()) op.inputs.push_back(t.defined() ? value_name(t) : "");
    for (int k = 0; k < n->num_outputs(); ++k) {
      const std::string name = fmt::format("{}:{}", n->name(), k);
      op.outputs.push_back(used.count(name) ? name : "");
    }
    e.convert(op);
  }
  std::vector<std::string> vals, names;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    vals.push_back(value_name(outputs[i]));
    names.push_back(default_name(options.output_names, i, outputs.size(), outputs[i].impl()->node->name().c_str()));
  }
  write_outputs(e, g, vals, names, options.dynamic_batch);
  detail::finish_and_write(model, opset, path, options, who);
}

}  // namespace tapeflow::onnx
