// tf.train.Saver on safetensors files, with TensorFlow's "checkpoint" index file.
#include "tapeflow/graph/saver.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "tapeflow/graph/variables.h"
#include "tapeflow/io/checkpoint.h"

namespace tapeflow::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kExtension = ".safetensors";

std::string data_file(const std::string& path) {
  return path.size() >= 12 && path.ends_with(kExtension) ? path : path + kExtension;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Paths in the checkpoint file are relative to its directory when they are inside it.
std::string relative_to(const fs::path& dir, const std::string& path) {
  fs::path p(path);
  return p.parent_path() == dir ? p.filename().string() : path;
}

void write_index(const fs::path& dir, const std::vector<std::string>& kept) {
  std::string text = fmt::format("model_checkpoint_path: {}\n", quoted(relative_to(dir, kept.back())));
  for (const auto& k : kept) text += fmt::format("all_model_checkpoint_paths: {}\n", quoted(relative_to(dir, k)));
  io::write_file_atomically((dir / "checkpoint").string(), text);
}

}  // namespace

Saver::Saver(std::vector<Tensor> var_list, SaverOptions options) : vars_(std::move(var_list)), options_(options) {
  if (vars_.empty()) vars_ = global_variables();
  if (vars_.empty()) throw ValueError("Saver: no variables to save (the default graph has no global variables)");
  if (options_.max_to_keep < 0)
    throw ValueError(fmt::format("Saver: max_to_keep must be >= 0, got {}", options_.max_to_keep));
  for (const Tensor& v : vars_)
    if (!is_variable(v))
      throw ValueError(fmt::format("Saver: '{}' in var_list is not a variable",
                                   v.defined() && v.is_symbolic() ? v.impl()->name : std::string("(eager tensor)")));
}

std::string Saver::save(Session& sess, const std::string& save_path, std::int64_t global_step) {
  const std::string path = global_step >= 0 ? fmt::format("{}-{}", save_path, global_step) : save_path;
  io::NamedTensors values;
  for (const Tensor& v : vars_) values.emplace_back(graph::node_of("Saver", v).name(), sess.value(v));
  const fs::path dir = fs::path(path).has_parent_path() ? fs::path(path).parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IOError(fmt::format("Saver::save: cannot create directory '{}': {}", dir.string(), ec.message()));
  io::save(data_file(path), values, {{"format", "tapeflow checkpoint"}});

  last_.erase(std::remove(last_.begin(), last_.end(), path), last_.end());
  last_.push_back(path);
  while (options_.max_to_keep > 0 && static_cast<int>(last_.size()) > options_.max_to_keep) {
    fs::remove(data_file(last_.front()), ec);
    last_.erase(last_.begin());
  }
  write_index(dir, last_);
  return path;
}

std::string Saver::save(Session& sess, const std::string& save_path, const Tensor& global_step) {
  return save(sess, save_path, sess.run(global_step).item<std::int64_t>());
}

void Saver::restore(Session& sess, const std::string& save_path) {
  if (save_path.empty())
    throw IOError("Saver::restore: the checkpoint path is empty (latest_checkpoint found no checkpoint?)");
  const std::string file = data_file(save_path);
  io::NamedTensors stored = io::load(file);
  // Check everything first, so that a failed restore changes nothing.
  std::vector<std::pair<Tensor, Tensor>> assignments;
  for (const Tensor& v : vars_) {
    const std::string& name = graph::node_of("Saver", v).name();
    auto it = std::find_if(stored.begin(), stored.end(), [&](const auto& e) { return e.first == name; });
    if (it == stored.end())
      throw IOError(fmt::format("Saver::restore: Key {} not found in checkpoint '{}'", name, file));
    if (it->second.dtype() != v.dtype())
      throw IOError(fmt::format("Saver::restore: '{}' is {} in the graph but {} in checkpoint '{}'", name,
                                dtype_name(v.dtype()), dtype_name(it->second.dtype()), file));
    if (it->second.shape() != v.shape())
      throw IOError(fmt::format("Saver::restore: '{}' has shape {} in the graph but {} in checkpoint '{}'", name,
                                v.shape().str(), it->second.shape().str(), file));
    assignments.emplace_back(v, it->second);
  }
  for (const auto& [v, value] : assignments) sess.set_value(v, value);
}

std::string latest_checkpoint(const std::string& checkpoint_dir) {
  const fs::path index = fs::path(checkpoint_dir) / "checkpoint";
  std::ifstream in(index);
  if (!in) return "";
  std::string line, latest;
  while (std::getline(in, line)) {
    const std::string key = "model_checkpoint_path:";
    if (line.rfind(key, 0) != 0) continue;
    auto first = line.find('"'), last = line.rfind('"');
    if (first == std::string::npos || last <= first)
      throw IOError(fmt::format("latest_checkpoint: '{}' is corrupt: cannot read the line '{}'", index.string(), line));
    std::string value;
    for (auto i = first + 1; i < last; ++i) {
      if (line[i] == '\\' && i + 1 < last) ++i;
      value += line[i];
    }
    latest = value;
  }
  if (latest.empty()) return "";
  fs::path p(latest);
  if (p.is_relative()) p = fs::path(checkpoint_dir) / p;
  return fs::exists(data_file(p.string())) ? p.string() : "";
}

}  // namespace tapeflow::train
