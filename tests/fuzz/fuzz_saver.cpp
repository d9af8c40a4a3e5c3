// tapeflow::train::latest_checkpoint and Saver::restore on arbitrary bytes: a checkpoint
// directory whose "checkpoint" index file and checkpoint file (safetensors) come from the input
// (the index text, a NUL byte, the checkpoint's bytes; see fuzz.h), restored into a Session of
// the variables of fuzz::make_saver_variables.
#include <algorithm>
#include <optional>

#include "fuzz.h"

using namespace tapeflow;

namespace {

struct Model {
  Graph graph;
  std::optional<train::Saver> saver;
  std::optional<Session> sess;
  Model() {
    auto scope = graph.as_default();
    fuzz::make_saver_variables();
    saver.emplace();
    sess.emplace(graph);
    sess->run(global_variables_initializer());
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_target();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Model model;
  static const std::string dir = fuzz::scratch_dir().string();
  static const std::string index = dir + "/checkpoint";
  static const std::string checkpoint = dir + "/" + fuzz::kSaverCheckpoint + ".safetensors";
  const std::string_view bytes = fuzz::as_view(data, size);
  const std::size_t split = std::min(bytes.find(fuzz::kSaverSeparator), bytes.size());
  fuzz::write_file(index, bytes.substr(0, split));
  fuzz::write_file(checkpoint, bytes.substr(std::min(split + 1, bytes.size())));
  fuzz::expect_clean([] { model.saver->restore(*model.sess, train::latest_checkpoint(dir)); });
  return 0;
}
