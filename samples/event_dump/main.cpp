// Lists what the TensorBoard event files of a log directory hold, tag by tag, reading every record
// with both CRCs checked: a quick look at a run without starting TensorBoard.
//
//   ./event_dump /tmp/convnet/summaries
//   summaries/train/events.out.tfevents.1764000000.host: 109 events
//     graph 92 nodes
//     scalar loss 107 values steps 1..107 last 0.4213
//     histogram activations/conv1 1 values steps 107..107
//     image images/image/0 1 values steps 0..0 28x28x1
//
// Event files in sub-directories are listed too (the convnet sample writes summaries/train and
// summaries/test). Exits with 1, naming the file and offset, when a file is corrupt or truncated.
#include <algorithm>
#include <filesystem>
#include <map>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "tapeflow/error.h"
#include "tapeflow/summary/event.h"

namespace fs = std::filesystem;
namespace summary = tapeflow::summary;

namespace {

struct TagStats {
  std::string kind, detail;
  std::int64_t count = 0, first_step = 0, last_step = 0;
};

std::string kind_of(const summary::Value& v, std::string& detail) {
  if (v.simple_value) {
    detail = fmt::format("last {:.4g}", *v.simple_value);
    return "scalar";
  }
  if (v.histogram) {
    detail = fmt::format("last {} values in [{:.4g}, {:.4g}]", v.histogram->num, v.histogram->min, v.histogram->max);
    return "histogram";
  }
  if (v.image) {
    detail = fmt::format("{}x{}x{}", v.image->height, v.image->width, v.image->colorspace);
    return "image";
  }
  return "other";
}

void dump(const std::string& path, const fs::path& root) {
  const auto events = summary::read_events(path);
  fmt::print("{}: {} events\n", fs::relative(path, root).string(), events.size());
  std::map<std::string, TagStats> tags;  // sorted by tag
  for (const summary::Event& e : events) {
    if (e.file_version) fmt::print("  file_version {}\n", *e.file_version);
    if (e.graph_def) fmt::print("  graph {} nodes\n", summary::parse_graph_def(*e.graph_def).size());
    if (!e.summary) continue;
    for (const summary::Value& v : *e.summary) {
      TagStats& s = tags[v.tag];
      s.kind = kind_of(v, s.detail);
      if (s.count++ == 0) s.first_step = e.step;
      s.last_step = e.step;
    }
  }
  for (const auto& [tag, s] : tags)
    fmt::print("  {} {} {} values steps {}..{} {}\n", s.kind, tag, s.count, s.first_step, s.last_step, s.detail);
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"Lists the tags of the TensorBoard event files in a log directory and its sub-directories"};
  std::string logdir;
  app.add_option("logdir", logdir, "the log directory")->required()->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> dirs{logdir};
  for (const auto& entry : fs::recursive_directory_iterator(logdir))
    if (entry.is_directory()) dirs.push_back(entry.path().string());
  std::sort(dirs.begin(), dirs.end());
  std::size_t files = 0;
  for (const auto& dir : dirs)
    for (const auto& path : summary::list_event_files(dir)) {
      dump(path, logdir);
      ++files;
    }
  if (files == 0) {
    fmt::print(stderr, "event_dump: no event files (names containing \"tfevents\") under {}\n", logdir);
    return 1;
  }
  return 0;
} catch (const tapeflow::Error& e) {
  fmt::print(stderr, "event_dump: {}\n", e.what());
  return 1;
}
