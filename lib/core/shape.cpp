#include "tapeflow/shape.h"

#include <ostream>

#include <fmt/format.h>

#include "tapeflow/dtype.h"
#include "core/checked.h"
#include "tapeflow/error.h"

namespace tapeflow {

std::string_view dtype_name(DType dt) {
  switch (dt) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
    case DType::Bool: return "bool";
  }
  return "unknown";
}

std::size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::UInt8: return 1;
    case DType::Bool: return 1;
  }
  return 0;
}

std::ostream& operator<<(std::ostream& os, DType dt) { return os << dtype_name(dt); }
std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

static void check_rank(std::size_t n) {
  if (n > static_cast<std::size_t>(Shape::kMaxRank))
    throw ShapeError(fmt::format("a shape has at most {} dimensions, got {}", Shape::kMaxRank, n));
}

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  check_rank(dims.size());
  for (std::int64_t d : dims) {
    if (d < -1) throw ShapeError(fmt::format("invalid dimension {} in a shape (dimensions are >= 0, or -1 for unknown)", d));
    dims_[static_cast<std::size_t>(rank_++)] = d;
  }
}

std::int64_t Shape::dim(int i) const {
  if (i < -rank_ || i >= rank_)
    throw ValueError(fmt::format("dimension {} is out of range for shape {} of rank {}", i, str(), rank_));
  return dims_[static_cast<std::size_t>(i < 0 ? i + rank_ : i)];
}

std::int64_t Shape::numel() const {
  if (!is_fully_known()) return -1;
  auto n = detail::element_count(std::span<const std::int64_t>(begin(), end()));
  if (!n)
    throw ShapeError(fmt::format("shape {} has more elements than an int64 can count; no tensor can have it",
                                 str()));
  return *n;
}

bool Shape::is_fully_known() const {
  for (int i = 0; i < rank_; ++i)
    if (dims_[static_cast<std::size_t>(i)] < 0) return false;
  return true;
}

void Shape::push_back(std::int64_t d) {
  check_rank(static_cast<std::size_t>(rank_) + 1);
  dims_[static_cast<std::size_t>(rank_++)] = d;
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[static_cast<std::size_t>(i)] != o.dims_[static_cast<std::size_t>(i)]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ',';
    std::int64_t d = dims_[static_cast<std::size_t>(i)];
    s += d < 0 ? std::string("?") : std::to_string(d);
  }
  return s + "]";
}

std::array<std::int64_t, Shape::kMaxRank> strides_of(const Shape& s) {
  std::array<std::int64_t, Shape::kMaxRank> st{};
  std::int64_t acc = 1;
  for (int i = s.rank() - 1; i >= 0; --i) {
    st[static_cast<std::size_t>(i)] = acc;
    acc *= s[i];
  }
  return st;
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  if (a == b) return a;
  int r = std::max(a.rank(), b.rank());
  Shape out;
  for (int i = 0; i < r; ++i) {
    int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    std::int64_t d;
    if (da == db) d = da;
    else if (da == 1) d = db;
    else if (db == 1) d = da;
    else if (da < 0 || db < 0) d = da < 0 ? db : da;  // unknown vs known: the known one
    else
      throw ShapeError(fmt::format("{}: shapes {} and {} cannot be broadcast together (dimension {}: {} vs {}); "
                                   "each dimension must be equal or 1",
                                   op, a.str(), b.str(), i, da, db));
    out.push_back(d);
  }
  return out;
}

int normalize_axis(const char* op, int axis, int rank) {
  if (axis < -rank || axis >= rank)
    throw ValueError(fmt::format("{}: axis {} is out of range for a tensor of rank {} (valid: [{}, {}])", op, axis,
                                 rank, -rank, rank - 1));
  return axis < 0 ? axis + rank : axis;
}

}  // namespace tapeflow
