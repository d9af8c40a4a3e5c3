// The exporter's back end: TensorFlow op types (as the door records them) to ONNX operators.
//
// Tensors stay NHWC as in tapeflow; a convolution, pool or LRN is wrapped in transposes to and
// from NCHW (ONNX's layout), its filter transposed by a node, so that initializers are exactly
// tapeflow's tensors. Ops ONNX has no operator for at this opset are written out in ONNX ops
// (GELU, attention, the LSTM and GRU of TensorFlow's cells as a Scan over time).
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numbers>
#include <unordered_map>

#include <fmt/format.h>

#include "onnx/model.h"
#include "tapeflow/error.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/reduce.h"

namespace tapeflow::onnx::detail {

namespace {

using Names = std::vector<std::string>;

/// What a converter sees: the op, the emitter, helpers for attributes, inputs and nodes.
class Ctx {
 public:
  Ctx(Emitter& e, const Op& op) : e(e), op(op) {}
  Emitter& e;
  const Op& op;

  [[noreturn]] void fail(const std::string& why) const { throw ValueError(fmt::format("{}: {}", op.where, why)); }

  const std::string& in(std::size_t i) const {
    if (i >= op.inputs.size() || op.inputs[i].empty()) fail(fmt::format("input {} is missing", i));
    return op.inputs[i];
  }
  /// Every input's name (all present).
  Names inputs() const {
    Names names;
    for (std::size_t i = 0; i < op.inputs.size(); ++i) names.push_back(in(i));
    return names;
  }
  bool has_in(std::size_t i) const { return i < op.inputs.size() && !op.inputs[i].empty(); }
  const OutputSpec& spec(std::size_t i) const { return e.spec(in(i)); }
  const Shape& shape(std::size_t i) const { return spec(i).shape; }
  DType dtype(std::size_t i) const { return spec(i).dtype; }
  /// The value of input i when it is a constant (a parameter, a frozen variable...), else nullptr.
  const Tensor* constant(std::size_t i) const { return has_in(i) ? e.constant(op.inputs[i]) : nullptr; }

  /// Output i's name: where a consumer reads it (a fresh temporary when nothing does).
  std::string out(std::size_t i) {
    if (i < op.outputs.size() && !op.outputs[i].empty()) return op.outputs[i];
    return tmp();
  }
  std::string tmp() { return e.fresh(op.name + "/tmp"); }

  const AttrValue& attr(const char* name) const {
    auto it = op.attrs.find(name);
    if (it == op.attrs.end()) fail(fmt::format("it has no attribute '{}'", name));
    return it->second;
  }
  bool has_attr(const char* name) const { return op.attrs.count(name) != 0; }
  std::int64_t i(const char* name) const {
    const AttrValue& v = attr(name);
    if (auto* p = std::get_if<std::int64_t>(&v)) return *p;
    if (auto* b = std::get_if<bool>(&v)) return *b;
    fail(fmt::format("attribute '{}' is {}, not an integer", name, attr_text(v)));
  }
  double f(const char* name) const {
    const AttrValue& v = attr(name);
    if (auto* p = std::get_if<double>(&v)) return *p;
    if (auto* p = std::get_if<std::int64_t>(&v)) return static_cast<double>(*p);
    fail(fmt::format("attribute '{}' is {}, not a number", name, attr_text(v)));
  }
  bool b(const char* name) const { return i(name) != 0; }
  std::string s(const char* name) const {
    const AttrValue& v = attr(name);
    if (auto* p = std::get_if<std::string>(&v)) return *p;
    fail(fmt::format("attribute '{}' is {}, not a string", name, attr_text(v)));
  }
  std::vector<std::int64_t> ints(const char* name) const {
    const AttrValue& v = attr(name);
    if (auto* p = std::get_if<std::vector<std::int64_t>>(&v)) return *p;
    if (auto* p = std::get_if<Shape>(&v)) return p->vec();
    if (auto* p = std::get_if<std::int64_t>(&v)) return {*p};
    fail(fmt::format("attribute '{}' is {}, not a list of integers", name, attr_text(v)));
  }
  std::vector<std::string> strings(const char* name) const {
    if (!has_attr(name)) return {};
    const AttrValue& v = attr(name);
    if (auto* p = std::get_if<std::vector<std::string>>(&v)) return *p;
    fail(fmt::format("attribute '{}' is {}, not a list of strings", name, attr_text(v)));
  }

  /// One node named after the op; returns it for attributes.
  ::onnx::NodeProto& node(const std::string& type, const Names& inputs, const Names& outputs) {
    return e.node(type, inputs, outputs, op.name + "/" + type);
  }
  /// One node with one fresh output, declared with `spec`; returns the output's name.
  std::string unary(const std::string& type, const Names& inputs, const OutputSpec& spec,
                    ::onnx::NodeProto** made = nullptr) {
    std::string y = tmp();
    ::onnx::NodeProto& n = node(type, inputs, {y});
    e.declare(y, spec);
    if (made) *made = &n;
    return y;
  }
  /// Binds output i to `value` (an Identity when the op's output has its own name).
  void bind(std::size_t i, const std::string& value, const OutputSpec& spec) {
    if (i >= op.outputs.size() || op.outputs[i].empty()) return;
    node("Identity", {value}, {op.outputs[i]});
    e.declare(op.outputs[i], spec);
  }
  /// Declares output i (made by a node written with out(i)).
  void declare_out(std::size_t i, const OutputSpec& spec) {
    if (i < op.outputs.size() && !op.outputs[i].empty()) e.declare(op.outputs[i], spec);
  }
  std::string scalar(double v, DType dt) { return e.scalar(op.name + "/const", v, dt); }
  std::string int64s(const std::vector<std::int64_t>& v) { return e.int64s(op.name + "/const", v); }

  /// A NHWC input transposed to NCHW (ONNX's convolution layout).
  std::string to_nchw(const std::string& x, const OutputSpec& spec) {
    const Shape& s = spec.shape;
    return transpose(x, spec, {0, 3, 1, 2}, Shape{s[0], s[3], s[1], s[2]});
  }
  std::string transpose(const std::string& x, const OutputSpec& spec, const std::vector<std::int64_t>& perm,
                        const Shape& result) {
    ::onnx::NodeProto* n = nullptr;
    std::string y = unary("Transpose", {x}, {result, spec.dtype}, &n);
    set(*n, "perm", perm);
    return y;
  }

