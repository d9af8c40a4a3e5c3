#include "core/checked.h"

namespace tapeflow::detail {

std::optional<std::int64_t> element_count(std::span<const std::int64_t> dims) {
  for (std::int64_t d : dims)
    if (d == 0) return 0;
  std::int64_t n = 1;
  for (std::int64_t d : dims) {
    auto next = checked_mul(n, d);
    if (!next) return std::nullopt;
    n = *next;
  }
  return n;
}

std::optional<std::uint64_t> byte_size(const Shape& shape, DType dtype) {
  auto n = element_count(std::span<const std::int64_t>(shape.begin(), shape.end()));
  if (!n) return std::nullopt;
  const auto size = static_cast<std::uint64_t>(dtype_size(dtype));
  if (static_cast<std::uint64_t>(*n) > kMaxBytes / size) return std::nullopt;
  return static_cast<std::uint64_t>(*n) * size;
}

}  // namespace tapeflow::detail
