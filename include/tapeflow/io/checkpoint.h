#pragma once
/// Saving and loading named tensors in the safetensors format, which Python's ecosystem reads
/// (`safetensors.numpy.load_file`, `safetensors.torch.load_file`):
///   8-byte little-endian header length N | N bytes of JSON header | raw little-endian data
/// The header maps each name to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}
/// (offsets into the data area) and may hold "__metadata__" (string to string).
///
/// Files are written to a temporary file next to the target, flushed to disk and renamed over
/// it, so a crash mid-write leaves the previous file intact under the real name. The temporary
/// file a crash leaves behind (".<name>.tmp.<pid>.<n>") is removed by the next save of that name.
///
///   tapeflow::io::save("model.safetensors", net.state_dict());
///   net.load_state_dict(tapeflow::io::load("model.safetensors"));
///
/// save writes in every process that calls it. In a job of N processes (tapeflow/distributed.h)
/// the program decides who writes, at the call: `if (distributed::is_root()) io::save(...)`.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tapeflow/tensor.h"

namespace tapeflow::io {

/// (name, tensor) pairs; names are unique.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// Writes `tensors` (eager, defined, unique non-empty names) and `metadata` to `path`
/// atomically. Throws ValueError for a bad name or tensor, IOError when the file cannot be
/// written.
void save(const std::string& path, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata = {});

/// Reads every tensor of a safetensors file, in the order of their data. Throws IOError naming
/// the file for a missing, unreadable (a directory, a NUL byte in the path), truncated or corrupt
/// file: bad header length, invalid or too deeply nested JSON, unknown dtype, a shape whose size
/// overflows, offsets outside the data or not matching the shape, and, as Python's safetensors,
/// offsets that overlap, leave gaps or do not cover the data exactly.
NamedTensors load(const std::string& path);

/// The "__metadata__" of a safetensors file (empty when it has none). Same errors as load.
std::map<std::string, std::string> load_metadata(const std::string& path);

/// Writes `bytes` to `path` through a temporary file in the same directory, fsync and rename:
/// the file under `path` is always either the old one or the whole new one. IOError on failure.
/// After the rename, removes the stale temporary files of `path` (remove_stale_temp_files).
void write_file_atomically(const std::string& path, std::string_view bytes);

/// Removes the temporary files that write_file_atomically left next to files whose path starts
/// with `path_prefix` ("ckpt/model.ckpt" covers "ckpt/.model.ckpt-100.safetensors.tmp.<pid>.<n>")
/// when their writer is gone: process <pid> is not running (it was killed while saving), or it is
/// this process (a previous one with the same pid) and no save of this process is writing the
/// file. A temporary file of a live process is left alone. Best effort: returns how many it
/// removed and never throws for a file it cannot remove.
int remove_stale_temp_files(const std::string& path_prefix);

/// The bytes of the file at `path`. IOError naming the file and what is wrong: it cannot be
/// opened, it is a directory, the path holds a NUL byte, a read fails.
std::string read_file(const std::string& path);

}  // namespace tapeflow::io