  static void set(::onnx::NodeProto& n, const char* name, std::int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void set(::onnx::NodeProto& n, const char* name, double v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(static_cast<float>(v));
  }
  static void set(::onnx::NodeProto& n, const char* name, const std::vector<std::int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INTS);
    for (std::int64_t x : v) a->add_ints(x);
  }
  static void set(::onnx::NodeProto& n, const char* name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::STRING);
    a->set_s(v);
  }
};

using Converter = std::function<void(Ctx&)>;

/// Output i's static type where the converter knows it only from its input's: same shape.
OutputSpec like(const Ctx& c, std::size_t i) { return c.spec(i); }

// ---------------------------------------------------------------------------- element-wise

Converter same_name(const char* onnx_type) {
  return [onnx_type](Ctx& c) {
    c.node(onnx_type, c.inputs(), {c.out(0)});
    c.declare_out(0, like(c, 0));
  };
}

/// A binary op with numpy broadcasting (ONNX's is the same).
Converter broadcasting(const char* onnx_type, bool boolean_result = false) {
  return [onnx_type, boolean_result](Ctx& c) {
    c.node(onnx_type, {c.in(0), c.in(1)}, {c.out(0)});
    c.declare_out(0, {broadcast_shapes(onnx_type, c.shape(0), c.shape(1)), boolean_result ? DType::Bool : c.dtype(0)});
  };
}

void gelu(Ctx& c) {
  const std::string& x = c.in(0);
  const OutputSpec s = like(c, 0);
  const DType dt = s.dtype;
  std::string inner;
  if (c.b("approximate")) {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    std::string x3 = c.unary("Mul", {c.unary("Mul", {x, x}, s), x}, s);
    std::string poly = c.unary("Add", {x, c.unary("Mul", {x3, c.scalar(0.044715, dt)}, s)}, s);
    inner = c.unary("Tanh", {c.unary("Mul", {poly, c.scalar(std::sqrt(2.0 / std::numbers::pi), dt)}, s)}, s);
  } else {  // 0.5 x (1 + erf(x / sqrt(2)))
    inner = c.unary("Erf", {c.unary("Mul", {x, c.scalar(1.0 / std::numbers::sqrt2, dt)}, s)}, s);
  }
  std::string half_x = c.unary("Mul", {x, c.scalar(0.5, dt)}, s);
  c.node("Mul", {half_x, c.unary("Add", {inner, c.scalar(1.0, dt)}, s)}, {c.out(0)});
  c.declare_out(0, s);
}

// ---------------------------------------------------------------------------- shapes

/// Reshape's target with each leading dimension equal to the input's written as 0 (ONNX's "copy
/// this dimension"): the same result for the traced shape, and a free batch stays free.
std::vector<std::int64_t> copy_leading(const Shape& from, std::vector<std::int64_t> to) {
  for (int k = 0; k < std::min(from.rank(), static_cast<int>(to.size())); ++k) {
    if (from[k] < 0 || to[k] != from[k] || to[k] == 0) break;
    to[k] = 0;
  }
  return to;
}

Shape reshaped(const Shape& from, const std::vector<std::int64_t>& to) {
  std::vector<std::int64_t> dims(to);
  std::int64_t known = 1, infer = -1;
  for (std::size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == -1) infer = static_cast<std::int64_t>(k);
    else known *= dims[k];
  }
  if (infer >= 0) dims[static_cast<std::size_t>(infer)] = from.is_fully_known() && known > 0 ? from.numel() / known : -1;
  return Shape(dims);
}

/// A shape attribute computed from the traced shapes (eager): the dimension equal to the
/// example's batch size becomes -1 (inferred at run time), so that the batch stays free. Two
/// such dimensions are ambiguous: an error rather than a model fixed to one batch size.
std::vector<std::int64_t> free_batch(const Ctx& c, std::vector<std::int64_t> target) {
  if (c.e.batch < 0 || std::find(target.begin(), target.end(), -1) != target.end()) return target;
  const auto n = std::count(target.begin(), target.end(), c.e.batch);
  if (n == 1) *std::find(target.begin(), target.end(), c.e.batch) = -1;
  if (n > 1)
    c.fail(fmt::format("its target shape {} has the example's batch size {} more than once, so the exporter cannot "
                       "tell which is the batch: export with an example batch size that no other dimension has, or "
                       "with dynamic_batch = false",
                       attr_text(target), c.e.batch));
  return target;
}

void reshape(Ctx& c) {
  if (!c.has_attr("shape")) {  // nn::flatten's record: [N, ...] -> [N, the rest's size]
    const Shape& s = c.shape(0);
    std::int64_t rest = 1;
    for (int k = 1; k < s.rank(); ++k) rest = rest < 0 || s[k] < 0 ? -1 : rest * s[k];
    Ctx::set(c.node("Flatten", {c.in(0)}, {c.out(0)}), "axis", std::int64_t{1});
    c.declare_out(0, {Shape{s.rank() > 0 ? s[0] : 1, rest}, c.dtype(0)});
    return;
  }
  const std::vector<std::int64_t> target = c.ints("shape");
  for (std::int64_t d : target)
    if (d == 0) c.fail("a reshape to a shape with a 0 dimension (an empty tensor) is not exported");
  c.node("Reshape", {c.in(0), c.int64s(free_batch(c, copy_leading(c.shape(0), target)))}, {c.out(0)});
  c.declare_out(0, {reshaped(c.shape(0), target), c.dtype(0)});
}

std::int64_t positive_axis(const Ctx& c, std::int64_t axis, int rank) {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) c.fail(fmt::format("axis {} is out of range for rank {}", axis, rank));
  return axis < 0 ? axis + r : axis;
}

void squeeze(Ctx& c) {
  const Shape& s = c.shape(0);
  std::vector<std::int64_t> axes = c.ints("squeeze_dims");
  if (axes.empty())
    for (int k = 0; k < s.rank(); ++k)
      if (s[k] == 1) axes.push_back(static_cast<std::int64_t>(k));
  for (auto& a : axes) a = positive_axis(c, a, s.rank());
  std::vector<std::int64_t> dims;
  for (int k = 0; k < s.rank(); ++k)
    if (std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(k)) == axes.end()) dims.push_back(s[k]);
  c.node("Squeeze", {c.in(0), c.int64s(axes)}, {c.out(0)});
  c.declare_out(0, {Shape(dims), c.dtype(0)});
}

/// s with a dimension of 1 inserted at `axis` (an axis of the result).
Shape with_unit_axis(const Shape& s, std::int64_t axis) {
  std::vector<std::int64_t> dims(s.begin(), s.end());
  dims.insert(dims.begin() + axis, 1);
  return Shape(dims);
}

void expand_dims(Ctx& c) {
  const std::int64_t axis = positive_axis(c, c.i("dim"), c.shape(0).rank() + 1);
  c.node("Unsqueeze", {c.in(0), c.int64s({axis})}, {c.out(0)});
  c.declare_out(0, {with_unit_axis(c.shape(0), axis), c.dtype(0)});
}

void transpose(Ctx& c) {
  const std::vector<std::int64_t> perm = c.ints("perm");
  const Shape& s = c.shape(0);
  std::vector<std::int64_t> dims;
  for (std::int64_t p : perm) dims.push_back(s[static_cast<std::size_t>(positive_axis(c, p, s.rank()))]);
  Ctx::set(c.node("Transpose", {c.in(0)}, {c.out(0)}), "perm", perm);
  c.declare_out(0, {Shape(dims), c.dtype(0)});
}

void slice(Ctx& c) {
  const Shape& s = c.shape(0);
  const std::vector<std::int64_t> begin = c.ints("begin"), size = c.ints("size");
  std::vector<std::int64_t> ends, axes, dims;
  for (std::size_t k = 0; k < begin.size(); ++k) {
    ends.push_back(size[k] < 0 ? std::numeric_limits<std::int64_t>::max() : begin[k] + size[k]);
    axes.push_back(static_cast<std::int64_t>(k));
    dims.push_back(size[k] >= 0 ? size[k] : s[k] < 0 ? -1 : s[k] - begin[k]);
  }
  c.node("Slice", {c.in(0), c.int64s(begin), c.int64s(ends), c.int64s(axes)}, {c.out(0)});
  c.declare_out(0, {Shape(dims), c.dtype(0)});
}

