#pragma once
/// Element types. float32 is the default everywhere; float64 is for gradient checks;
/// int32/int64 hold labels and indices; uint8 raw images; bool comparison results.
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string_view>

namespace tapeflow {

enum class DType : std::uint8_t { Float32, Float64, Int32, Int64, UInt8, Bool };

inline constexpr DType float32 = DType::Float32;
inline constexpr DType float64 = DType::Float64;
inline constexpr DType int32 = DType::Int32;
inline constexpr DType int64 = DType::Int64;
inline constexpr DType uint8 = DType::UInt8;
inline constexpr DType bool_ = DType::Bool;

/// "float32", "int64", ... (numpy's names).
std::string_view dtype_name(DType dt);
/// Bytes per element.
std::size_t dtype_size(DType dt);
std::ostream& operator<<(std::ostream& os, DType dt);
inline bool is_floating(DType dt) { return dt == DType::Float32 || dt == DType::Float64; }

/// The DType of a C++ element type: dtype_of<float> == float32.
template <class T> struct dtype_of_t;
template <> struct dtype_of_t<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of_t<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of_t<std::int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of_t<std::int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of_t<std::uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of_t<bool> { static constexpr DType value = DType::Bool; };
template <class T> inline constexpr DType dtype_of = dtype_of_t<T>::value;

}  // namespace tapeflow
