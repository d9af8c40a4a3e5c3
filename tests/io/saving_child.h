#pragma once
// Shared by tapeflow_saving_child (saving_child.cpp) and the test that kills its savers
// (test_crash_safety.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tft {

/// What tapeflow_saving_child writes to its stdout, one whole message per write (atomic on a pipe).
struct SaverMessage {
  enum Kind : std::int64_t {
    started = 1,  // a = the saving process's pid
    saved = 2,    // a = which save completed, b = how long it took (ns)
    ended = 3,    // a = the saving process's pid, b = its wait status
  };
  std::int64_t kind;
  std::int64_t a;
  std::int64_t b;
};

/// In mode "state", the Linear layer is side x side with side = state_side(ELEMENTS).
inline std::int64_t state_side(std::int64_t elements) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::sqrt(static_cast<double>(elements))));
}

}  // namespace tft