void concat(Ctx& c) {
  const Names inputs = c.inputs();
  const Shape& s = c.shape(0);
  const std::int64_t axis = positive_axis(c, c.i("axis"), s.rank());
  std::vector<std::int64_t> dims(s.begin(), s.end());
  std::int64_t total = 0;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const std::int64_t d = c.shape(k)[static_cast<std::size_t>(axis)];
    total = total < 0 || d < 0 ? -1 : total + d;
  }
  dims[static_cast<std::size_t>(axis)] = total;
  Ctx::set(c.node("Concat", inputs, {c.out(0)}), "axis", axis);
  c.declare_out(0, {Shape(dims), c.dtype(0)});
}

/// stack: each input with a unit axis, concatenated along it.
void pack(Ctx& c) {
  const std::int64_t axis = positive_axis(c, c.i("axis"), c.shape(0).rank() + 1);
  const Shape one = with_unit_axis(c.shape(0), axis);
  Names parts;
  for (const std::string& x : c.inputs()) parts.push_back(c.unary("Unsqueeze", {x, c.int64s({axis})}, {one, c.dtype(0)}));
  Shape stacked = one;
  stacked[static_cast<int>(axis)] = static_cast<std::int64_t>(parts.size());
  Ctx::set(c.node("Concat", parts, {c.out(0)}), "axis", axis);
  c.declare_out(0, {stacked, c.dtype(0)});
}

void split(Ctx& c) {
  const Shape& s = c.shape(0);
  const std::int64_t n = c.i("num_split");
  const std::int64_t axis = positive_axis(c, c.i("split_dim"), s.rank());
  std::vector<std::int64_t> dims(s.begin(), s.end());
  if (dims[static_cast<std::size_t>(axis)] >= 0) dims[static_cast<std::size_t>(axis)] /= n;
  Names outs;
  for (std::int64_t k = 0; k < n; ++k) outs.push_back(c.out(static_cast<std::size_t>(k)));
  ::onnx::NodeProto& node = c.node("Split", {c.in(0)}, outs);
  Ctx::set(node, "axis", axis);
  if (c.e.opset() >= 18) Ctx::set(node, "num_outputs", n);
  for (std::int64_t k = 0; k < n; ++k) c.e.declare(outs[static_cast<std::size_t>(k)], {Shape(dims), c.dtype(0)});
}

void gather(Ctx& c) {
  const Shape &p = c.shape(0), &ids = c.shape(1);
  const std::int64_t axis = positive_axis(c, c.has_attr("axis") ? c.i("axis") : 0, p.rank());
  if (c.has_attr("batch_dims") && c.i("batch_dims") != 0) c.fail("gather with batch_dims is not exported");
  std::vector<std::int64_t> dims(p.begin(), p.begin() + axis);
  dims.insert(dims.end(), ids.begin(), ids.end());
  dims.insert(dims.end(), p.begin() + axis + 1, p.end());
  Ctx::set(c.node("Gather", {c.in(0), c.in(1)}, {c.out(0)}), "axis", axis);
  c.declare_out(0, {Shape(dims), c.dtype(0)});
}

void cast(Ctx& c) {
  const auto* to = std::get_if<DType>(&c.attr("DstT"));
  if (!to) c.fail("attribute 'DstT' is not a dtype");
  Ctx::set(c.node("Cast", {c.in(0)}, {c.out(0)}), "to", static_cast<std::int64_t>(onnx_type(*to, c.op.where)));
  c.declare_out(0, {c.shape(0), *to});
}

void tile(Ctx& c) {
  const std::vector<std::int64_t> m = c.ints("multiples");
  const Shape& s = c.shape(0);
  std::vector<std::int64_t> dims;
  for (int k = 0; k < s.rank(); ++k) dims.push_back(s[k] < 0 ? -1 : s[k] * m[k]);
  c.node("Tile", {c.in(0), c.int64s(m)}, {c.out(0)});
  c.declare_out(0, {Shape(dims), c.dtype(0)});
}

void broadcast_to(Ctx& c) {
  const std::vector<std::int64_t> shape = c.ints("shape");
  std::vector<std::int64_t> target = free_batch(c, shape);  // Expand: 1 broadcasts, as -1 may not
  std::replace(target.begin(), target.end(), std::int64_t{-1}, std::int64_t{1});
  if (target != shape && (c.shape(0).rank() < static_cast<int>(shape.size()) || c.shape(0)[0] != shape[0]))
    c.fail("a broadcast along the batch dimension is not exported with a free batch: export with dynamic_batch = false");
  c.node("Expand", {c.in(0), c.int64s(target)}, {c.out(0)});
  c.declare_out(0, {Shape(shape), c.dtype(0)});
}

void pad(Ctx& c) {
  const std::vector<std::int64_t> flat = c.ints("paddings");  // (before, after) per dimension
  const Shape& s = c.shape(0);
  std::vector<std::int64_t> pads(2 * s.rank()), dims;
  for (int k = 0; k < s.rank(); ++k) {
    pads[k] = flat[2 * k];
    pads[k + s.rank()] = flat[2 * k + 1];
    dims.push_back(s[k] < 0 ? -1 : s[k] + flat[2 * k] + flat[2 * k + 1]);
  }
  Names inputs{c.in(0), c.int64s(pads)};
  std::string mode = "constant";
  if (c.op.type == "PadV2") inputs.push_back(c.scalar(c.f("constant_values"), c.dtype(0)));
  if (c.op.type == "MirrorPad") {
    if (c.s("mode") != "REFLECT") c.fail("MirrorPad in SYMMETRIC mode has no ONNX form (ONNX pads reflect or edge)");
    mode = "reflect";
  }
  Ctx::set(c.node("Pad", inputs, {c.out(0)}), "mode", mode);
  c.declare_out(0, {Shape(dims), c.dtype(0)});
}

/// tf.linalg.band_part: keeps num_lower diagonals below and num_upper above (-1: all), as two Trilus.
void band_part(Ctx& c) {
  const std::int64_t lower = c.i("num_lower"), upper = c.i("num_upper");
  std::string y = c.in(0);
  if (lower >= 0) {
    ::onnx::NodeProto* n = nullptr;
    y = c.unary("Trilu", {y, c.int64s({-lower})}, like(c, 0), &n);
    Ctx::set(*n, "upper", std::int64_t{1});
  }
  if (upper >= 0) {
    ::onnx::NodeProto* n = nullptr;
    y = c.unary("Trilu", {y, c.int64s({upper})}, like(c, 0), &n);
    Ctx::set(*n, "upper", std::int64_t{0});
  }
  c.bind(0, y, like(c, 0));
}

// ---------------------------------------------------------------------------- reductions

void reduce(Ctx& c, const char* onnx_type) {
  const Shape& s = c.shape(0);
  std::vector<std::int64_t> axes = c.ints("axis");
  const bool keep = c.b("keep_dims");
  for (auto& a : axes) a = positive_axis(c, a, s.rank());
  std::vector<std::int64_t> dims;
  for (int k = 0; k < s.rank(); ++k) {
    const bool reduced = axes.empty() || std::find(axes.begin(), axes.end(), static_cast<std::int64_t>(k)) != axes.end();
    if (!reduced) dims.push_back(s[k]);
    else if (keep) dims.push_back(1);
  }
  // ReduceSum takes its axes as an input from opset 13, the others from opset 18.
  const bool axes_input = std::string(onnx_type) == "ReduceSum" || c.e.opset() >= 18;
  Names inputs{c.in(0)};
  if (axes_input && !axes.empty()) inputs.push_back(c.int64s(axes));
  ::onnx::NodeProto& n = c.node(onnx_type, inputs, {c.out(0)});
  Ctx::set(n, "keepdims", std::int64_t{keep});
  if (!axes_input && !axes.empty()) Ctx::set(n, "axes", axes);
  c.declare_out(0, {Shape(dims), c.dtype(0)});
}

