// tapeflow::io::load and load_metadata on arbitrary bytes (a safetensors file), and what load
// returns into nn::Module::load_state_dict: strict (every name must match) and not.
#include "fuzz.h"

using namespace tapeflow;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_target();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = (fuzz::scratch_dir() / "input.safetensors").string();
  static nn::Sequential net = fuzz::make_net();
  fuzz::write_file(path, fuzz::as_view(data, size));
  fuzz::expect_clean([] { io::load_metadata(path); });
  fuzz::expect_clean([] {
    const io::NamedTensors state = io::load(path);
    fuzz::expect_clean([&] { net.load_state_dict(state, /*strict=*/false); });
    net.load_state_dict(state, /*strict=*/true);
  });
  return 0;
}
