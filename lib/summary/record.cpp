// CRC32C (Castagnoli), TensorFlow's masked CRC and TFRecord framing and reading.
#include "tapeflow/summary/record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "tapeflow/error.h"

#include "core/paths.h"

namespace tapeflow::summary {

namespace {

// The byte-at-a-time table of the reflected polynomial 0x82F63B78.
constexpr std::array<std::uint32_t, 256> make_crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrc32cTable = make_crc32c_table();

constexpr std::uint32_t kMaskDelta = 0xA282EAD8u;

void put_le32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

void put_le64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, std::string_view data) {
  std::uint32_t c = ~crc;
  for (char ch : data) c = kCrc32cTable[(c ^ static_cast<unsigned char>(ch)) & 0xFFu] ^ (c >> 8);
  return ~c;
}

std::uint32_t crc32c(std::string_view data) { return crc32c_extend(0, data); }

std::uint32_t mask_crc(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }

std::uint32_t unmask_crc(std::uint32_t masked) {
  const std::uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

std::uint32_t masked_crc32c(std::string_view data) { return mask_crc(crc32c(data)); }

std::string frame_record(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  put_le64(out, data.size());
  put_le32(out, masked_crc32c(out));
  out.append(data);
  put_le32(out, masked_crc32c(data));
  return out;
}

namespace {

// The whole file, or an IOError naming it and what is wrong (std::ifstream would open a directory
// and then throw std::ios_base::failure, without the path, from its first read).
std::string read_file(const std::string& path) {
  detail::check_no_nul("read_records", "open", path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IOError(fmt::format("read_records: cannot open '{}': {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw IOError(fmt::format("read_records: cannot read '{}': it is a directory, not an event or record file", path));
  }
  std::string bytes;
  std::string chunk(std::size_t{1} << 16, '\0');
  for (;;) {
    ssize_t r = ::read(fd, chunk.data(), chunk.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      throw IOError(fmt::format("read_records: error while reading '{}' after {} bytes: {}", path, bytes.size(), why));
    }
    if (r == 0) break;
    bytes.append(chunk.data(), static_cast<std::size_t>(r));
  }
  ::close(fd);
  return bytes;
}

}  // namespace

std::vector<std::string> read_records(const std::string& path) {
  const std::string bytes = read_file(path);

  std::vector<std::string> records;
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    const std::size_t left = bytes.size() - offset;
    const char* p = bytes.data() + offset;
    if (left < 12)
      throw IOError(fmt::format("read_records: '{}' is truncated: record {} at byte offset {} has only {} of its 12 "
                                "header bytes (the file ends inside a record; it may still be being written)",
                                path, records.size(), offset, left));
    const std::uint64_t length = get_le(p, 8);
    const std::uint32_t length_crc = static_cast<std::uint32_t>(get_le(p + 8, 4));
    if (length_crc != masked_crc32c(std::string_view(p, 8)))
      throw IOError(fmt::format("read_records: '{}' is corrupt: record {} at byte offset {} has a bad length CRC "
                                "(stored {:#010x}, computed {:#010x})",
                                path, records.size(), offset, length_crc, masked_crc32c(std::string_view(p, 8))));
    if (length > left - 12 || left - 12 - length < 4)
      throw IOError(fmt::format("read_records: '{}' is truncated: record {} at byte offset {} holds {} bytes of data, "
                                "but only {} bytes follow its header (the file ends inside a record; it may still be "
                                "being written)",
                                path, records.size(), offset, length, left - 12));
    const std::string_view data(p + 12, static_cast<std::size_t>(length));
    const std::uint32_t data_crc = static_cast<std::uint32_t>(get_le(p + 12 + length, 4));
    if (data_crc != masked_crc32c(data))
      throw IOError(fmt::format("read_records: '{}' is corrupt: record {} at byte offset {} ({} bytes of data) has a "
                                "bad data CRC (stored {:#010x}, computed {:#010x})",
                                path, records.size(), offset, length, data_crc, masked_crc32c(data)));
    records.emplace_back(data);
    offset += 16 + static_cast<std::size_t>(length);
  }
  return records;
}

}  // namespace tapeflow::summary