void arg_reduce(Ctx& c, const char* type) {
  const Shape& s = c.shape(0);
  const std::int64_t axis = positive_axis(c, c.i(c.has_attr("dimension") ? "dimension" : "axis"), s.rank());
  std::vector<std::int64_t> dims;
  for (int k = 0; k < s.rank(); ++k)
    if (static_cast<std::int64_t>(k) != axis) dims.push_back(s[k]);
  std::string y = c.tmp();
  ::onnx::NodeProto& n = c.node(type, {c.in(0)}, {y});
  Ctx::set(n, "axis", axis);
  Ctx::set(n, "keepdims", std::int64_t{0});
  const DType out = c.has_attr("output_type") ? std::get<DType>(c.attr("output_type")) : DType::Int64;
  if (out == DType::Int64) {
    c.e.declare(y, {Shape(dims), out});
    c.bind(0, y, {Shape(dims), out});
  } else {
    Ctx::set(c.node("Cast", {y}, {c.out(0)}), "to", static_cast<std::int64_t>(onnx_type(out, c.op.where)));
    c.declare_out(0, {Shape(dims), out});
  }
}

// ---------------------------------------------------------------------------- products

/// x with its last two dimensions swapped.
std::string swap_last(Ctx& c, const std::string& x, const OutputSpec& spec, Shape* result) {
  const Shape& s = spec.shape;
  std::vector<std::int64_t> perm, dims(s.begin(), s.end());
  for (int k = 0; k < s.rank(); ++k) perm.push_back(static_cast<std::int64_t>(k));
  std::swap(perm[s.rank() - 2], perm[s.rank() - 1]);
  std::swap(dims[s.rank() - 2], dims[s.rank() - 1]);
  *result = Shape(dims);
  return c.transpose(x, spec, perm, *result);
}

/// The batch dimensions of a and b broadcast, then [rows of a, columns of b].
Shape matmul_shape(const Shape& a, const Shape& b) {
  auto batch = [](const Shape& s) { return Shape(std::vector<std::int64_t>(s.begin(), s.end() - 2)); };
  std::vector<std::int64_t> dims = broadcast_shapes("MatMul", batch(a), batch(b)).vec();
  dims.push_back(a[a.rank() - 2]);
  dims.push_back(b[b.rank() - 1]);
  return Shape(dims);
}

void matmul(Ctx& c) {
  const bool batch = c.op.type == "BatchMatMulV2";
  const bool ta = c.b(batch ? "adj_x" : "transpose_a"), tb = c.b(batch ? "adj_y" : "transpose_b");
  std::string a = c.in(0), b = c.in(1);
  Shape sa = c.shape(0), sb = c.shape(1);
  if (sa.rank() < 2 || sb.rank() < 2) c.fail("a product of a vector is not exported (both operands must be matrices)");
  if (ta) a = swap_last(c, a, c.spec(0), &sa);
  if (tb) b = swap_last(c, b, c.spec(1), &sb);
  c.node("MatMul", {a, b}, {c.out(0)});
  c.declare_out(0, {matmul_shape(sa, sb), c.dtype(0)});
}

/// TensorFlow's _FusedMatMul (xw_plus_b and what its graph optimizer fuses): Gemm, then the
/// activations after the bias.
void fused_matmul(Ctx& c) {
  const std::vector<std::string> fused = c.strings("fused_ops");
  if (fused.empty() || fused[0] != "BiasAdd") c.fail("a _FusedMatMul without a BiasAdd first is not exported");
  const OutputSpec s{Shape{c.shape(0)[0], c.shape(1)[1]}, c.dtype(0)};
  std::string y = fused.size() == 1 ? c.out(0) : c.tmp();
  ::onnx::NodeProto& n = c.node("Gemm", {c.in(0), c.in(1), c.in(2)}, {y});
  if (c.b("transpose_a")) Ctx::set(n, "transA", std::int64_t{1});
  if (c.b("transpose_b")) Ctx::set(n, "transB", std::int64_t{1});
  c.e.declare(y, s);
  for (std::size_t k = 1; k < fused.size(); ++k) {
    if (fused[k] != "Relu") c.fail(fmt::format("the fused op {} is not exported", fused[k]));
    std::string next = k + 1 == fused.size() ? c.out(0) : c.tmp();
    c.node("Relu", {y}, {next});
    c.e.declare(next, s);
    y = next;
  }
  c.declare_out(0, s);
}

/// tapeflow's ops record data_format NHWC; anything else has no meaning here.
void check_data_format(Ctx& c) {
  if (c.has_attr("data_format") && c.s("data_format") != "NHWC")
    c.fail(fmt::format("data_format {} is not exported (tapeflow is NHWC)", c.s("data_format")));
}

void bias_add(Ctx& c) {
  check_data_format(c);
  c.node("Add", {c.in(0), c.in(1)}, {c.out(0)});
  c.declare_out(0, like(c, 0));
}

// ---------------------------------------------------------------------------- images (NHWC)

/// TensorFlow's strides/ksize [1, h, w, 1] as ONNX's [h, w].
std::vector<std::int64_t> spatial(const Ctx& c, const char* name) {
  const std::vector<std::int64_t> v = c.ints(name);
  if (v.size() != 4 || v[0] != 1 || v[3] != 1) c.fail(fmt::format("{} must be [1, h, w, 1], got {}", name, attr_text(v)));
  return {v[1], v[2]};
}

/// ONNX pads [top, left, bottom, right] for TensorFlow's padding of an input h x w, window
/// kh x kw (dilated), strides; SAME puts the odd pixel at the bottom and right, as TensorFlow.
std::vector<std::int64_t> pads_for(Ctx& c, const Shape& nhwc, const std::vector<std::int64_t>& window,
                                   const std::vector<std::int64_t>& strides, std::vector<std::int64_t>* out_hw) {
  const std::string padding = c.s("padding");
  std::vector<std::int64_t> pads(4, 0);
  out_hw->assign(2, -1);
  for (std::size_t k = 0; k < 2; ++k) {
    const std::int64_t in = nhwc[1 + k];
    if (in < 0) c.fail("a convolution or pool over an unknown height or width is not exported: give the placeholder "
                       "its image size");
    if (padding == "VALID") {
      (*out_hw)[k] = (in - window[k]) / strides[k] + 1;
    } else if (padding == "SAME") {
      const std::int64_t out = (in + strides[k] - 1) / strides[k];
      const std::int64_t total = std::max<std::int64_t>((out - 1) * strides[k] + window[k] - in, 0);
      pads[k] = total / 2;
      pads[k + 2] = total - total / 2;
      (*out_hw)[k] = out;
    } else {
      c.fail(fmt::format("padding {} is not exported", padding));
    }
  }
  return pads;
}

void check_nhwc(Ctx& c) {
  check_data_format(c);
  if (c.shape(0).rank() != 4) c.fail(fmt::format("the input must be 4-D NHWC, got {}", c.shape(0).str()));
}

