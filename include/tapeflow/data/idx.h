#pragma once
/// The IDX file format of MNIST (http://yann.lecun.com/exdb/mnist/), read into a Tensor.
///
/// An IDX file is a 4-byte magic number `00 00 <type> <rank>`, then `rank` big-endian uint32
/// dimensions, then the elements in row-major order, big-endian. Files compressed with gzip
/// (`.gz`) are read transparently through zlib; plain files work too, whatever their name.
///
/// IDX types and the tapeflow dtype they are read as (tapeflow has no 8- or 16-bit signed types,
/// so int8 and int16 are widened to int32):
///
///   | code | IDX type | tapeflow dtype |
///   |------|----------|----------------|
///   | 0x08 | uint8    | uint8          |
///   | 0x09 | int8     | int32          |
///   | 0x0B | int16    | int32          |
///   | 0x0C | int32    | int32          |
///   | 0x0D | float32  | float32        |
///   | 0x0E | float64  | float64        |
#include <string>

#include "tapeflow/tensor.h"

namespace tapeflow::data {

/// Reads the IDX file at `path` (gzip-compressed or plain) into a tensor of the file's shape
/// (rank 0 to Shape::kMaxRank) and the dtype in the table above.
///
/// Throws IOError, naming the file, what was expected and what was found, when the file cannot be
/// opened, has a wrong magic number or unknown type code, is truncated ("truncated: expected
/// 47040000 bytes of data ([60000,28,28] uint8), got 1000"), has bytes after the declared data,
/// or is a corrupt gzip stream.
Tensor read_idx(const std::string& path);

}  // namespace tapeflow::data
