#pragma once
/// TFRecord framing, the container of TensorBoard event files (and of TensorFlow's .tfrecord
/// files). Each record is, all little-endian:
///
///   uint64 length | uint32 masked_crc32c(the 8 length bytes) | data[length] | uint32 masked_crc32c(data)
///
/// CRC32C is the Castagnoli CRC (reflected polynomial 0x82F63B78, initial value and final xor
/// 0xFFFFFFFF); the mask rotates it right by 15 bits and adds 0xA282EAD8, as TensorFlow does.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tapeflow::summary {

/// CRC32C of `data`: crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(std::string_view data);
/// Continues a CRC32C: crc32c_extend(crc32c(a), b) == crc32c(a + b).
std::uint32_t crc32c_extend(std::uint32_t crc, std::string_view data);
/// TensorFlow's masked CRC: ((crc >> 15) | (crc << 17)) + 0xA282EAD8 (mod 2^32).
std::uint32_t mask_crc(std::uint32_t crc);
/// Inverse of mask_crc.
std::uint32_t unmask_crc(std::uint32_t masked);
/// mask_crc(crc32c(data)).
std::uint32_t masked_crc32c(std::string_view data);

/// One whole framed record holding `data` (length + its CRC, data, data CRC: 16 bytes + data).
std::string frame_record(std::string_view data);

/// The data of every record of the TFRecord file at `path`, in order. Checks both CRCs of each
/// record. IOError naming the file and the record's byte offset when the file cannot be read,
/// a CRC does not match, or the file ends inside a record (a truncated or partly written file).
std::vector<std::string> read_records(const std::string& path);

}  // namespace tapeflow::summary