/// Runs an NCHW ONNX node on the NHWC input 0 and binds its result back in NHWC.
void in_nchw(Ctx& c, const std::string& type, Names extra_inputs, std::int64_t channels_out,
             const std::vector<std::int64_t>& out_hw, const std::function<void(::onnx::NodeProto&)>& attrs,
             bool relu = false) {
  const OutputSpec& s = c.spec(0);
  Names inputs{c.to_nchw(c.in(0), s)};
  inputs.insert(inputs.end(), extra_inputs.begin(), extra_inputs.end());
  ::onnx::NodeProto* n = nullptr;
  const OutputSpec nchw{Shape{s.shape[0], channels_out, out_hw[0], out_hw[1]}, s.dtype};
  std::string y = c.unary(type, inputs, nchw, &n);
  attrs(*n);
  if (relu) y = c.unary("Relu", {y}, nchw);  // a fused ReLU (_FusedConv2D's fused_ops), before the transpose back
  ::onnx::NodeProto& back = c.node("Transpose", {y}, {c.out(0)});
  Ctx::set(back, "perm", std::vector<std::int64_t>{0, 2, 3, 1});
  c.declare_out(0, {Shape{s.shape[0], out_hw[0], out_hw[1], channels_out}, s.dtype});
}

void conv2d(Ctx& c) {
  check_nhwc(c);
  const Shape& f = c.shape(1);  // HWIO
  if (f.rank() != 4) c.fail(fmt::format("the filter must be 4-D [h, w, in, out], got {}", f.str()));
  const std::vector<std::int64_t> strides = spatial(c, "strides");
  std::vector<std::int64_t> dilations{1, 1};
  if (c.has_attr("dilations")) dilations = spatial(c, "dilations");
  const std::vector<std::int64_t> window{(f[0] - 1) * dilations[0] + 1, (f[1] - 1) * dilations[1] + 1};
  std::vector<std::int64_t> out_hw;
  const std::vector<std::int64_t> pads = pads_for(c, c.shape(0), window, strides, &out_hw);
  const std::string w = c.transpose(c.in(1), c.spec(1), {3, 2, 0, 1}, Shape{f[3], f[2], f[0], f[1]});  // OIHW
  Names weights{w};
  bool relu = false;
  if (c.op.type == "_FusedConv2D") {  // Conv2D + BiasAdd [+ Relu]: ONNX's Conv takes the bias
    const std::vector<std::string> fused = c.strings("fused_ops");
    relu = fused == std::vector<std::string>{"BiasAdd", "Relu"};
    if (fused != std::vector<std::string>{"BiasAdd"} && !relu)
      c.fail(fmt::format("fused ops {} are not exported (only BiasAdd, and BiasAdd then Relu)",
                         attr_text(c.attr("fused_ops"))));
    weights.push_back(c.in(2));
  }
  in_nchw(c, "Conv", weights, f[3], out_hw, [&](::onnx::NodeProto& n) {
    Ctx::set(n, "kernel_shape", std::vector<std::int64_t>{f[0], f[1]});
    Ctx::set(n, "strides", strides);
    Ctx::set(n, "dilations", dilations);
    Ctx::set(n, "pads", pads);
  }, relu);
}

void pool(Ctx& c, const char* type) {
  check_nhwc(c);
  const std::vector<std::int64_t> window = spatial(c, "ksize"), strides = spatial(c, "strides");
  std::vector<std::int64_t> out_hw;
  const std::vector<std::int64_t> pads = pads_for(c, c.shape(0), window, strides, &out_hw);
  in_nchw(c, type, {}, c.shape(0)[3], out_hw, [&](::onnx::NodeProto& n) {
    Ctx::set(n, "kernel_shape", window);
    Ctx::set(n, "strides", strides);
    Ctx::set(n, "pads", pads);
    // AveragePool's default (count_include_pad 0) divides by the pixels inside the image, as TensorFlow.
  });
}

/// TensorFlow's LRN: x / (bias + alpha * sum of squares over 2r+1 channels)^beta; ONNX's divides
/// alpha by the window's size, so alpha is multiplied by it.
void lrn(Ctx& c) {
  check_nhwc(c);
  const std::int64_t size = 2 * c.i("depth_radius") + 1;
  const Shape& s = c.shape(0);
  in_nchw(c, "LRN", {}, s[3], {s[1], s[2]}, [&](::onnx::NodeProto& n) {
    Ctx::set(n, "size", size);
    Ctx::set(n, "alpha", c.f("alpha") * static_cast<double>(size));
    Ctx::set(n, "beta", c.f("beta"));
    Ctx::set(n, "bias", c.f("bias"));
  });
}

// ---------------------------------------------------------------------------- normalization

/// Batch norm in inference form on NHWC: (x - mean) * (scale / sqrt(variance + epsilon)) + offset,
/// the per-channel vectors broadcasting along the last axis.
void batch_norm(Ctx& c) {
  if (c.op.inputs.size() < 6 || (c.has_attr("is_training") && c.b("is_training")))
    c.fail("batch norm with the batch's statistics (training mode) is not exported: export in eval mode "
           "(net.eval(), or is_training frozen at false), where it uses the moving averages");
  const Tensor* training = c.constant(5);
  if (!training)
    c.fail("its is_training input must be known when exporting: freeze it at false (options.frozen = "
           "{{is_training, scalar(false)}})");
  if (training->to(DType::Bool).item<bool>())
    c.fail("is_training is true: batch norm would use the batch's statistics; freeze is_training at false");
  const OutputSpec& s = c.spec(0);
  const DType dt = s.dtype;
  const OutputSpec vec{Shape{s.shape[s.shape.rank() - 1]}, dt};
  std::string inv = c.unary("Reciprocal", {c.unary("Sqrt", {c.unary("Add", {c.in(4), c.scalar(c.f("epsilon"), dt)}, vec)}, vec)}, vec);
  if (c.has_in(1)) inv = c.unary("Mul", {inv, c.in(1)}, vec);
  std::string centred = c.unary("Sub", {c.in(0), c.in(3)}, s);
  if (c.has_in(2)) {
    std::string scaled = c.unary("Mul", {centred, inv}, s);
    c.node("Add", {scaled, c.in(2)}, {c.out(0)});
  } else {
    c.node("Mul", {centred, inv}, {c.out(0)});
  }
  c.declare_out(0, s);
  for (std::size_t k = 1; k < c.op.outputs.size(); ++k)
    if (!c.op.outputs[k].empty()) c.fail(fmt::format("its output {} (a batch statistic) is used: not exported", k));
}

void layer_norm(Ctx& c) {
  if (c.e.opset() < 17) c.fail("layer norm needs opset 17 (LayerNormalization); export with opset 17");
  const OutputSpec& s = c.spec(0);
  const std::int64_t axis = positive_axis(c, c.i("begin_norm_axis"), s.shape.rank());
  std::vector<std::int64_t> norm(s.shape.begin() + axis, s.shape.end());
  Names inputs{c.in(0)};
  inputs.push_back(c.has_in(1) ? c.in(1) : c.e.initializer(c.op.name + "/gamma", ones(Shape(norm), s.dtype)));
  inputs.push_back(c.has_in(2) ? c.in(2) : c.e.initializer(c.op.name + "/beta", zeros(Shape(norm), s.dtype)));
  ::onnx::NodeProto& n = c.node("LayerNormalization", inputs, {c.out(0)});
  Ctx::set(n, "axis", axis);
  Ctx::set(n, "epsilon", c.f("epsilon"));
  c.declare_out(0, s);
}

