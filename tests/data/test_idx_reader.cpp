#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "helpers.h"
#include "tapeflow/data/idx.h"

using namespace tapeflow;
namespace fs = std::filesystem;

namespace {

struct TempDir : tft::TempDir {
  TempDir() : tft::TempDir("idx_reader") {}
};

using Bytes = std::vector<unsigned char>;

/// Appends v as n big-endian bytes (written out by hand, independently of the reader).
void put_be(Bytes& b, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) b.push_back(static_cast<unsigned char>((v >> (8 * i)) & 0xff));
}

Bytes idx_header(unsigned char type, const std::vector<std::uint32_t>& dims) {
  Bytes b{0, 0, type, static_cast<unsigned char>(dims.size())};
  for (std::uint32_t d : dims) put_be(b, d, 4);
  return b;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void write_plain(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  BOOST_REQUIRE(f.good());
}

void write_gz(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  BOOST_REQUIRE(f != nullptr);
  if (!b.empty()) BOOST_REQUIRE_EQUAL(gzwrite(f, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size()));
  BOOST_REQUIRE_EQUAL(gzclose(f), Z_OK);
}

Bytes read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// Bytes that deflate cannot shrink much (a linear congruential sequence), so that cutting the
/// compressed file cuts the data.
Bytes noise(std::size_t n) {
  Bytes b(n);
  std::uint32_t x = 12345;
  for (auto& v : b) {
    x = x * 1103515245u + 12345u;
    v = static_cast<unsigned char>(x >> 24);
  }
  return b;
}

/// Writes the file plain and gzip-compressed (also under swapped names: reading never depends on
/// the name) and checks that all four read back with the expected dtype, shape and values.
void check_round_trip(const std::string& stem, const Bytes& file, DType dtype, const Shape& shape,
                      const std::vector<double>& values) {
  TempDir dir;
  const std::string paths[] = {dir.file(stem + ".idx"), dir.file(stem + ".idx.gz"), dir.file(stem + "_plain.gz"),
                               dir.file(stem + "_gzip.idx")};
  write_plain(paths[0], file);
  write_gz(paths[1], file);
  write_plain(paths[2], file);
  write_gz(paths[3], file);
  BOOST_TEST(read_all(paths[1]) != file);  // really compressed
  for (const std::string& p : paths) {
    BOOST_TEST_CONTEXT(p) {
      Tensor t = data::read_idx(p);
      BOOST_TEST(t.dtype() == dtype);
      BOOST_TEST(t.shape() == shape);
      tft::check_close(t, values, 0.0, 0.0);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(idx_reader)

BOOST_AUTO_TEST_CASE(uint8_rank1_and_rank3) {
  check_round_trip("u8", concat(idx_header(0x08, {5}), {0, 1, 127, 128, 255}), uint8, {5}, {0, 1, 127, 128, 255});
  // An MNIST-sized image block: 60 images of 28x28.
  Bytes pixels = noise(60 * 28 * 28);
  std::vector<double> expected(pixels.begin(), pixels.end());
  check_round_trip("images", concat(idx_header(0x08, {60, 28, 28}), pixels), uint8, {60, 28, 28}, expected);
}

BOOST_AUTO_TEST_CASE(int8_and_int16_are_widened_to_int32) {
  check_round_trip("i8", concat(idx_header(0x09, {2, 3}), {0x80, 0xff, 0x00, 0x01, 0x7f, 0x05}), int32, {2, 3},
                   {-128, -1, 0, 1, 127, 5});
  Bytes b = idx_header(0x0B, {2, 2, 2});
  for (int v : {-32768, -1, 0, 1, 258, 32767, -300, 1000}) put_be(b, static_cast<std::uint16_t>(v), 2);
  check_round_trip("i16", b, int32, {2, 2, 2}, {-32768, -1, 0, 1, 258, 32767, -300, 1000});
}

BOOST_AUTO_TEST_CASE(int32_float32_float64) {
  const std::int32_t i32[] = {std::numeric_limits<std::int32_t>::min(), -1, 0, 1, 0x01020304,
                              std::numeric_limits<std::int32_t>::max()};
  Bytes b = idx_header(0x0C, {3, 2});
  for (std::int32_t v : i32) put_be(b, static_cast<std::uint32_t>(v), 4);
  check_round_trip("i32", b, int32, {3, 2}, {-2147483648.0, -1, 0, 1, 16909060, 2147483647});

  const float f32[] = {1.5f, -0.25f, 3.4e38f, 1e-30f, 0.1f};
  b = idx_header(0x0D, {1, 5});
  for (float v : f32) put_be(b, std::bit_cast<std::uint32_t>(v), 4);
  check_round_trip("f32", b, float32, {1, 5}, {1.5, -0.25, double(3.4e38f), double(1e-30f), double(0.1f)});

  const double f64[] = {3.141592653589793, -2.5e-300, 0.0, 1e300};
  b = idx_header(0x0E, {2, 1, 2, 1});
  for (double v : f64) put_be(b, std::bit_cast<std::uint64_t>(v), 8);
  check_round_trip("f64", b, float64, {2, 1, 2, 1}, {3.141592653589793, -2.5e-300, 0.0, 1e300});
}

BOOST_AUTO_TEST_CASE(scalar_empty_and_high_rank) {
  check_round_trip("scalar", concat(idx_header(0x08, {}), {42}), uint8, Shape{}, {42});
  check_round_trip("empty", idx_header(0x0C, {0, 3}), int32, {0, 3}, {});
  Bytes b = idx_header(0x0D, {1, 2, 1, 2, 1, 1, 1, 2});
  for (int i = 0; i < 8; ++i) put_be(b, std::bit_cast<std::uint32_t>(i * 0.5f), 4);
  check_round_trip("rank8", b, float32, {1, 2, 1, 2, 1, 1, 1, 2}, {0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5});
}

BOOST_AUTO_TEST_CASE(missing_file_and_directory) {
  TempDir dir;
  const std::string missing = dir.file("nope.idx.gz");
  TF_CHECK_THROWS_WITH(data::read_idx(missing), IOError, "read_idx: " + missing + ": cannot open the file",
                       "No such file or directory");
  TF_CHECK_THROWS_WITH(data::read_idx(dir.path.string()), IOError, dir.path.string() + ": read error after 0 bytes",
                       "Is a directory");
  // Cut at the NUL, the path would name another, readable file.
  const std::string plain = dir.file("labels.idx");
  write_plain(plain, concat(idx_header(0x08, {1}), {7}));
  TF_CHECK_THROWS_WITH(data::read_idx(plain + std::string("\0.gz", 4)), IOError,
                       "read_idx: cannot open '" + plain + "\\0.gz': the path holds a NUL byte (at offset " +
                           std::to_string(plain.size()) + "); is it from a corrupt file?");
}

BOOST_AUTO_TEST_CASE(bad_magic_number) {
  TempDir dir;
  const std::string p = dir.file("bad.idx");
  write_plain(p, {});
  TF_CHECK_THROWS_WITH(data::read_idx(p), IOError, p + ": truncated: expected a 4-byte IDX magic number, got 0 bytes");
  write_gz(p, {0, 0});
  TF_CHECK_THROWS_WITH(data::read_idx(p), IOError, p + ": truncated: expected a 4-byte IDX magic number, got 2 bytes");
  write_plain(p, {'P', 'K', 3, 4, 0, 0, 0, 0});
  TF_CHECK_THROWS_WITH(data::read_idx(p), IOError,
                       p + ": not an IDX file: expected a magic number starting with bytes 00 00, found 50 4b 03 04");
  write_gz(p, concat(idx_header(0x0A, {1}), {7}));
  TF_CHECK_THROWS_WITH(data::read_idx(p), IOError, p + ": unknown IDX data type 0x0A in magic number 00 00 0a 01",
                       "expected 0x08 (uint8), 0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D (float32) or 0x0E "
                       "(float64)");
  write_plain(p, idx_header(0x08, {1, 1, 1, 1, 1, 1, 1, 1, 1}));
  TF_CHECK_THROWS_WITH(data::read_idx(p), IOError,
                       p + ": the IDX header declares 9 dimensions; tapeflow tensors have at most 8");
}

BOOST_AUTO_TEST_CASE(truncated_header_and_data) {
  TempDir dir;
  const std::string p = dir.file("short.idx");
  write_plain(p, {0, 0, 0x08, 3, 0, 0, 0, 10, 0, 0});
  TF_CHECK_THROWS_WITH(data::read_idx(p), IOError,
                       p + ": truncated: expected 3 dimensions (12 bytes) after the magic number, got 6 bytes");

  const Bytes ten = noise(10);
  write_plain(p, concat(idx_header(0x0C, {2, 3}), ten));
  TF_CHECK_THROWS_WITH(data::read_idx(p), IOError, p + ": truncated: expected 24 bytes of data ([2,3] int32), got 10");
  const std::string gz = dir.file("short.idx.gz");
  write_gz(gz, concat(idx_header(0x0C, {2, 3}), ten));  // a sound gzip stream of too little data
  TF_CHECK_THROWS_WITH(data::read_idx(gz), IOError, gz + ": truncated: expected 24 bytes of data ([2,3] int32), got 10");

  // The MNIST training images header with 1000 bytes of pixels.
  write_gz(gz, concat(idx_header(0x08, {60000, 28, 28}), noise(1000)));
  TF_CHECK_THROWS_WITH(data::read_idx(gz), IOError,
                       gz + ": truncated: expected 47040000 bytes of data ([60000,28,28] uint8), got 1000");

  // A plain file whose header claims far more than it holds is caught from its size.
  write_plain(p, concat(idx_header(0x0C, {1000000}), noise(8)));
  TF_CHECK_THROWS_WITH(data::read_idx(p), IOError,
                       p + ": truncated: expected 4000000 bytes of data ([1000000] int32), got 8");

  // Dimensions whose product cannot be held.
  write_gz(gz, idx_header(0x0C, {0xffffffffu, 0xffffffffu, 0xffffffffu}));
  TF_CHECK_THROWS_WITH(data::read_idx(gz), IOError,
                       gz + ": the IDX header declares [4294967295,4294967295,4294967295] int32, more elements than "
                            "can be held; the header is corrupt");
}

// The size of a gzip stream's data is known only once it is inflated: a header claiming 33 GB (or
// petabytes) of a 1 KB file used to be allocated before any data was read. Now the data is read
// first, in chunks, and what arrived is reported.
BOOST_AUTO_TEST_CASE(gzip_header_claiming_more_than_arrives) {
  TempDir dir;
  const std::string gz = dir.file("claims.idx.gz");
  write_gz(gz, concat(idx_header(0x08, {60000, 560, 1000}), noise(1000)));
  TF_CHECK_THROWS_WITH(data::read_idx(gz), IOError,
                       gz + ": truncated: expected 33600000000 bytes of data ([60000,560,1000] uint8), got 1000");
  write_gz(gz, concat(idx_header(0x0E, {0x80000000u, 0x100000u}), noise(5000)));
  TF_CHECK_THROWS_WITH(data::read_idx(gz), IOError,
                       gz + ": truncated: expected 18014398509481984 bytes of data ([2147483648,1048576] float64), "
                            "got 5000");
  // int8 is widened to int32: the tensor is 4 times the data.
  write_gz(gz, concat(idx_header(0x09, {0xffffffffu, 0xffffffu}), noise(10)));
  TF_CHECK_THROWS_WITH(data::read_idx(gz), IOError,
                       gz + ": truncated: expected 72057589726183425 bytes of data ([4294967295,16777215] int8), got "
                            "10");
  // Its tensor would have more bytes than tapeflow allocates (2^62).
  write_gz(gz, concat(idx_header(0x09, {0xffffffffu, 0xffffffffu}), noise(10)));
  TF_CHECK_THROWS_WITH(data::read_idx(gz), IOError,
                       gz + ": the IDX header declares [4294967295,4294967295] int8, more elements than can be held");
}

// Data across the chunks the gzip path reads (1 MiB, 2 MiB, ...), ending on and around their ends.
BOOST_AUTO_TEST_CASE(gzip_data_larger_than_a_chunk) {
  for (std::uint32_t n : {(1u << 20) - 9, (1u << 20) - 8, 3u << 20, (3u << 20) + 5}) {
    BOOST_TEST_CONTEXT(n << " bytes") {
      TempDir dir;
      const std::string gz = dir.file("big.idx.gz");
      const Bytes data = noise(n);
      write_gz(gz, concat(idx_header(0x08, {n}), data));
      Tensor t = data::read_idx(gz);
      BOOST_REQUIRE(t.numel() == static_cast<std::int64_t>(n));
      BOOST_TEST(std::memcmp(t.raw_data(), data.data(), n) == 0);
      write_gz(gz, concat(concat(idx_header(0x08, {n}), data), {1}));
      const std::string expected =
          fmt::format("{}: corrupt: found more bytes after the {} bytes of data ([{}] uint8)", gz, n, n);
      TF_CHECK_THROWS_WITH(data::read_idx(gz), IOError, expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(trailing_bytes_are_corrupt) {
  TempDir dir;
  const std::string p = dir.file("long.idx");
  write_plain(p, concat(idx_header(0x08, {6}), {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  TF_CHECK_THROWS_WITH(data::read_idx(p), IOError,
                       p + ": corrupt: found more bytes after the 6 bytes of data ([6] uint8) that the header "
                           "declares");
}

BOOST_AUTO_TEST_CASE(damaged_gzip_streams) {
  // 1, 60 and 100 images of 28x28: small enough for zlib's internal buffer, and larger than the
  // reader's last read (64 KiB), so that both ways of reading meet the damage.
  for (std::uint32_t n : {1u, 60u, 100u}) {
    BOOST_TEST_CONTEXT(n << " images") {
      TempDir dir;
      const std::string p = dir.file("data.idx.gz");
      const std::size_t data_size = n * 28 * 28;
      const std::string desc = fmt::format("{} bytes of data ([{},28,28] uint8)", data_size, n);
      write_gz(p, concat(idx_header(0x08, {n, 28, 28}), noise(data_size)));
      const Bytes gz = read_all(p);
      BOOST_REQUIRE_GT(gz.size(), data_size);
      BOOST_REQUIRE(data::read_idx(p).numel() == static_cast<std::int64_t>(data_size));

      // Cut in the middle of the compressed data.
      write_plain(p, Bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2)));
      TF_CHECK_THROWS_WITH(data::read_idx(p), IOError, p + ": truncated: expected " + desc + ", got ",
                           "(the gzip stream ends early)");

      // Cut in the 8-byte trailer (CRC-32, length): all data is there but cannot be checked.
      for (std::ptrdiff_t cut : {1, 4, 5, 8}) {
        write_plain(p, Bytes(gz.begin(), gz.end() - cut));
        TF_CHECK_THROWS_WITH(data::read_idx(p), IOError,
                             p + ": truncated: the gzip stream ends before its 8-byte trailer is complete (after all " +
                                 desc + ")");
      }

      // The first deflate block (right after gzip's 10-byte header) given the reserved type 11.
      Bytes bad = gz;
      bad[10] |= 0x06;
      write_plain(p, bad);
      TF_CHECK_THROWS_WITH(data::read_idx(p), IOError,
                           p + ": corrupt gzip stream after 0 bytes of data: invalid block type", "get a fresh copy");

      // A wrong CRC-32, and a wrong length, in the trailer.
      for (std::size_t at : {gz.size() - 8, gz.size() - 1}) {
        bad = gz;
        bad[at] ^= 0x01;
        write_plain(p, bad);
        TF_CHECK_THROWS_WITH(data::read_idx(p), IOError, p + ": corrupt gzip stream after ",
                             at == gz.size() - 8 ? "incorrect data check" : "incorrect length check");
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
