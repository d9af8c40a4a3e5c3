#include "tapeflow/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <new>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "core/checked.h"
#include "core/paths.h"

namespace tapeflow::data {

namespace {

struct IdxType {
  std::uint8_t code;
  std::string_view name;  // the IDX name of the element type
  std::size_t size;       // bytes per element in the file
  DType dtype;            // what it is read as
};

constexpr IdxType kIdxTypes[] = {
    {0x08, "uint8", 1, DType::UInt8},   {0x09, "int8", 1, DType::Int32},     {0x0B, "int16", 2, DType::Int32},
    {0x0C, "int32", 4, DType::Int32},   {0x0D, "float32", 4, DType::Float32}, {0x0E, "float64", 8, DType::Float64},
};

const IdxType* find_type(std::uint8_t code) {
  for (const IdxType& t : kIdxTypes)
    if (t.code == code) return &t;
  return nullptr;
}

/// A gzFile (gzip or plain, zlib decides) that closes itself; reads report what they got and turn
/// zlib's errors into IOErrors naming the file.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    // zlib would open the path cut at the NUL: another file, or a directory.
    detail::check_no_nul("read_idx", "open", path);
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) {
      std::string why = errno != 0 ? std::generic_category().message(errno) : "out of memory";
      throw IOError(fmt::format("read_idx: {}: cannot open the file: {}", path, why));
    }
  }
  ~Reader() { gzclose(file_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  /// Reads up to n bytes into dst; returns how many were read (fewer only at the end of the data).
  std::size_t read(void* dst, std::size_t n) {
    auto* p = static_cast<unsigned char*>(dst);
    std::size_t got = 0;
    while (got < n) {
      auto chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, std::size_t{1} << 30));
      z_off_t before = gztell(file_);
      int k = gzread(file_, p + got, chunk);
      if (k < 0) {
        int errnum = Z_OK;
        std::string_view msg = gzerror(file_, &errnum);
        if (msg.starts_with(path_ + ": ")) msg.remove_prefix(path_.size() + 2);  // zlib prefixes the path
        // gzread drops the count of a read that fails midway; gztell still knows it.
        std::size_t total = position_ + got + static_cast<std::size_t>(std::max<z_off_t>(gztell(file_) - before, 0));
        if (errnum == Z_ERRNO)
          throw IOError(fmt::format("read_idx: {}: read error after {} bytes: {}", path_, total, msg));
        throw IOError(fmt::format("read_idx: {}: corrupt gzip stream after {} bytes of data: {}; the file is "
                                  "damaged, get a fresh copy",
                                  path_, total, msg));
      }
      if (k == 0) break;
      got += static_cast<std::size_t>(k);
    }
    position_ += got;
    return got;
  }

  /// True when the last short read was a gzip stream that ended early (zlib's Z_BUF_ERROR).
  bool stream_cut_short() {
    int errnum = Z_OK;
    gzerror(file_, &errnum);
    return errnum == Z_BUF_ERROR;
  }

  /// Appended to "truncated" messages so that a cut-off .gz is told apart from a short plain file.
  std::string cut_note() { return stream_cut_short() ? " (the gzip stream ends early)" : ""; }

  bool is_plain() { return gzdirect(file_) == 1; }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  std::size_t position_ = 0;
};

std::string hex_bytes(const unsigned char* b, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += fmt::format("{}{:02x}", i == 0 ? "" : " ", b[i]);
  return s;
}

template <class U>
void byteswap_in_place(void* data, std::int64_t n) {
  auto* p = static_cast<U*>(data);
  for (std::int64_t i = 0; i < n; ++i) {
    if constexpr (sizeof(U) == 2) p[i] = __builtin_bswap16(p[i]);
    if constexpr (sizeof(U) == 4) p[i] = __builtin_bswap32(p[i]);
    if constexpr (sizeof(U) == 8) p[i] = __builtin_bswap64(p[i]);
  }
}

/// Turns the raw big-endian elements at the start of `t`'s buffer into host values of t's dtype.
void decode(const IdxType& type, Tensor& t) {
  constexpr bool little = std::endian::native == std::endian::little;
  const std::int64_t n = t.numel();
  void* raw = t.raw_data();
  switch (type.code) {
    case 0x08: break;
    case 0x09: {  // int8 -> int32, widened in place from the back: element i only overwrites bytes
                  // of elements >= i, which are already converted.
      const auto* src = static_cast<const std::int8_t*>(raw);
      auto* dst = static_cast<std::int32_t*>(raw);
      for (std::int64_t i = n - 1; i >= 0; --i) dst[i] = src[i];
      break;
    }
    case 0x0B: {  // int16 -> int32, same in-place widening
      auto* src = static_cast<std::uint16_t*>(raw);
      auto* dst = static_cast<std::int32_t*>(raw);
      for (std::int64_t i = n - 1; i >= 0; --i) {
        std::uint16_t v = src[i];
        if constexpr (little) v = __builtin_bswap16(v);
        dst[i] = static_cast<std::int16_t>(v);
      }
      break;
    }
    case 0x0C:
    case 0x0D:
      if constexpr (little) byteswap_in_place<std::uint32_t>(raw, n);
      break;
    case 0x0E:
      if constexpr (little) byteswap_in_place<std::uint64_t>(raw, n);
      break;
  }
}

}  // namespace

