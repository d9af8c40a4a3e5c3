#pragma once
// Internal: dtype dispatch and small helpers shared by the kernels.
#include <cstdint>
#include <utility>

#include <fmt/format.h>

#include "tapeflow/error.h"
#include "tapeflow/tensor.h"

namespace tapeflow::detail {

/// A DTypeError naming `op` unless x is numeric (not bool).
inline void check_numeric(const char* op, const Tensor& x) {
  if (x.dtype() == DType::Bool)
    throw DTypeError(fmt::format("{}: expected a numeric tensor, got bool {}; cast it first (cast(x, float32))", op,
                                 x.shape().str()));
}

/// In-place functions write data, which a graph tensor does not have: a ValueError naming `op`.
inline void check_has_data(const char* op, const Tensor& t) {
  if (t.defined() && t.is_symbolic())
    throw ValueError(fmt::format("{}: '{}' ({} {}) is a graph tensor, which has no data to change in place; in graph "
                                 "mode update a Variable with assign / assign_add / assign_sub",
                                 op, t.name(), dtype_name(t.dtype()), t.shape().str()));
}

/// Calls f.template operator()<T>() with T the C++ type of `dt`.
template <class F>
decltype(auto) visit_dtype(DType dt, F&& f) {
  switch (dt) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::Int32: return f.template operator()<std::int32_t>();
    case DType::Int64: return f.template operator()<std::int64_t>();
    case DType::UInt8: return f.template operator()<std::uint8_t>();
    case DType::Bool: return f.template operator()<bool>();
  }
  throw DTypeError("unknown dtype");
}

/// Same for the floating dtypes only; anything else is a DTypeError naming `op`.
template <class F>
decltype(auto) visit_floating(const char* op, const Tensor& x, F&& f) {
  switch (x.dtype()) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    default:
      throw DTypeError(fmt::format("{}: expected a float32 or float64 tensor, got {} {}; cast it first "
                                   "(cast(x, float32))",
                                   op, dtype_name(x.dtype()), x.shape().str()));
  }
}

/// Numeric dtypes (no bool).
template <class F>
decltype(auto) visit_numeric(const char* op, const Tensor& x, F&& f) {
  check_numeric(op, x);
  return visit_dtype(x.dtype(), std::forward<F>(f));
}

inline void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw DTypeError(fmt::format("{}: both operands must have one dtype, got {} {} and {} {}; cast one of them "
                                 "(cast(x, {}))",
                                 op, dtype_name(a.dtype()), a.shape().str(), dtype_name(b.dtype()),
                                 b.shape().str(), dtype_name(a.dtype())));
}

/// A DTypeError naming `op` unless x is float32 or float64 (for composite functions, which check
/// their inputs before the ops they are made of do).
inline void check_floating(const char* op, const Tensor& x) {
  if (!is_floating(x.dtype()))
    throw DTypeError(fmt::format("{}: expected a float32 or float64 tensor, got {} {}; cast it first "
                                 "(cast(x, float32))",
                                 op, dtype_name(x.dtype()), x.shape().str()));
}

inline void check_defined(const char* op, const Tensor& t) {
  if (!t.defined()) throw ValueError(fmt::format("{}: got an undefined tensor", op));
}

/// Whether two dimensions agree: equal, or either unknown (graph mode's -1), as an op's shape rule
/// checks them.
inline bool dims_match(std::int64_t a, std::int64_t b) { return a == b || a < 0 || b < 0; }

/// Elements above which element-wise loops use OpenMP.
inline constexpr std::int64_t kParallelGrain = 1 << 15;

}  // namespace tapeflow::detail