void softmax(Ctx& c, const char* type) {
  Ctx::set(c.node(type, {c.in(0)}, {c.out(0)}), "axis", c.has_attr("axis") ? c.i("axis") : std::int64_t{-1});
  c.declare_out(0, like(c, 0));
}

// ---------------------------------------------------------------------------- attention

/// softmax(q kᵀ scale + mask) v, written out: the causal band as a constant additive mask
/// (0 or -inf) over the known T_q x T_k, a bool mask through Where.
void attention(Ctx& c) {
  const OutputSpec &q = c.spec(0), &k = c.spec(1), &v = c.spec(2);
  const int r = q.shape.rank();
  const std::int64_t tq = q.shape[r - 2], tk = k.shape[r - 2], d = q.shape[r - 1];
  double scale = c.f("scale");
  if (scale == 0.0) {
    if (d < 0) c.fail("the query's last dimension must be known for the default scale 1/sqrt(D)");
    scale = 1.0 / std::sqrt(static_cast<double>(d));
  }
  const DType dt = q.dtype;
  Shape kt;
  std::string key_t = swap_last(c, c.in(1), k, &kt);
  std::vector<std::int64_t> sdims(q.shape.begin(), q.shape.end());
  sdims[r - 1] = tk;
  const OutputSpec scores{Shape(sdims), dt};
  std::string s = c.unary("Mul", {c.unary("MatMul", {c.in(0), key_t}, scores), c.scalar(scale, dt)}, scores);
  const double inf = std::numeric_limits<double>::infinity();
  if (c.b("causal")) {
    if (tq < 0 || tk < 0) c.fail("causal attention over an unknown number of steps is not exported");
    Tensor band = zeros(Shape{tq, tk}, dt);
    for (std::int64_t i = 0; i < tq; ++i)
      for (std::int64_t j = i + 1; j < tk; ++j) {
        if (dt == DType::Float32) band.data<float>()[i * tk + j] = -std::numeric_limits<float>::infinity();
        else band.data<double>()[i * tk + j] = -inf;
      }
    s = c.unary("Add", {s, c.e.initializer(c.op.name + "/causal_mask", band)}, scores);
  }
  if (c.has_in(3)) {
    if (c.dtype(3) == DType::Bool) s = c.unary("Where", {c.in(3), s, c.scalar(-inf, dt)}, scores);
    else s = c.unary("Add", {s, c.in(3)}, scores);
  }
  ::onnx::NodeProto* sm = nullptr;
  std::string p = c.unary("Softmax", {s}, scores, &sm);
  Ctx::set(*sm, "axis", std::int64_t{-1});
  c.node("MatMul", {p, c.in(2)}, {c.out(0)});
  std::vector<std::int64_t> odims(sdims);
  odims[r - 1] = v.shape[r - 1];
  c.declare_out(0, {Shape(odims), dt});
}

// ---------------------------------------------------------------------------- recurrent cells

/// The body of one step of a cell, written into `g` (the main graph or a Scan body): ONNX nodes
/// from the step's inputs to its outputs, named under `prefix`.
struct StepWriter {
  Ctx& c;
  ::onnx::GraphProto& g;
  std::string prefix;
  int count = 0;
  /// One node of `outputs` outputs; returns their names.
  Names node(const std::string& type, const Names& inputs, int outputs, ::onnx::NodeProto** made = nullptr) {
    ::onnx::NodeProto* n = g.add_node();
    n->set_op_type(type);
    n->set_name(fmt::format("{}/{}_{}", prefix, type, count));
    for (const auto& i : inputs) n->add_input(i);
    Names outs;
    for (int k = 0; k < outputs; ++k) outs.push_back(fmt::format("{}/{}_{}:{}", prefix, type, count, k));
    for (const auto& o : outs) n->add_output(o);
    ++count;
    if (made) *made = n;
    return outs;
  }
  /// One node of one output; returns its name.
  std::string op(const std::string& type, const Names& inputs) { return node(type, inputs, 1)[0]; }
  /// x cut into `parts` equal parts along its last axis (the gates).
  Names split(const std::string& x, int parts) {
    ::onnx::NodeProto* n = nullptr;
    Names outs = node("Split", {x}, parts, &n);
    Ctx::set(*n, "axis", std::int64_t{-1});
    if (c.e.opset() >= 18) Ctx::set(*n, "num_outputs", std::int64_t{parts});
    return outs;
  }
};

/// BasicLSTMCell: gates = x + h w; i, j, f, o; c' = c σ(f + forget_bias) + σ(i) tanh(j); h' = tanh(c') σ(o).
std::pair<std::string, std::string> lstm_cell(StepWriter& w, const std::string& x, const std::string& h,
                                              const std::string& cell, const std::string& w_h,
                                              const std::string& forget_bias) {
  const Names gate = w.split(w.op("Add", {x, w.op("MatMul", {h, w_h})}), 4);
  const std::string f = w.op("Sigmoid", {w.op("Add", {gate[2], forget_bias})});
  const std::string c2 =
      w.op("Add", {w.op("Mul", {cell, f}), w.op("Mul", {w.op("Sigmoid", {gate[0]}), w.op("Tanh", {gate[1]})})});
  const std::string h2 = w.op("Mul", {w.op("Tanh", {c2}), w.op("Sigmoid", {gate[3]})});
  return {h2, c2};
}

/// GRUCell: r, u = σ(gx + h w_g); c = tanh(cx + (r h) w_c); h' = u h + (1 - u) c.
std::string gru_cell(StepWriter& w, const std::string& gx, const std::string& cx, const std::string& h,
                     const std::string& w_g, const std::string& w_c, const std::string& one) {
  const Names ru = w.split(w.op("Sigmoid", {w.op("Add", {gx, w.op("MatMul", {h, w_g})})}), 2);
  const std::string cand = w.op("Tanh", {w.op("Add", {cx, w.op("MatMul", {w.op("Mul", {ru[0], h}), w_c})})});
  return w.op("Add", {w.op("Mul", {ru[1], h}), w.op("Mul", {w.op("Sub", {one, ru[1]}), cand})});
}

/// A recurrent layer's initial state: as it is, or, when it is a constant of zeros [batch, H]
/// and the batch is free, zeros shaped at run time from the sequence's batch (dimension 1).
std::string initial_state(Ctx& c, std::size_t state, std::size_t sequence, std::int64_t batch_axis) {
  const Tensor* value = c.constant(state);
  if (c.e.batch < 0 || !value || value->rank() != 2 || value->dim(0) != c.e.batch) return c.in(state);
  if (reduce_max(abs(cast(*value, DType::Float64))).item<double>() != 0.0)
    c.fail("its initial state is a constant other than zeros, made for the example's batch size: export with "
           "dynamic_batch = false");
  const OutputSpec& s = c.spec(state);
  std::string batch = c.unary("Slice", {c.unary("Shape", {c.in(sequence)}, {Shape{c.shape(sequence).rank()}, DType::Int64}), c.int64s({batch_axis}),
                                        c.int64s({batch_axis + 1})},
                              {Shape{1}, DType::Int64});
  ::onnx::NodeProto* n = nullptr;
  std::string shape = c.unary("Concat", {batch, c.int64s({s.shape[1]})}, {Shape{2}, DType::Int64}, &n);
  Ctx::set(*n, "axis", std::int64_t{0});
  std::string zeros = c.unary("ConstantOfShape", {shape}, s, &n);
  auto* a = n->add_attribute();
  a->set_name("value");
  a->set_type(::onnx::AttributeProto::TENSOR);
  ::onnx::TensorProto* t = a->mutable_t();
  t->set_data_type(onnx_type(s.dtype, c.op.where));
  t->add_dims(1);
  t->set_raw_data(std::string(dtype_size(s.dtype), '\0'));
  return zeros;
}

