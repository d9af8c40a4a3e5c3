// tapeflow::data::read_idx on arbitrary bytes, as a plain file and gzip-compressed.
//
// The input is written as it is (a plain IDX file, or a gzip stream when the input is one: the
// seeds hold both) and, compressed by this target, as a .gz file: so the IDX header checks and the
// reads also run behind zlib, where the size of the data is not known before it is read.
#include <zlib.h>

#include "fuzz.h"

using namespace tapeflow;

namespace {

std::string gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16 /* gzip header and trailer */, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    fuzz::die("deflateInit2 failed");
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) fuzz::die("deflate failed");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_target();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string plain = (fuzz::scratch_dir() / "input.idx").string();
  static const std::string gz = (fuzz::scratch_dir() / "input.idx.gz").string();
  const std::string_view bytes = fuzz::as_view(data, size);
  fuzz::write_file(plain, bytes);
  fuzz::expect_clean([] { data::read_idx(plain); });
  fuzz::write_file(gz, gzip(bytes));
  fuzz::expect_clean([] { data::read_idx(gz); });
  return 0;
}
