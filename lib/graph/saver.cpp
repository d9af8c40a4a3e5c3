// tf.train.Saver on safetensors files, with TensorFlow's "checkpoint" index file.
#include "tapeflow/graph/saver.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "tapeflow/graph/variables.h"
#include "tapeflow/io/checkpoint.h"

#include "core/paths.h"

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

// What a "checkpoint" index file names, as written there (relative to its directory, or absolute).
struct Index {
  std::string latest;
  std::vector<std::string> all;
};

// The start of a line of a corrupt index, printable.
std::string excerpt(const std::string& line) {
  return line.size() > 80 ? detail::printable(line.substr(0, 80)) + "..." : detail::printable(line);
}

// A path for a message, quoted: in full, unless it is longer than any path may be (PATH_MAX), as a
// corrupt index may make it.
std::string quoted_path(const std::string& path) {
  constexpr std::size_t kPathMax = 4096;
  if (path.size() <= kPathMax) return fmt::format("'{}'", detail::printable(path));
  return fmt::format("'{}...' ({} characters)", detail::printable(path.substr(0, 200)), path.size());
}

// "<dir>/checkpoint", or nullopt when there is none (nor its directory). IOError when it cannot be
// checked (a name too long, a loop of links, a directory that may not be searched), read or parsed.
std::optional<Index> read_index(std::string_view who, const fs::path& dir) {
  const fs::path index = dir / "checkpoint";
  std::error_code ec;
  const bool found = fs::exists(index, ec);
  if (ec)
    throw IOError(fmt::format("{}: cannot check for the index {}: {}", who, quoted_path(index.string()), ec.message()));
  if (!found) return std::nullopt;
  std::istringstream in(io::read_file(index.string()));
  Index out;
  std::string line;
  while (std::getline(in, line)) {
    const bool latest = line.starts_with("model_checkpoint_path:");
    if (!latest && !line.starts_with("all_model_checkpoint_paths:")) continue;
    auto first = line.find('"'), last = line.rfind('"');
    if (first == std::string::npos || last <= first)
      throw IOError(fmt::format("{}: '{}' is corrupt: cannot read the line '{}'", who, index.string(), excerpt(line)));
    std::string value;
    for (auto i = first + 1; i < last; ++i) {
      if (line[i] == '\\' && i + 1 < last) ++i;
      value += line[i];
    }
    if (value.find('\0') != std::string::npos)
      throw IOError(fmt::format("{}: '{}' is corrupt: the line '{}' names a path with a NUL byte", who, index.string(),
                                excerpt(line)));
    if (latest)
      out.latest = value;
    else
      out.all.push_back(value);
  }
  return out;
}

// A path of the index as a path to open: relative ones are relative to the index's directory.
std::string resolve(const fs::path& dir, const std::string& listed) {
  fs::path p(listed);
  return p.is_relative() ? (dir / p).string() : p.string();
}

// Whether the file of checkpoint `path`, which the index of `dir` names, exists: false when it is
// not there; an IOError naming the index and the file when that cannot be checked.
bool checkpoint_exists(std::string_view who, const fs::path& dir, const std::string& path) {
  const std::string file = data_file(path);
  std::error_code ec;
  const bool found = fs::exists(file, ec);
  if (ec)
    throw IOError(fmt::format("{}: '{}' names a checkpoint whose file cannot be checked: {}: {}", who,
                              (dir / "checkpoint").string(), quoted_path(file), ec.message()));
  return found;
}

// Two spellings of one checkpoint compare equal ("ckpt//m-1" and "ckpt/m-1").
std::string key_of(const std::string& path) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(fs::path(path), ec);
  return (ec ? fs::path(path) : absolute).lexically_normal().string();
}

bool contains(const std::vector<std::string>& paths, const std::string& path) {
  const std::string key = key_of(path);
  return std::any_of(paths.begin(), paths.end(), [&](const std::string& p) { return key_of(p) == key; });
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
  detail::check_no_nul("Saver::save", "save to", save_path);  // before it creates the directory cut at the NUL
  const std::string path = global_step >= 0 ? fmt::format("{}-{}", save_path, global_step) : save_path;
  io::NamedTensors values;
  for (const Tensor& v : vars_) values.emplace_back(graph::node_of("Saver", v).name(), sess.value(v));
  const fs::path dir = fs::path(path).has_parent_path() ? fs::path(path).parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IOError(fmt::format("Saver::save: cannot create directory '{}': {}", dir.string(), ec.message()));
  if (recovered_dirs_.insert(key_of(dir.string())).second) recover_last_checkpoints(dir.string());

  // The data, then the index that names it, then the files the index no longer names: killed at
  // any point, the index names complete checkpoints only.
  io::save(data_file(path), values, {{"format", "tapeflow checkpoint"}});
  std::vector<std::string> kept = last_, dropped;
  const std::string key = key_of(path);
  kept.erase(std::remove_if(kept.begin(), kept.end(), [&](const std::string& p) { return key_of(p) == key; }),
             kept.end());
  kept.push_back(path);
  while (options_.max_to_keep > 0 && static_cast<int>(kept.size()) > options_.max_to_keep) {
    dropped.push_back(kept.front());
    kept.erase(kept.begin());
  }
  write_index(dir, kept);
  last_ = std::move(kept);
  std::string not_deleted;
  for (const std::string& old : dropped) {
    if (contains(last_, old)) continue;
    std::error_code remove_ec;  // none when the file is gone already
    fs::remove(data_file(old), remove_ec);
    if (remove_ec && not_deleted.empty())
      not_deleted = fmt::format("'{}', which max_to_keep={} drops: {}", data_file(old), options_.max_to_keep,
                                remove_ec.message());
  }
  // Temporary files of saves that were killed (the index's own are handled by its write).
  io::remove_stale_temp_files(save_path);
  if (!not_deleted.empty())  // as TensorFlow's Saver, which raises for a file it cannot delete
    throw IOError(fmt::format("Saver::save: saved '{}', but cannot delete {}", path, not_deleted));
  return path;
}

void Saver::recover_last_checkpoints(const std::string& checkpoint_dir) {
  std::vector<std::string> recovered;
  try {
    std::optional<Index> index = read_index("Saver::save", checkpoint_dir);
    if (!index) return;
    std::vector<std::string> listed = index->all;
    if (!index->latest.empty()) listed.push_back(index->latest);
    for (const std::string& entry : listed) {
      const std::string path = resolve(checkpoint_dir, entry);
      if (!checkpoint_exists("Saver::save", checkpoint_dir, path) || contains(recovered, path) ||
          contains(last_, path))
        continue;
      recovered.push_back(path);
    }
  } catch (const IOError&) {
    // An index that cannot be read, or names a file that cannot be checked: this save's index
    // replaces it, and the files it named are left alone.
    return;
  }
  last_.insert(last_.begin(), recovered.begin(), recovered.end());
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
  std::optional<Index> index = read_index("latest_checkpoint", checkpoint_dir);
  if (!index || index->latest.empty()) return "";
  const std::string path = resolve(checkpoint_dir, index->latest);
  return checkpoint_exists("latest_checkpoint", checkpoint_dir, path) ? path : "";
}

}  // namespace tapeflow::train
