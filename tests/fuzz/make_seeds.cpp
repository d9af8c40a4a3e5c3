// Writes the seed corpora of the fuzz targets: small valid files of every kind each reader
// takes, made by tapeflow's own writers where it has them (io::save, summary::Writer and
// FileWriter, train::Saver), so that they follow the formats as the library writes them today.
//
//   tapeflow_fuzz_seeds <dir>   ->   <dir>/{idx,checkpoint,events,saver}/<seed files>
#include <vector>

#include "fuzz.h"

using namespace tapeflow;
namespace fs = std::filesystem;

namespace {

// An IDX file: magic 00 00 <type> <rank>, the dimensions as big-endian uint32, then `elements`
// (already big-endian, `element_size` bytes each).
std::string idx(std::uint8_t type, std::vector<std::uint32_t> dims, const std::vector<std::uint8_t>& elements) {
  std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) out += static_cast<char>((d >> shift) & 0xFF);
  out.append(elements.begin(), elements.end());
  return out;
}

void idx_seeds(const fs::path& dir) {
  const std::string images = idx(0x08, {2, 2, 3}, {0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255});
  const std::string floats = idx(0x0D, {2}, {0x3F, 0x80, 0, 0, 0xC0, 0x20, 0, 0});  // 1.0, -2.5
  fuzz::write_file((dir / "uint8_2x2x3.idx").string(), images);
  fuzz::write_file((dir / "int8_3.idx").string(), idx(0x09, {3}, {0x80, 0x00, 0x7F}));
  fuzz::write_file((dir / "int16_2x1.idx").string(), idx(0x0B, {2, 1}, {0x80, 0x00, 0x12, 0x34}));
  fuzz::write_file((dir / "int32_2.idx").string(), idx(0x0C, {2}, {0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 1, 0}));
  fuzz::write_file((dir / "float32_2.idx").string(), floats);
  fuzz::write_file((dir / "float64_1.idx").string(), idx(0x0E, {1}, {0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18}));
  fuzz::write_file((dir / "uint8_scalar.idx").string(), idx(0x08, {}, {42}));
  fuzz::write_file((dir / "uint8_0x5.idx").string(), idx(0x08, {0, 5}, {}));
  fuzz::write_file((dir / "uint8_2x2x3.idx.gz").string(), fuzz::gzip(images));
  fuzz::write_file((dir / "float32_2.idx.gz").string(), fuzz::gzip(floats));
}

void checkpoint_seeds(const fs::path& dir) {
  nn::Sequential net = fuzz::make_net();
  io::save((dir / "net").string(), net.state_dict(), {{"format", "tapeflow"}, {"epoch", "3"}});
  io::save((dir / "dtypes").string(), {{"f32", scalar(1.5)},
                                       {"f64", tensor({1.0, -2.0}).to(float64)},
                                       {"i32", tensor({{1, 2}, {3, 4}}).to(int32)},
                                       {"i64", tensor({7, 8, 9}).to(int64)},
                                       {"u8", tensor({0, 128, 255, 1}).to(uint8)},
                                       {"bool", tensor({1, 0}).to(bool_)},
                                       {"empty", zeros({0, 3})}});
}

void event_seeds(const fs::path& dir, const fs::path& scratch) {
  const fs::path eager = scratch / "eager", graph = scratch / "graph";
  {
    summary::Writer writer(eager.string());
    writer.scalar("loss", 0.25, 1);
    writer.histogram("layer/weights", tensor({-1.0, 0.0, 0.5, 2.0}), 1);
    writer.image("input", full({1, 2, 3, 1}, 0.5), 1);
  }
  {
    Graph g;
    auto scope = g.as_default();
    Tensor x = placeholder(float32, Shape({-1, 4}), "x");
    Tensor w = Variable(zeros({4, 2}), "w");
    summary::scalar("mean", reduce_mean(matmul(x, w)));
    summary::FileWriter writer(graph.string(), g);
  }
  for (const fs::path& logdir : {eager, graph})
    for (const std::string& file : summary::list_event_files(logdir.string()))
      fs::copy_file(file, dir / logdir.filename());
}

void saver_seeds(const fs::path& dir, const fs::path& scratch) {
  const fs::path ckpt = scratch / "ckpt";
  Graph g;
  auto scope = g.as_default();
  fuzz::make_saver_variables();
  train::Saver saver;
  Session sess(g);
  sess.run(global_variables_initializer());
  const std::string path = saver.save(sess, (ckpt / "model.ckpt").string(), 1);
  if (fs::path(path).filename() != fuzz::kSaverCheckpoint) fuzz::die("unexpected checkpoint name " + path);
  std::string seed = io::read_file((ckpt / "checkpoint").string());
  seed += fuzz::kSaverSeparator;
  seed += io::read_file(path + ".safetensors");
  fuzz::write_file((dir / "model").string(), seed);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path& scratch = fuzz::scratch_dir();
  for (const char* kind : {"idx", "checkpoint", "events", "saver"}) {
    fs::remove_all(out / kind);
    fs::create_directories(out / kind);
  }
  idx_seeds(out / "idx");
  checkpoint_seeds(out / "checkpoint");
  event_seeds(out / "events", scratch);
  saver_seeds(out / "saver", scratch);
  return 0;
}
