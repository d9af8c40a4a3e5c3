// safetensors files (nlohmann-json for the header) and atomic file replacement.
#include "tapeflow/io/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/checked.h"
#include "core/paths.h"

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

std::string read_bytes(std::string_view who, const std::string& path) {
  detail::check_no_nul(who, "open", path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IOError(fmt::format("{}: cannot open '{}': {}", who, path, errno_text()));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw IOError(fmt::format("{}: cannot read '{}': it is a directory, not a file", who, path));
  }
  std::string bytes;
  if (S_ISREG(st.st_mode)) bytes.reserve(static_cast<std::size_t>(st.st_size));
  std::string chunk(std::size_t{1} << 20, '\0');
  for (;;) {
    ssize_t r = ::read(fd, chunk.data(), chunk.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      std::string why = errno_text();
      ::close(fd);
      throw IOError(fmt::format("{}: error while reading '{}' after {} bytes: {}", who, path, bytes.size(), why));
    }
    if (r == 0) break;
    bytes.append(chunk.data(), static_cast<std::size_t>(r));
  }
  ::close(fd);
  return bytes;
}

// The deepest nesting of arrays and objects a header may have. serde_json, which Python's
// safetensors parses headers with, stops at 128 levels; a real header has 3.
constexpr int kMaxJsonDepth = 128;

// The start of a text, for error messages: a corrupt header may hold huge values.
std::string shortened(std::string text) {
  constexpr std::size_t kMax = 60;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}
// The start of a JSON value (its depth is bounded by the parser, so dump() cannot overflow the stack).
std::string excerpt(const nlohmann::json& value) {
  return shortened(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// Everything read from a file, with errors that name it.
struct Parsed {
  nlohmann::json header;
  std::string data;
};

Parsed parse(const std::string& path) {
  std::string bytes = read_bytes("io::load", path);
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
  // nlohmann's parser does not recurse, but dump() and the copies of a value do: deeper headers
  // are refused while they are parsed.
  auto limit_depth = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      throw IOError(fmt::format("io::load: '{}' has a corrupt header: its JSON is nested more than {} levels deep",
                                path, kMaxJsonDepth));
    return true;
  };
  Parsed p;
  try {
    const auto begin = bytes.begin() + 8;
    p.header = nlohmann::json::parse(begin, begin + static_cast<std::ptrdiff_t>(n), limit_depth);
  } catch (const nlohmann::json::exception& e) {
    throw IOError(fmt::format("io::load: '{}' has a corrupt header (not valid JSON: {})", path, shortened(e.what())));
  }
  if (!p.header.is_object()) throw IOError(fmt::format("io::load: '{}' has a corrupt header (not a JSON object)", path));
  p.data = bytes.substr(8 + n);
  return p;
}

// The temporary files this process is writing now (by file name): remove_stale_temp_files leaves
// them alone although the pid in their names is alive (ours).
std::mutex writing_mutex;
std::set<std::string> writing;

// Registers a temporary file name for the lifetime of one write.
class Writing {
 public:
  explicit Writing(std::string name) : name_(std::move(name)) {
    std::lock_guard lock(writing_mutex);
    writing.insert(name_);
  }
  ~Writing() {
    std::lock_guard lock(writing_mutex);
    writing.erase(name_);
  }
  Writing(const Writing&) = delete;
  Writing& operator=(const Writing&) = delete;

 private:
  std::string name_;
};

constexpr std::string_view kTempInfix = ".tmp.";

// The pid of a temporary file name ".<target>.tmp.<pid>.<n>" whose target starts with
// `target_prefix`, or 0 when the name is not one.
pid_t temp_file_pid(std::string_view name, std::string_view target_prefix) {
  if (!name.starts_with('.')) return 0;
  const auto infix = name.rfind(kTempInfix);
  if (infix == std::string_view::npos || infix < 1 + target_prefix.size()) return 0;
  if (!name.substr(1).starts_with(target_prefix)) return 0;
  // "<pid>.<n>", or "<pid>" as tapeflow named them before.
  std::string_view rest = name.substr(infix + kTempInfix.size());
  const std::string_view pid_text = rest.substr(0, rest.find('.'));
  auto digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(pid_text) || pid_text.size() > 9) return 0;
  if (pid_text.size() < rest.size() && !digits(rest.substr(pid_text.size() + 1))) return 0;
  long pid = 0;
  for (char c : pid_text) pid = pid * 10 + (c - '0');
  return pid > 0 && pid <= INT_MAX ? static_cast<pid_t>(pid) : 0;
}

