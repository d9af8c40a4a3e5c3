// The door's non-template half: input checks, the graph builder hook, error decoration.
#include "autograd/door.h"


#include <fmt/format.h>

namespace tapeflow::autograd {

AttrValue Attr::value() const {
  return std::visit(
      [](const auto& v) -> AttrValue {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string_view>) return std::string(v);
        else if constexpr (std::is_same_v<V, std::span<const std::int64_t>>) return std::vector<std::int64_t>(v.begin(), v.end());
        else if constexpr (std::is_same_v<V, std::span<const int>>) return std::vector<std::int64_t>(v.begin(), v.end());
        else if constexpr (std::is_same_v<V, std::span<const char* const>>) return std::vector<std::string>(v.begin(), v.end());
        else if constexpr (std::is_same_v<V, const Shape*>) return *v;
        else return v;
      },
      value_);
}

namespace {

GraphBuilder builder{nullptr, nullptr};

std::string input_label(const OpDef& def, std::size_t i) {
  if (def.input_names) {
    std::string_view names(def.input_names);
    for (std::size_t k = 0; k < i && !names.empty(); ++k) {
      auto comma = names.find(',');
      names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
    }
    if (!names.empty()) return std::string(names.substr(0, names.find(',')));
  }
  return fmt::format("input {}", i);
}

bool in_set(DTypes set, DType dt) {
  switch (set) {
    case DTypes::Any: return true;
    case DTypes::Numeric: return dt != DType::Bool;
    case DTypes::Floating: return is_floating(dt);
  }
  return false;
}

std::string describe(const Tensor& t) { return fmt::format("{} {}", dtype_name(t.dtype()), t.shape().str()); }

[[noreturn]] void bad_t(const OpDef& def, const Tensor& t) {
  if (def.t == DTypes::Floating)
    throw DTypeError(fmt::format("{}: expected a float32 or float64 tensor, got {}; cast it first (cast(x, float32))",
                                 def.name, describe(t)));
  throw DTypeError(fmt::format("{}: expected a numeric tensor, got {}; cast it first (cast(x, float32))", def.name,
                               describe(t)));
}

[[noreturn]] void bad_own(const OpDef& def, std::size_t i, const Tensor& t, const char* wanted) {
  throw DTypeError(fmt::format("{}: {} must be {}, got {}", def.name, input_label(def, i), wanted, describe(t)));
}

}  // namespace

void install_graph_builder(GraphBuilder b) { builder = b; }

thread_local constinit Tracer* active_tracer = nullptr;

namespace door {

void check_inputs(const OpDef& def, Args in) {
  const Tensor* first_t = nullptr;
  std::size_t first_index = 0;
  const char* sig = def.signature;  // one letter per input, the last one repeated
  for (std::size_t i = 0; i < in.size(); ++i, sig += sig[1] != '\0') {
    const Tensor& t = in[i];
    const char r = *sig;
    if (!t.defined()) {
      if (r == 't' || r == 'o') continue;
      throw ValueError(in.size() == 1 ? fmt::format("{}: got an undefined tensor", def.name)
                                      : fmt::format("{}: {} is an undefined tensor", def.name, input_label(def, i)));
    }
    const DType dt = t.dtype();
    switch (r) {
      case 'T':
      case 't':
        if (!first_t) {
          if (!in_set(def.t, dt)) bad_t(def, t);
          first_t = &t;
          first_index = i;
        } else if (dt != first_t->dtype()) {
          if (in.size() == 2)
            throw DTypeError(fmt::format("{}: both operands must have one dtype, got {} and {}; cast one of them "
                                         "(cast(x, {}))",
                                         def.name, describe(*first_t), describe(t), dtype_name(first_t->dtype())));
          throw DTypeError(fmt::format("{}: {} is {} but {} is {}; they must have one dtype (cast({}, {}))", def.name,
                                       input_label(def, i), describe(t), input_label(def, first_index),
                                       describe(*first_t), input_label(def, i), dtype_name(first_t->dtype())));
        }
        break;
      case 'i':
        if (dt != DType::Int32 && dt != DType::Int64) bad_own(def, i, t, "int32 or int64");
        break;
      case 'u':
        if (dt != DType::Int32 && dt != DType::Int64 && dt != DType::UInt8) bad_own(def, i, t, "int32, int64 or uint8");
        break;
      case 'b':
        if (dt != DType::Bool) bad_own(def, i, t, "bool");
        break;
      default:  // 'a', 'o'
        break;
    }
  }
}

void rethrow_building(const OpDef& def, Args in) {
  const std::string hint = builder.describe ? builder.describe(def, in) : std::string();
  try {
    throw;
  } catch (const ShapeError& e) {
    throw ShapeError(e.what() + hint);
  } catch (const DTypeError& e) {
    throw DTypeError(e.what() + hint);
  } catch (const ValueError& e) {
    throw ValueError(e.what() + hint);
  } catch (const AutogradError& e) {
    throw AutogradError(e.what() + hint);
  } catch (const IOError& e) {
    throw IOError(e.what() + hint);
  } catch (const MemoryError& e) {
    throw MemoryError(e.what() + hint);
  } catch (const Error& e) {
    throw Error(e.what() + hint);
  }
}

std::vector<Tensor> build_node(NodeRequest& request) {
  if (!builder.build)
    throw Error(fmt::format("{}: an input is a graph tensor, but graph mode is not linked in (link tapeflow's "
                            "graph layer)",
                            request.def.name));
  return builder.build(request);
}

}  // namespace door

}  // namespace tapeflow::autograd
