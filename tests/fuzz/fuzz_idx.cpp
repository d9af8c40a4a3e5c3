// tapeflow::data::read_idx on arbitrary bytes, as a plain file and gzip-compressed.
//
// The input is written as it is (a plain IDX file, or a gzip stream when the input is one: the
// seeds hold both) and, compressed by this target, as a .gz file: so the IDX header checks and the
// reads also run behind zlib, where the size of the data is not known before it is read.
#include "fuzz.h"

using namespace tapeflow;

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
  fuzz::write_file(gz, fuzz::gzip(bytes));
  fuzz::expect_clean([] { data::read_idx(gz); });
  return 0;
}
