// tapeflow::summary::read_events on arbitrary bytes (a TensorBoard event file), and
// parse_graph_def on the graphs it returns.
//
// Each record carries CRCs of its length and its data, which a mutation almost never keeps right:
// on the input as it is, read_events would stop at the first record and never parse an Event. So
// the input is also read with its records' CRCs recomputed (its framing otherwise kept, a cut-off
// last record included), which lets the mutations reach the protocol buffers.
#include <google/protobuf/stubs/logging.h>

#include <cstring>

#include "fuzz.h"

using namespace tapeflow;

namespace {

// The input with the CRCs of every whole record set right: records are
// uint64 length | uint32 CRC of the length | data | uint32 CRC of the data (record.h).
std::string with_valid_crcs(std::string_view in) {
  std::string out;
  std::size_t at = 0;
  while (in.size() - at >= 12) {
    std::uint64_t length;
    std::memcpy(&length, in.data() + at, 8);
    if (length > in.size() - at - 12 || in.size() - at - 12 - length < 4) break;  // the last record is cut off
    out += summary::frame_record(in.substr(at + 12, length));
    at += 16 + length;
  }
  out += in.substr(at);
  return out;
}

void read(const std::string& path) {
  fuzz::expect_clean([&] {
    for (const summary::Event& e : summary::read_events(path))
      if (e.graph_def) fuzz::expect_clean([&] { summary::parse_graph_def(*e.graph_def); });
  });
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_target();
  // libprotobuf logs every string field that is not UTF-8 (the parse then fails, an IOError): a
  // line on stderr for most inputs. Its fatal errors still abort.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = (fuzz::scratch_dir() / "events.out.tfevents.0.fuzz").string();
  const std::string_view bytes = fuzz::as_view(data, size);
  fuzz::write_file(path, bytes);
  read(path);
  const std::string framed = with_valid_crcs(bytes);
  if (framed != bytes) {
    fuzz::write_file(path, framed);
    read(path);
  }
  return 0;
}