void lstm_step(Ctx& c) {
  const OutputSpec h = c.spec(1);
  StepWriter w{c, c.e.graph(), c.e.fresh(c.op.name)};
  auto [h2, c2] = lstm_cell(w, c.in(0), initial_state(c, 1, 0, 0), initial_state(c, 2, 0, 0), c.in(3),
                            c.scalar(c.f("forget_bias"), h.dtype));
  c.bind(0, h2, h);
  c.bind(1, c2, h);
}

void gru_step(Ctx& c) {
  const OutputSpec h = c.spec(2);
  StepWriter w{c, c.e.graph(), c.e.fresh(c.op.name)};
  c.bind(0, gru_cell(w, c.in(0), c.in(1), initial_state(c, 2, 0, 0), c.in(3), c.in(4), c.scalar(1.0, h.dtype)), h);
}

/// A Scan over the time axis (0) of the sequence inputs, carrying `states`, whose body `write`
/// writes one step: outputs the final states and the stacked per-step output.
void scan(Ctx& c, const Names& states, const Names& sequences, const DType dt,
          const std::function<Names(StepWriter&, const Names& state, const Names& step)>& write,
          const Names& outputs) {
  ::onnx::GraphProto body;
  body.set_name(c.e.fresh(c.op.name + "/step"));
  const std::string prefix = body.name();
  Names state_in, step_in;
  auto add_input = [&](const std::string& name) {
    auto* v = body.add_input();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(onnx_type(dt, c.op.where));
  };
  for (std::size_t k = 0; k < states.size(); ++k) add_input(state_in.emplace_back(fmt::format("{}/state_{}", prefix, k)));
  for (std::size_t k = 0; k < sequences.size(); ++k) add_input(step_in.emplace_back(fmt::format("{}/x_{}", prefix, k)));
  StepWriter w{c, body, prefix};
  const Names results = write(w, state_in, step_in);  // the new states, then the step's output
  for (std::size_t k = 0; k < results.size(); ++k) {
    auto* v = body.add_output();
    // A body output may not be a body input or an outer value: copy through an Identity.
    v->set_name(w.op("Identity", {results[k]}));
    v->mutable_type()->mutable_tensor_type()->set_elem_type(onnx_type(dt, c.op.where));
  }
  Names inputs(states);
  inputs.insert(inputs.end(), sequences.begin(), sequences.end());
  ::onnx::NodeProto& n = c.node("Scan", inputs, outputs);
  Ctx::set(n, "num_scan_inputs", static_cast<std::int64_t>(sequences.size()));
  auto* a = n.add_attribute();
  a->set_name("body");
  a->set_type(::onnx::AttributeProto::GRAPH);
  *a->mutable_g() = std::move(body);
}

void lstm_sequence(Ctx& c) {
  const OutputSpec x = c.spec(0), h = c.spec(1);
  const std::string fb = c.scalar(c.f("forget_bias"), h.dtype);
  const std::string w_h = c.in(3);
  const Names outs{c.out(1), c.out(2), c.out(0)};  // Scan: final h, final c, then h at every step
  scan(c, {initial_state(c, 1, 0, 1), initial_state(c, 2, 0, 1)}, {c.in(0)}, h.dtype,
       [&](StepWriter& w, const Names& s, const Names& step) {
         auto [h2, c2] = lstm_cell(w, step[0], s[0], s[1], w_h, fb);
         return Names{h2, c2, h2};
       },
       outs);
  c.declare_out(0, {Shape{x.shape[0], h.shape[0], h.shape[1]}, h.dtype});
  c.declare_out(1, h);
  c.declare_out(2, h);
}

void gru_sequence(Ctx& c) {
  const OutputSpec x = c.spec(0), h = c.spec(2);
  const std::string one = c.scalar(1.0, h.dtype), w_g = c.in(3), w_c = c.in(4);
  const Names outs{c.out(1), c.out(0)};  // Scan: the final h, then h at every step
  scan(c, {initial_state(c, 2, 0, 1)}, {c.in(0), c.in(1)}, h.dtype,
       [&](StepWriter& w, const Names& s, const Names& step) {
         const std::string h2 = gru_cell(w, step[0], step[1], s[0], w_g, w_c, one);
         return Names{h2, h2};
       },
       outs);
  c.declare_out(0, {Shape{x.shape[0], h.shape[0], h.shape[1]}, h.dtype});
  c.declare_out(1, h);
}

// ---------------------------------------------------------------------------- the table

Converter composed(std::function<std::string(Ctx&, const std::string& x, const OutputSpec& s)> f) {
  return [f](Ctx& c) {
    const OutputSpec s = like(c, 0);
    c.node("Identity", {f(c, c.in(0), s)}, {c.out(0)});
    c.declare_out(0, s);
  };
}

