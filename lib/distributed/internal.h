#pragma once
// Internal: what the distributed sources share (the eager collectives, the optimizers and the
// graph ops).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tapeflow/distributed.h"

namespace tapeflow::distributed::internal {

/// ValueError naming `who` when this process was started by a launcher as one of several
/// processes but init() was not called (each process would silently train alone).
void require_init(const char* who);

/// One tensor as the ranks compare it.
struct Entry {
  std::string name;  // "" when the tensors have no names
  DType dtype;
  Shape shape;
};
/// Collective: checks that every rank passes the same entries as `root` (count, names, dtypes,
/// shapes). On a mismatch every rank throws the same error (ValueError for counts and names,
/// DTypeError, ShapeError) naming `who`, the first differing entry and the two ranks. `root`
/// is called "the root" in the message when is_broadcast.
void check_same_across_ranks(const std::string& who, const std::vector<Entry>& entries, int root = 0,
                             bool is_broadcast = false);
std::vector<Entry> entries_of(const std::vector<Tensor>& tensors);

/// Checks that `op` applies to `tensor`'s dtype (DTypeError naming `who` otherwise).
void check_reduce_dtype(const char* who, const Tensor& tensor, ReduceOp op);

/// Tensors of this many bytes or more are reduced alone, in their own memory, whatever the
/// fusion threshold (unless it is 0: then every tensor is).
inline constexpr std::size_t kAloneBytes = std::size_t{1} << 20;

/// The allreduce of concrete tensors (already checked), packed into fused buffers of at most
/// `fusion_threshold` bytes per dtype, one MPI_Allreduce each; adds the number of MPI calls made
/// to *calls when given. New tensors (not recorded on the tape; copies in a single process), or,
/// with in_place, the given tensors themselves, overwritten.
std::vector<Tensor> fused_allreduce(const std::vector<Tensor>& tensors, ReduceOp op, std::size_t fusion_threshold,
                                    std::int64_t* calls = nullptr, bool in_place = false);

}  // namespace tapeflow::distributed::internal
