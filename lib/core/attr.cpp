#include "tapeflow/attr.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tapeflow {

std::string attr_text(const AttrValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<V, DType>) return std::string(dtype_name(v));
        else if constexpr (std::is_same_v<V, std::string>) return v;
        else if constexpr (std::is_same_v<V, Shape>) return v.str();
        else if constexpr (std::is_same_v<V, std::vector<std::int64_t>> || std::is_same_v<V, std::vector<std::string>>)
          return fmt::format("[{}]", fmt::join(v, ","));
        else return fmt::format("{}", v);
      },
      value);
}

}  // namespace tapeflow
