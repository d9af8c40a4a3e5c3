#pragma once
/// Shape and indexing ops (TensorFlow's names and semantics).
#include <array>
#include <cstdint>
#include <string_view>
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
/// tf.unsorted_segment_sum: data's rows summed by segment. segment_ids (int32/int64) has the
/// shape of data's first dimensions; out[s, ...] is the sum of the rows data[i..., ...] whose id
/// segment_ids[i...] is s, zeros where no id is s; a negative id drops its row.
/// Output: [num_segments] + data.shape[segment_ids.rank:]. Ids must be < num_segments.
/// Differentiable in data (the gradient gathers: gather(grad, segment_ids)).
Tensor unsorted_segment_sum(const Tensor& data, const Tensor& segment_ids, std::int64_t num_segments);
/// tf.one_hot: [..., depth] with on_value at indices[...] and off_value elsewhere; out-of-range
/// indices give a row of off_value (as TensorFlow).
Tensor one_hot(const Tensor& indices, std::int64_t depth, double on_value = 1.0, double off_value = 0.0,
               DType dtype = float32);
/// tf.tile: repeats x `multiples[i]` times along dim i.
Tensor tile(const Tensor& x, const std::vector<std::int64_t>& multiples);
/// x broadcast to `shape` (numpy rules).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

/// One {before, after} pair per dimension: pad's amounts, `{{1, 1}, {0, 2}}`.
using Paddings = std::vector<std::array<std::int64_t, 2>>;
/// tf.pad: x [d0, d1, ...] grown to [b0 + d0 + a0, b1 + d1 + a1, ...] by paddings {{b0, a0}, ...}
/// (all >= 0). `mode` (in any case):
/// - "CONSTANT": the new elements are constant_values (converted to x's dtype);
/// - "REFLECT": they mirror x without repeating its edge: [1,2,3] padded {2, 2} is
///   [3,2,1,2,3,2,1]; at most size - 1 on each side of a dimension;
/// - "SYMMETRIC": they mirror x with its edge: [1,2,3] padded {2, 2} is [2,1,1,2,3,3,2]; at most
///   size on each side.
/// Any dtype; differentiable in x (the padding's gradient is added back into what it mirrors).
Tensor pad(const Tensor& x, const Paddings& paddings, std::string_view mode = "CONSTANT", double constant_values = 0);

}  // namespace tapeflow