Tensor read_idx(const std::string& path) {
  Reader in(path);

  // Magic number: 00 00 <type> <rank>.
  unsigned char magic[4];
  std::size_t got = in.read(magic, 4);
  if (got < 4)
    throw IOError(fmt::format("read_idx: {}: truncated: expected a 4-byte IDX magic number, got {} bytes{}", path,
                              got, in.cut_note()));
  if (magic[0] != 0 || magic[1] != 0)
    throw IOError(fmt::format("read_idx: {}: not an IDX file: expected a magic number starting with bytes 00 00, "
                              "found {}",
                              path, hex_bytes(magic, 4)));
  const IdxType* type = find_type(magic[2]);
  if (!type)
    throw IOError(fmt::format("read_idx: {}: unknown IDX data type 0x{:02X} in magic number {}: expected 0x08 (uint8), "
                              "0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D (float32) or 0x0E (float64)",
                              path, magic[2], hex_bytes(magic, 4)));
  const int rank = magic[3];
  if (rank > Shape::kMaxRank)
    throw IOError(fmt::format("read_idx: {}: the IDX header declares {} dimensions; tapeflow tensors have at most {}",
                              path, rank, Shape::kMaxRank));

  // Dimensions: rank big-endian uint32.
  unsigned char dim_bytes[4 * Shape::kMaxRank];
  const std::size_t dims_size = 4 * static_cast<std::size_t>(rank);
  got = in.read(dim_bytes, dims_size);
  if (got < dims_size)
    throw IOError(fmt::format("read_idx: {}: truncated: expected {} dimensions ({} bytes) after the magic number, "
                              "got {} bytes{}",
                              path, rank, dims_size, got, in.cut_note()));
  Shape shape;
  for (int i = 0; i < rank; ++i) {
    const unsigned char* b = dim_bytes + 4 * i;
    shape.push_back((std::int64_t{b[0]} << 24) | (std::int64_t{b[1]} << 16) | (std::int64_t{b[2]} << 8) | b[3]);
  }
  const std::string desc = fmt::format("{} {}", shape.str(), type->name);
  // The tensor's bytes (its dtype is at least as wide as the file's elements) bound the data's.
  const std::optional<std::uint64_t> tensor_size = detail::byte_size(shape, type->dtype);
  if (!tensor_size)
    throw IOError(fmt::format("read_idx: {}: the IDX header declares {}, more elements than can be held; the header "
                              "is corrupt",
                              path, desc));
  const std::uint64_t data_size = static_cast<std::uint64_t>(shape.numel()) * type->size;
  const std::uint64_t header_size = 4 + dims_size;
  auto allocate = [&] {
    try {
      return Tensor::empty(shape, type->dtype);
    } catch (const MemoryError&) {
      throw IOError(fmt::format("read_idx: {}: cannot allocate {} bytes for the {} the IDX header declares; is the "
                                "header corrupt?",
                                path, *tensor_size, desc));
    }
  };
  auto truncated = [&](std::uint64_t arrived) {
    return IOError(fmt::format("read_idx: {}: truncated: expected {} bytes of data ({}), got {}{}", path, data_size,
                               desc, arrived, in.cut_note()));
  };

  // The data is read together with one byte more, into room for it. That read runs past the end
  // of the data, so zlib goes on to check the gzip trailer (CRC-32 and length) and notices a
  // stream cut off inside it; a byte that arrives means the file is too long. (A read that ends
  // exactly at the end of the output lets zlib stop before the trailer.)
  Tensor t;
  got = 0;
  if (in.is_plain()) {
    // A plain file's size is known: check it before allocating what a corrupt header may claim.
    std::error_code ec;
    std::uintmax_t file_size = std::filesystem::file_size(path, ec);
    if (!ec && file_size < header_size + data_size)
      throw IOError(fmt::format("read_idx: {}: truncated: expected {} bytes of data ({}), got {}", path, data_size,
                                desc, file_size - header_size));
    t = allocate();
    // Only the last part of the data goes through a separate buffer with room for the extra byte.
    auto* raw = static_cast<unsigned char*>(t.raw_data());
    const std::size_t tail = std::min<std::size_t>(data_size, std::size_t{1} << 16);
    std::vector<unsigned char> last(tail + 1);
    got = in.read(raw, data_size - tail);
    if (got == data_size - tail) got += in.read(last.data(), tail + 1);
    if (got < data_size) throw truncated(got);
    if (got == data_size) std::memcpy(raw + (data_size - tail), last.data(), tail);
  } else {
    // A gzip stream's length is known only once it is inflated, and the header may claim
    // gigabytes. So the data arrives in chunks (1 MiB, doubling up to 64 MiB: each one after the
    // first no larger than what already arrived) and the tensor is allocated once all of it is there:
    // memory never exceeds about twice the data that actually arrives. (Bounding the claim by
    // deflate's maximum ratio, 1032:1, would still let a 30 MB file claim 30 GB.)
    std::vector<std::vector<unsigned char>> chunks;
    std::size_t next = std::size_t{1} << 20;
    while (got < data_size + 1) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(next, data_size + 1 - got));
      chunks.emplace_back(n);
      const std::size_t k = in.read(chunks.back().data(), n);
      chunks.back().resize(k);
      got += k;
      if (k < n) break;
      next = std::min(next * 2, std::size_t{1} << 26);
    }
    if (got < data_size) throw truncated(got);
    if (got == data_size) {
      t = allocate();
      auto* raw = static_cast<unsigned char*>(t.raw_data());
      for (auto& chunk : chunks) {
        std::memcpy(raw, chunk.data(), chunk.size());
        raw += chunk.size();
        chunk = {};
      }
    }
  }
  if (got > data_size)
    throw IOError(fmt::format("read_idx: {}: corrupt: found more bytes after the {} bytes of data ({}) that the "
                              "header declares; the file should end there",
                              path, data_size, desc));
  if (in.stream_cut_short())
    throw IOError(fmt::format("read_idx: {}: truncated: the gzip stream ends before its 8-byte trailer is complete "
                              "(after all {} bytes of data ({})), so the data cannot be checked; get a fresh copy",
                              path, data_size, desc));

  decode(*type, t);
  return t;
}

}  // namespace tapeflow::data
