#pragma once
/// Eigen views of tensors, for users who want to work with Eigen directly. This is the only
/// public header that includes Eigen; include it only where you need it.
///
///   auto m = tapeflow::eigen::matrix<float>(t);   // t: float32 [rows, cols]; shares t's data
#include <Eigen/Core>
#include <fmt/format.h>

#include "tapeflow/tensor.h"

namespace tapeflow::eigen {

template <class T>
using RowMajorMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A 2-D tensor as a row-major Eigen matrix map (shares the data).
template <class T>
Eigen::Map<RowMajorMatrix<T>> matrix(Tensor& t) {
  if (t.rank() != 2)
    throw ShapeError(fmt::format("eigen::matrix: needs a 2-D tensor, got shape {}", t.shape().str()));
  return Eigen::Map<RowMajorMatrix<T>>(t.data<T>(), t.dim(0), t.dim(1));
}
template <class T>
Eigen::Map<const RowMajorMatrix<T>> matrix(const Tensor& t) {
  if (t.rank() != 2)
    throw ShapeError(fmt::format("eigen::matrix: needs a 2-D tensor, got shape {}", t.shape().str()));
  return Eigen::Map<const RowMajorMatrix<T>>(t.data<T>(), t.dim(0), t.dim(1));
}

/// All elements of a tensor, in row-major order, as an Eigen array map (shares the data).
template <class T>
Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> array(Tensor& t) {
  return Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(t.data<T>(), t.numel());
}
template <class T>
Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> array(const Tensor& t) {
  return Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(t.data<T>(), t.numel());
}

}  // namespace tapeflow::eigen
