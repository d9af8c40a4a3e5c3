// safetensors files (nlohmann-json for the header) and atomic file replacement.
#include "tapeflow/io/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tapeflow::io {

namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

const char* code_of(DType dt) {
  switch (dt) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int32: return "I32";
    case DType::Int64: return "I64";
    case DType::UInt8: return "U8";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

bool dtype_of_code(const std::string& code, DType& dt) {
  static const std::map<std::string, DType> codes{{"F32", float32}, {"F64", float64}, {"I32", int32},
                                                  {"I64", int64},   {"U8", uint8},    {"BOOL", bool_}};
  auto it = codes.find(code);
  if (it == codes.end()) return false;
  dt = it->second;
  return true;
}

std::string errno_text() { return std::strerror(errno); }

// Everything read from a file, with errors that name it.
struct Parsed {
  nlohmann::json header;
  std::string data;
};

Parsed parse(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError(fmt::format("io::load: cannot open '{}': {}", path, errno_text()));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8)
    throw IOError(fmt::format("io::load: '{}' is truncated: {} bytes, shorter than the 8-byte header length of a "
                              "safetensors file",
                              path, bytes.size()));
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > bytes.size() - 8)
    throw IOError(fmt::format("io::load: '{}' is truncated or not a safetensors file: its header claims {} bytes but "
                              "only {} follow",
                              path, n, bytes.size() - 8));
  Parsed p;
  try {
    p.header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("io::load: '{}' has a corrupt header (not valid JSON: {})", path, e.what()));
  }
  if (!p.header.is_object()) throw IOError(fmt::format("io::load: '{}' has a corrupt header (not a JSON object)", path));
  p.data = bytes.substr(8 + n);
  return p;
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string tmp = (dir / fmt::format(".{}.tmp.{}", target.filename().string(), ::getpid())).string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IOError(fmt::format("cannot write '{}': cannot create '{}': {}", path, tmp, errno_text()));
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw IOError(fmt::format("cannot write '{}': {} (after {} of {} bytes); the previous file is unchanged", path,
                                why, done, bytes.size()));
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw IOError(fmt::format("cannot write '{}': {}; the previous file is unchanged", path, why));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw IOError(fmt::format("cannot write '{}': rename from '{}' failed: {}", path, tmp, why));
  }
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void save(const std::string& path, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__")
      throw ValueError(fmt::format("io::save('{}'): invalid tensor name '{}'", path, name));
    if (!names.insert(name).second)
      throw ValueError(fmt::format("io::save('{}'): the name '{}' is used twice", path, name));
    if (!t.defined()) throw ValueError(fmt::format("io::save('{}'): tensor '{}' is undefined", path, name));
    if (t.is_symbolic())
      throw ValueError(fmt::format("io::save('{}'): '{}' is a graph tensor; save a Session's values (Saver)", path,
                                   name));
    std::vector<std::int64_t> shape(t.shape().begin(), t.shape().end());
    header[name] = {{"dtype", code_of(t.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string head = header.dump();
  head.append((8 - head.size() % 8) % 8, ' ');  // keep the data 8-byte aligned, as the format recommends
  std::string bytes(8, '\0');
  const std::uint64_t n = head.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += head;
  bytes.reserve(bytes.size() + offset);
  for (const auto& [name, t] : tensors) bytes.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  write_file_atomically(path, bytes);
}

NamedTensors load(const std::string& path) {
  Parsed p = parse(path);
  struct Entry {
    std::size_t begin, end;
    std::string name;
    DType dtype;
    Shape shape;
  };
  std::vector<Entry> entries;
  for (const auto& [name, info] : p.header.items()) {
    if (name == "__metadata__") continue;
    auto bad = [&, &name = name](const std::string& why) {  // init-capture: clang < 16 can't capture a binding
      return IOError(fmt::format("io::load: '{}' is corrupt: tensor '{}' {}", path, name, why));
    };
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
      throw bad("lacks dtype, shape or data_offsets");
    Entry e;
    e.name = name;
    if (!info["dtype"].is_string() || !dtype_of_code(info["dtype"].get<std::string>(), e.dtype))
      throw bad(fmt::format("has an unsupported dtype {}", info["dtype"].dump()));
    const auto& shape = info["shape"];
    if (!shape.is_array() || shape.size() > static_cast<std::size_t>(Shape::kMaxRank))
      throw bad(fmt::format("has an invalid shape {}", shape.dump()));
    for (const auto& d : shape) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0)
        throw bad(fmt::format("has an invalid shape {}", shape.dump()));
      e.shape.push_back(d.get<std::int64_t>());
    }
    const auto& off = info["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad(fmt::format("has invalid data_offsets {}", off.dump()));
    e.begin = off[0].get<std::size_t>();
    e.end = off[1].get<std::size_t>();
    if (e.end < e.begin || e.end > p.data.size())
      throw IOError(fmt::format("io::load: '{}' is truncated or corrupt: tensor '{}' needs bytes [{}, {}) of the data "
                                "but there are {}",
                                path, name, e.begin, e.end, p.data.size()));
    const std::size_t expected = static_cast<std::size_t>(e.shape.numel()) * dtype_size(e.dtype);
    if (e.end - e.begin != expected)
      throw bad(fmt::format("has {} bytes of data but its shape {} and dtype need {}", e.end - e.begin,
                            e.shape.str(), expected));
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  NamedTensors out;
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), p.data.data() + e.begin, e.end - e.begin);
    out.emplace_back(e.name, std::move(t));
  }
  return out;
}

std::map<std::string, std::string> load_metadata(const std::string& path) {
  Parsed p = parse(path);
  std::map<std::string, std::string> out;
  if (!p.header.contains("__metadata__")) return out;
  const auto& m = p.header["__metadata__"];
  if (!m.is_object()) throw IOError(fmt::format("io::load: '{}' is corrupt: __metadata__ is not an object", path));
  for (const auto& [k, v] : m.items()) {
    if (!v.is_string())
      throw IOError(fmt::format("io::load: '{}' is corrupt: __metadata__ value '{}' is not a string", path, k));
    out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace tapeflow::io
