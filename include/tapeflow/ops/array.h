#pragma once
/// Shape and indexing ops (TensorFlow's names and semantics).
#include <cstdint>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow {

/// Same data, new shape; one dimension may be -1 (inferred). Shares storage with x.
Tensor reshape(const Tensor& x, const Shape& shape);
/// Permutes dimensions; empty perm reverses them (tf.transpose). Output: x.dims[perm[i]].
Tensor transpose(const Tensor& x, const std::vector<int>& perm = {});
inline Tensor permute(const Tensor& x, const std::vector<int>& perm) { return transpose(x, perm); }
/// Removes size-1 dims (all of them when `axes` is empty).
Tensor squeeze(const Tensor& x, const std::vector<int>& axes = {});
/// Inserts a size-1 dim at `axis` (in [-rank-1, rank]).
Tensor expand_dims(const Tensor& x, int axis);
/// Joins tensors along an existing axis; all other dims must match.
Tensor concat(const std::vector<Tensor>& values, int axis);
/// Joins tensors of equal shape along a new axis.
Tensor stack(const std::vector<Tensor>& values, int axis = 0);
/// Splits into `num_splits` equal parts along `axis`.
std::vector<Tensor> split(const Tensor& x, int num_splits, int axis = 0);
/// Splits into parts of the given sizes along `axis` (one size may be -1).
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes, int axis = 0);
/// tf.slice: `size[i]` elements from `begin[i]` on each dim; size -1 means "to the end".
Tensor slice(const Tensor& x, const std::vector<std::int64_t>& begin, const std::vector<std::int64_t>& size);
/// tf.gather: params' slices at `indices` (int32/int64) along `axis`.
/// Output: params.shape[:axis] + indices.shape + params.shape[axis+1:].
Tensor gather(const Tensor& params, const Tensor& indices, int axis = 0);
/// tf.one_hot: [..., depth] with on_value at indices[...] and off_value elsewhere; out-of-range
/// indices give a row of off_value (as TensorFlow).
Tensor one_hot(const Tensor& indices, std::int64_t depth, double on_value = 1.0, double off_value = 0.0,
               DType dtype = float32);
/// tf.tile: repeats x `multiples[i]` times along dim i.
Tensor tile(const Tensor& x, const std::vector<std::int64_t>& multiples);
/// x broadcast to `shape` (numpy rules).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

}  // namespace tapeflow
