#include "core/paths.h"

#include <fmt/format.h>

#include "tapeflow/error.h"

namespace tapeflow::detail {

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\0')
      out += "\\0";
    else
      out += c;
  }
  return out;
}

void check_no_nul(std::string_view who, std::string_view action, std::string_view path) {
  if (auto at = path.find('\0'); at != std::string_view::npos)
    throw IOError(fmt::format("{}: cannot {} '{}': the path holds a NUL byte (at offset {}); is it from a corrupt "
                              "file?",
                              who, action, printable(path), at));
}

}  // namespace tapeflow::detail