const std::unordered_map<std::string, Converter>& table() {
  static const std::unordered_map<std::string, Converter> t = [] {
    std::unordered_map<std::string, Converter> m;
    for (const char* same : {"Relu", "Tanh", "Sigmoid", "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Sin", "Cos",
                             "Floor", "Sign", "Softplus", "Identity", "Round"})
      m[same] = same_name(same);
    m["StopGradient"] = same_name("Identity");
    m["Dropout"] = [](Ctx& c) {  // inference: the identity (TensorFlow's and PyTorch's exports alike)
      c.node("Identity", {c.in(0)}, {c.out(0)});
      c.declare_out(0, like(c, 0));
    };
    m["LogicalNot"] = same_name("Not");
    m["AddN"] = same_name("Sum");
    m["Add"] = m["AddV2"] = broadcasting("Add");
    m["Sub"] = broadcasting("Sub");
    m["Mul"] = broadcasting("Mul");
    m["RealDiv"] = broadcasting("Div");
    m["Maximum"] = broadcasting("Max");
    m["Minimum"] = broadcasting("Min");
    m["Pow"] = broadcasting("Pow");
    m["Equal"] = broadcasting("Equal", true);
    m["Less"] = broadcasting("Less", true);
    m["Greater"] = broadcasting("Greater", true);
    m["LessEqual"] = broadcasting("LessOrEqual", true);
    m["GreaterEqual"] = broadcasting("GreaterOrEqual", true);
    m["LogicalAnd"] = broadcasting("And", true);
    m["LogicalOr"] = broadcasting("Or", true);
    m["Select"] = [](Ctx& c) {
      c.node("Where", {c.in(0), c.in(1), c.in(2)}, {c.out(0)});
      const Shape xy = broadcast_shapes("Where", c.shape(1), c.shape(2));
      c.declare_out(0, {broadcast_shapes("Where", c.shape(0), xy), c.dtype(1)});
    };
    m["Square"] = composed([](Ctx& c, const std::string& x, const OutputSpec& s) { return c.unary("Mul", {x, x}, s); });
    m["Rsqrt"] = composed([](Ctx& c, const std::string& x, const OutputSpec& s) {
      return c.unary("Reciprocal", {c.unary("Sqrt", {x}, s)}, s);
    });
    m["Log1p"] = composed([](Ctx& c, const std::string& x, const OutputSpec& s) {
      return c.unary("Log", {c.unary("Add", {x, c.scalar(1.0, s.dtype)}, s)}, s);
    });
    m["Expm1"] = composed([](Ctx& c, const std::string& x, const OutputSpec& s) {
      return c.unary("Sub", {c.unary("Exp", {x}, s), c.scalar(1.0, s.dtype)}, s);
    });
    m["Silu"] = composed([](Ctx& c, const std::string& x, const OutputSpec& s) {
      return c.unary("Mul", {x, c.unary("Sigmoid", {x}, s)}, s);
    });
    m["Relu6"] = composed([](Ctx& c, const std::string& x, const OutputSpec& s) {
      return c.unary("Clip", {x, c.scalar(0.0, s.dtype), c.scalar(6.0, s.dtype)}, s);
    });
    m["ClipByValue"] = composed([](Ctx& c, const std::string& x, const OutputSpec& s) {
      return c.unary("Clip", {x, c.scalar(c.f("clip_value_min"), s.dtype), c.scalar(c.f("clip_value_max"), s.dtype)}, s);
    });
    m["LeakyRelu"] = composed([](Ctx& c, const std::string& x, const OutputSpec& s) {
      ::onnx::NodeProto* n = nullptr;
      std::string y = c.unary("LeakyRelu", {x}, s, &n);
      Ctx::set(*n, "alpha", c.f("alpha"));
      return y;
    });
    m["Elu"] = same_name("Elu");
    m["Gelu"] = gelu;
    m["Reshape"] = reshape;
    m["Squeeze"] = squeeze;
    m["ExpandDims"] = expand_dims;
    m["Transpose"] = transpose;
    m["Slice"] = slice;
    m["ConcatV2"] = concat;
    m["Pack"] = pack;
    m["Split"] = split;
    m["GatherV2"] = gather;
    m["Cast"] = cast;
    m["Tile"] = tile;
    m["BroadcastTo"] = broadcast_to;
    m["Pad"] = m["PadV2"] = m["MirrorPad"] = pad;
    m["MatrixBandPart"] = band_part;
    m["Sum"] = [](Ctx& c) { reduce(c, "ReduceSum"); };
    m["Mean"] = [](Ctx& c) { reduce(c, "ReduceMean"); };
    m["Max"] = [](Ctx& c) { reduce(c, "ReduceMax"); };
    m["ArgMax"] = [](Ctx& c) { arg_reduce(c, "ArgMax"); };
    m["ArgMin"] = [](Ctx& c) { arg_reduce(c, "ArgMin"); };
    m["MatMul"] = m["BatchMatMulV2"] = matmul;
    m["_FusedMatMul"] = fused_matmul;
    m["BiasAdd"] = bias_add;
    m["Conv2D"] = m["_FusedConv2D"] = conv2d;
    m["MaxPool"] = [](Ctx& c) { pool(c, "MaxPool"); };
    m["AvgPool"] = [](Ctx& c) { pool(c, "AveragePool"); };
    m["LRN"] = lrn;
    m["FusedBatchNorm"] = m["FusedBatchNormV3"] = batch_norm;
    m["LayerNorm"] = layer_norm;
    m["Softmax"] = [](Ctx& c) { softmax(c, "Softmax"); };
    m["LogSoftmax"] = [](Ctx& c) { softmax(c, "LogSoftmax"); };
    m["ScaledDotProductAttention"] = attention;
    m["LSTMStep"] = lstm_step;
    m["LSTMSequence"] = lstm_sequence;
    m["GRUStep"] = gru_step;
    m["GRUSequence"] = gru_sequence;
    return m;
  }();
  return t;
}

}  // namespace

::onnx::TensorProto_DataType onnx_type(DType dtype, const std::string& who) {
  switch (dtype) {
    case DType::Float32: return ::onnx::TensorProto::FLOAT;
    case DType::Float64: return ::onnx::TensorProto::DOUBLE;
    case DType::Int32: return ::onnx::TensorProto::INT32;
    case DType::Int64: return ::onnx::TensorProto::INT64;
    case DType::UInt8: return ::onnx::TensorProto::UINT8;
    case DType::Bool: return ::onnx::TensorProto::BOOL;
  }
  throw ValueError(fmt::format("{}: dtype {} has no ONNX type", who, dtype_name(dtype)));
}

std::string Emitter::fresh(const std::string& base) {
  std::string name = base;
  int& next = next_[base];
  while (taken_.count(name)) name = fmt::format("{}_{}", base, ++next);
  taken_.insert(name);
  return name;
}

const OutputSpec& Emitter::spec(const std::string& name) const {
  auto it = specs_.find(name);
  if (it == specs_.end()) throw Error(fmt::format("onnx export: the value '{}' was used before it was made", name));
  return it->second;
}

const Tensor* Emitter::constant(const std::string& name) const {
  auto it = constants_.find(name);
  return it == constants_.end() ? nullptr : &it->second;
}

std::string Emitter::initializer(const std::string& name, const Tensor& value) {
  const std::string n = fresh(name);
  ::onnx::TensorProto* t = graph_.add_initializer();
  t->set_name(n);
  t->set_data_type(onnx_type(value.dtype(), n));
  for (std::int64_t d : value.shape()) t->add_dims(d);
  t->set_raw_data(std::string(static_cast<const char*>(value.raw_data()), value.nbytes()));  // little-endian
  declare(n, {value.shape(), value.dtype()});
  constants_[n] = value;
  return n;
}

std::string Emitter::int64s(const std::string& name, const std::vector<std::int64_t>& values) {
  Tensor t = Tensor::empty(Shape{static_cast<std::int64_t>(values.size())}, DType::Int64);
  std::copy(values.begin(), values.end(), t.data<std::int64_t>());
  return initializer(name, t);
}

std::string Emitter::scalar(const std::string& name, double value, DType dtype) {
  return initializer(name, full(Shape{}, value, dtype));
}

::onnx::NodeProto& Emitter::node(const std::string& op_type, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outputs, const std::string& name) {
  ::onnx::NodeProto* n = graph_.add_node();
  n->set_op_type(op_type);
  n->set_name(fresh(name));
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) {
    n->add_output(o);
    taken_.insert(o);
  }
  return *n;
}

void Emitter::alias(const std::string& name, const std::string& of) {
  if (name == of) return;
  node("Identity", {of}, {name}, name);
  declare(name, spec(of));
  if (const Tensor* t = constant(of)) constants_[name] = *t;
}

bool Emitter::maps(const std::string& type) { return table().count(type) != 0; }

void Emitter::convert(const Op& op) {
  auto it = table().find(op.type);
  if (it == table().end())
    throw ValueError(fmt::format("{}: tapeflow has no ONNX form for {} ops (docs/onnx.md lists the ops that export); "
                                 "leave it out of the exported computation, or write it with ops that export",
                                 op.where, op.type));
  Ctx c(*this, op);
  it->second(c);
}

}  // namespace tapeflow::onnx::detail
