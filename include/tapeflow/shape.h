#pragma once
/// Shape: up to 8 dimensions stored inline (no allocation). A dimension of -1 is unknown
/// (graph mode's `?`); eager tensors always have known dimensions.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

namespace tapeflow {

class Shape {
 public:
  static constexpr int kMaxRank = 8;
  static constexpr std::int64_t kUnknown = -1;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims) : Shape(std::span<const std::int64_t>(dims)) {}

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return dims_[static_cast<std::size_t>(i)]; }
  /// Dimension i, counting from the back when negative (dim(-1) is the last one).
  std::int64_t dim(int i) const;
  /// Product of the dimensions (1 for a scalar). -1 when a dimension is unknown.
  std::int64_t numel() const;
  bool is_fully_known() const;

  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }
  std::vector<std::int64_t> vec() const { return {begin(), end()}; }
  void push_back(std::int64_t d);

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

  /// "[2,3]", "[?,784]", "[]" for a scalar.
  std::string str() const;

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

std::ostream& operator<<(std::ostream& os, const Shape& s);

/// Row-major strides (in elements) of a shape.
std::array<std::int64_t, Shape::kMaxRank> strides_of(const Shape& s);

/// numpy broadcasting of two shapes; throws ShapeError naming `op` and both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

/// An axis in [-rank, rank) normalised to [0, rank); throws ValueError naming `op` otherwise.
int normalize_axis(const char* op, int axis, int rank);

}  // namespace tapeflow
