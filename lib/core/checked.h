#pragma once
// Internal: element counts and byte sizes with overflow checks, in one place. Shape::numel, the
// allocator (Tensor::empty) and every file reader (IDX, safetensors, event files) compute sizes
// through these, so that no header can talk tapeflow into a wrapped-around count, an allocation
// or a view larger than its file justifies.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tapeflow/dtype.h"
#include "tapeflow/shape.h"

namespace tapeflow::detail {

/// The largest size in bytes tapeflow allocates or views: 2^62, far beyond any memory, and small
/// enough that sizes and byte offsets never overflow int64 or size_t.
inline constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 62;

/// a * b for a, b >= 0; nullopt when the product exceeds int64.
inline std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// a + b for a, b >= 0; nullopt when the sum exceeds int64.
inline std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// The element count of known dimensions (each >= 0); nullopt when it exceeds int64.
std::optional<std::int64_t> element_count(std::span<const std::int64_t> dims);

/// numel * dtype_size for a known shape; nullopt when the count or the bytes exceed kMaxBytes.
std::optional<std::uint64_t> byte_size(const Shape& shape, DType dtype);

}  // namespace tapeflow::detail