bool process_is_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  detail::check_no_nul("io::write_file_atomically", "write", path);
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // ".<name>.tmp.<pid>.<n>": the pid tells a later save whether the writer is still alive, n keeps
  // two threads of one process apart.
  static std::atomic<std::uint64_t> sequence{0};
  const std::string tmp_name =
      fmt::format(".{}{}{}.{}", target.filename().string(), kTempInfix, ::getpid(), sequence++);
  const std::string tmp = (dir / tmp_name).string();
  {
    Writing registered(tmp_name);
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
  }
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  remove_stale_temp_files(path);
}

int remove_stale_temp_files(const std::string& path_prefix) {
  namespace fs = std::filesystem;
  if (path_prefix.find('\0') != std::string::npos) return 0;
  const fs::path prefix(path_prefix);
  const fs::path dir = prefix.has_parent_path() ? prefix.parent_path() : fs::path(".");
  const std::string target_prefix = prefix.filename().string();
  std::error_code ec;
  int removed = 0;
  // increment(ec), not ++ (a range-for), which throws filesystem_error when a read of the directory fails.
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    const pid_t pid = temp_file_pid(name, target_prefix);
    if (pid == 0) continue;
    if (pid == ::getpid()) {
      std::lock_guard lock(writing_mutex);
      if (writing.contains(name)) continue;  // being written by this process now
    } else if (process_is_alive(pid)) {
      continue;  // a save in progress in another process
    }
    std::error_code remove_ec;
    if (fs::remove(entry.path(), remove_ec)) ++removed;
  }
  return removed;
}

std::string read_file(const std::string& path) { return read_bytes("io::read_file", path); }

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
    std::uint64_t begin, end;
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
      throw bad(fmt::format("has an unsupported dtype {}", excerpt(info["dtype"])));
    const auto& shape = info["shape"];
    if (!shape.is_array() || shape.size() > static_cast<std::size_t>(Shape::kMaxRank))
      throw bad(fmt::format("has an invalid shape {}", excerpt(shape)));
    for (const auto& d : shape) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 0)
        throw bad(fmt::format("has an invalid shape {}", excerpt(shape)));
      e.shape.push_back(d.get<std::int64_t>());
    }
    const auto bytes = detail::byte_size(e.shape, e.dtype);
    if (!bytes)
      throw bad(fmt::format("has shape {} of {}, more bytes than any file holds (the size overflows)", e.shape.str(),
                            code_of(e.dtype)));
    const auto& off = info["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad(fmt::format("has invalid data_offsets {}", excerpt(off)));
    e.begin = off[0].get<std::uint64_t>();
    e.end = off[1].get<std::uint64_t>();
    if (e.end < e.begin) throw bad(fmt::format("has data_offsets [{}, {}) that end before they begin", e.begin, e.end));
    if (e.end > p.data.size())
      throw IOError(fmt::format("io::load: '{}' is truncated or corrupt: tensor '{}' needs bytes [{}, {}) of the data "
                                "but there are {}",
                                path, name, e.begin, e.end, p.data.size()));
    if (e.end - e.begin != *bytes)
      throw bad(fmt::format("has {} bytes of data but its shape {} and dtype need {}", e.end - e.begin, e.shape.str(),
                            *bytes));
    entries.push_back(std::move(e));
  }
  // As Python's safetensors: in the order of their offsets, each tensor starts where the one before
  // ends, and the last ends where the file ends. Every byte of the data belongs to one tensor.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin < covered) {
      const Entry& prev = entries[i - 1];
      throw IOError(fmt::format("io::load: '{}' is corrupt: tensors '{}' (bytes [{}, {})) and '{}' (bytes [{}, {})) "
                                "overlap; each byte of the data must belong to one tensor",
                                path, prev.name, prev.begin, prev.end, e.name, e.begin, e.end));
    }
    if (e.begin > covered)
      throw IOError(fmt::format("io::load: '{}' is corrupt: bytes [{}, {}) of the data, {}, belong to no tensor; the "
                                "data must be fully indexed, with no holes",
                                path, covered, e.begin,
                                i == 0 ? fmt::format("before tensor '{}'", e.name)
                                       : fmt::format("between tensors '{}' and '{}'", entries[i - 1].name, e.name)));
    covered = e.end;
  }
  if (covered != p.data.size())
    throw IOError(fmt::format("io::load: '{}' is corrupt: bytes [{}, {}) of the data, {}, belong to no tensor; the "
                              "data must be fully indexed, with no holes",
                              path, covered, p.data.size(),
                              entries.empty() ? std::string("with no tensors in the header")
                                              : fmt::format("after tensor '{}'", entries.back().name)));
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
