#include "tapeflow/data/text.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include <fmt/format.h>

#include "core/paths.h"
#include "data/random.h"

namespace tapeflow::data {

namespace {

// ---------------------------------------------------------------------------- UTF-8

/// The character starting at byte i of text, i advanced past it; ValueError naming `who` and the
/// offset for a byte sequence that is not UTF-8 (a stray continuation byte, a truncated or
/// overlong sequence, a surrogate, a code point above U+10FFFF).
char32_t next_character(const char* who, std::string_view text, std::size_t& i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80) {
    ++i;
    return lead;
  }
  std::size_t len = 0;
  char32_t c = 0;
  if ((lead & 0xE0) == 0xC0) len = 2, c = lead & 0x1F;
  else if ((lead & 0xF0) == 0xE0) len = 3, c = lead & 0x0F;
  else if ((lead & 0xF8) == 0xF0) len = 4, c = lead & 0x07;
  bool ok = len != 0 && i + len <= text.size();
  for (std::size_t k = 1; ok && k < len; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    ok = (b & 0xC0) == 0x80;
    c = (c << 6) | (b & 0x3F);
  }
  static constexpr char32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};  // by length: shorter is overlong
  if (!ok || c < kSmallest[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    throw ValueError(fmt::format("{}: the text is not valid UTF-8 at byte {} (0x{:02x}); the byte vocabulary (the "
                                 "default) takes text in any encoding",
                                 who, i, lead));
  i += len;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

/// A character as messages show it: 'a' (U+0061), or just U+000A for a control character.
std::string describe(char32_t c) {
  if (c < 0x20 || c == 0x7F) return fmt::format("U+{:04X}", static_cast<std::uint32_t>(c));
  std::string s = "'";
  append_utf8(s, c);
  return fmt::format("{}' (U+{:04X})", s, static_cast<std::uint32_t>(c));
}

void check_token_dtype(const char* who, DType dtype) {
  if (dtype != int32 && dtype != int64)
    throw ValueError(fmt::format("{}: tokens are int32 or int64, got {}", who, dtype_name(dtype)));
}

/// Tokens [begin, end) of `tokens` in a new [end - begin] tensor.
Tensor slice_tokens(const Tensor& tokens, std::int64_t begin, std::int64_t end) {
  Tensor out = Tensor::empty(Shape{end - begin}, tokens.dtype());
  const std::size_t es = dtype_size(tokens.dtype());
  if (end > begin)
    std::memcpy(out.raw_data(), static_cast<const char*>(tokens.raw_data()) + static_cast<std::size_t>(begin) * es,
                static_cast<std::size_t>(end - begin) * es);
  return out;
}

/// Copies `width` tokens from position `from` of `tokens` into row `row` of `out` [rows, width].
void copy_window(const Tensor& tokens, std::int64_t from, Tensor& out, std::int64_t row, std::int64_t width) {
  const std::size_t es = dtype_size(tokens.dtype()), n = static_cast<std::size_t>(width) * es;
  std::memcpy(static_cast<char*>(out.raw_data()) + static_cast<std::size_t>(row) * n,
              static_cast<const char*>(tokens.raw_data()) + static_cast<std::size_t>(from) * es, n);
}

void check_window(const char* who, std::int64_t batch, std::int64_t time) {
  if (batch < 1 || time < 1)
    throw ValueError(fmt::format("{}: batch and time must be >= 1, got batch {} and time {}", who, batch, time));
}

}  // namespace

// ---------------------------------------------------------------------------- Vocabulary

Vocabulary Vocabulary::characters(std::string_view text) {
  static constexpr const char* who = "Vocabulary::characters";
  if (text.empty()) throw ValueError(fmt::format("{}: the text is empty; a vocabulary needs at least one character", who));
  std::vector<char32_t> seen;
  bool ascii[128] = {};
  for (std::size_t i = 0; i < text.size();) {
    const char32_t c = next_character(who, text, i);
    if (c < 128) ascii[c] = true;  // most characters: no search
    else seen.push_back(c);
  }
  for (char32_t c = 0; c < 128; ++c)
    if (ascii[c]) seen.push_back(c);
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  Vocabulary v;
  v.characters_ = std::move(seen);
  return v;
}

std::int64_t Vocabulary::size() const {
  return is_bytes() ? 256 : static_cast<std::int64_t>(characters_.size());
}

std::string Vocabulary::token(std::int64_t id) const {
  if (id < 0 || id >= size())
    throw ValueError(fmt::format("Vocabulary::token: id {} is outside [0, {})", id, size()));
  std::string s;
  if (is_bytes()) s += static_cast<char>(static_cast<unsigned char>(id));
  else append_utf8(s, characters_[static_cast<std::size_t>(id)]);
  return s;
}

Tensor Vocabulary::encode(std::string_view text, DType dtype) const {
  static constexpr const char* who = "Vocabulary::encode";
  check_token_dtype(who, dtype);
  std::vector<std::int64_t> ids;
  ids.reserve(text.size());
  if (is_bytes()) {
    for (char b : text) ids.push_back(static_cast<unsigned char>(b));
  } else {
    for (std::size_t i = 0; i < text.size();) {
      const std::size_t at = i;
      const char32_t c = next_character(who, text, i);
      const auto it = std::lower_bound(characters_.begin(), characters_.end(), c);
      if (it == characters_.end() || *it != c)
        throw ValueError(fmt::format("{}: the character {} at byte {} is not in the vocabulary of {} characters; build "
                                     "the vocabulary from a text that has it",
                                     who, describe(c), at, characters_.size()));
      ids.push_back(it - characters_.begin());
    }
  }
  const Tensor t = from_vector(ids);
  return dtype == int64 ? t : t.to(dtype);
}

std::string Vocabulary::decode(const Tensor& ids) const {
  static constexpr const char* who = "Vocabulary::decode";
  if (!ids.defined() || (ids.dtype() != int32 && ids.dtype() != int64 && ids.dtype() != uint8))
    throw ValueError(fmt::format("{}: token ids are int32, int64 or uint8, got {}", who,
                                 ids.defined() ? std::string(dtype_name(ids.dtype())) : "an undefined tensor"));
  const std::vector<std::int64_t> v = ids.to_vector<std::int64_t>();
  std::string text;
  text.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0 || v[i] >= size())
      throw ValueError(fmt::format("{}: id {} at position {} (of {} {}) is outside the vocabulary [0, {})", who, v[i],
                                   i, dtype_name(ids.dtype()), ids.shape().str(), size()));
    if (is_bytes()) text += static_cast<char>(static_cast<unsigned char>(v[i]));
    else append_utf8(text, characters_[static_cast<std::size_t>(v[i])]);
  }
  return text;
}

// ---------------------------------------------------------------------------- TokenStream

TokenStream::TokenStream() : tokens_(Tensor::empty(Shape{0}, int64)) {}

TokenStream::TokenStream(Tensor tokens) : tokens_(std::move(tokens)) {
  if (!tokens_.defined() || tokens_.rank() != 1 || (tokens_.dtype() != int32 && tokens_.dtype() != int64))
    throw ValueError(fmt::format("TokenStream: tokens must be an int32 or int64 vector [n], got {}",
                                 tokens_.defined() ? fmt::format("{} {}", dtype_name(tokens_.dtype()),
                                                                 tokens_.shape().str())
                                                   : std::string("an undefined tensor")));
}

Tensor TokenStream::random_windows(std::int64_t batch, std::int64_t time, Generator* generator) const {
  static constexpr const char* who = "TokenStream::random_windows";
  check_window(who, batch, time);
  if (time + 1 > size())
    throw ValueError(fmt::format("{}: a window of time+1 = {} tokens is longer than the stream of {} tokens; use a "
                                 "smaller time or a longer text",
                                 who, time + 1, size()));
  auto& engine = (generator ? *generator : default_generator()).engine();
  const auto starts = static_cast<std::uint64_t>(size() - time);  // [0, size - time - 1]
  Tensor out = Tensor::empty(Shape{batch, time + 1}, dtype());
  for (std::int64_t b = 0; b < batch; ++b)
    copy_window(tokens_, static_cast<std::int64_t>(detail::uniform_below(engine, starts)), out, b, time + 1);
  return out;
}

std::vector<Tensor> TokenStream::sequential_windows(std::int64_t batch, std::int64_t time) const {
  static constexpr const char* who = "TokenStream::sequential_windows";
  check_window(who, batch, time);
  const std::int64_t row = size() / batch;
  if (row < 2)
    throw ValueError(fmt::format("{}: the stream of {} tokens makes {} rows of {} tokens; a row needs at least 2 (an "
                                 "input and its target): use a smaller batch",
                                 who, size(), batch, row));
  std::vector<Tensor> windows;
  for (std::int64_t start = 0; start + 1 < row; start += time) {
    const std::int64_t width = std::min(time, row - 1 - start) + 1;
    Tensor w = Tensor::empty(Shape{batch, width}, dtype());
    for (std::int64_t b = 0; b < batch; ++b) copy_window(tokens_, b * row + start, w, b, width);
    windows.push_back(std::move(w));
  }
  return windows;
}

// ---------------------------------------------------------------------------- text_data

TextData text_data(std::string_view corpus, const TextOptions& options) {
  static constexpr const char* who = "text_data";
  if (corpus.empty())
    throw ValueError(fmt::format("{}: the corpus is empty; a token stream needs text (is the file empty?)", who));
  if (!(options.validation_fraction >= 0.0 && options.validation_fraction < 1.0))
    throw ValueError(fmt::format("{}: validation_fraction must be in [0, 1), got {}", who, options.validation_fraction));
  check_token_dtype(who, options.dtype);
  TextData data;
  if (options.characters) data.vocabulary = Vocabulary::characters(corpus);
  const Tensor tokens = data.vocabulary.encode(corpus, options.dtype);
  const std::int64_t n = tokens.dim(0);
  const auto held_out = static_cast<std::int64_t>(std::floor(options.validation_fraction * static_cast<double>(n)));
  data.train = TokenStream(slice_tokens(tokens, 0, n - held_out));
  data.validation = TokenStream(slice_tokens(tokens, n - held_out, n));
  return data;
}

std::string read_text_file(const std::string& path) {
  static constexpr const char* who = "read_text_file";
  tapeflow::detail::check_no_nul(who, "open", path);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw IOError(fmt::format("{}: '{}' {}", who, path,
                              std::filesystem::exists(path, ec) ? "is not a regular file" : "does not exist"));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError(fmt::format("{}: cannot open '{}': {}", who, path, std::strerror(errno)));
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw IOError(fmt::format("{}: error while reading '{}' after {} bytes", who, path, text.size()));
  return text;
}

// ---------------------------------------------------------------------------- fortunes

namespace fortunes {

namespace {

/// corpus_files for the function `who`.
std::vector<std::string> files_of(const char* who, const std::string& dir_in) {
  namespace fs = std::filesystem;
  static constexpr const char* how =
      "install the Debian package fortunes (apt-get install fortunes), or pass a directory of fortune files";
  const std::string dir = dir_in.empty() ? kDefaultDir : dir_in;
  tapeflow::detail::check_no_nul(who, "open", dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw IOError(fmt::format("{}: the directory {} does not exist; {}", who, dir, how));
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find('.') == std::string::npos && it->is_regular_file(ec)) names.push_back(name);
  }
  if (ec) throw IOError(fmt::format("{}: cannot list the directory {}: {}", who, dir, ec.message()));
  if (names.empty())
    throw IOError(fmt::format("{}: the directory {} holds no fortune files (regular files without a dot in their "
                              "name); {}",
                              who, dir, how));
  std::sort(names.begin(), names.end());
  std::vector<std::string> paths;
  for (const std::string& name : names) paths.push_back((fs::path(dir) / name).string());
  return paths;
}

std::string corpus_of(const char* who, const std::string& dir) {
  std::string corpus;
  for (const std::string& path : files_of(who, dir)) corpus += read_text_file(path);
  return corpus;
}

}  // namespace

std::vector<std::string> corpus_files(const std::string& dir) { return files_of("fortunes::corpus_files", dir); }

std::string read_corpus(const std::string& dir) { return corpus_of("fortunes::read_corpus", dir); }

TextData read_data_sets(const std::string& dir, const TextOptions& options) {
  return text_data(corpus_of("fortunes::read_data_sets", dir), options);
}

}  // namespace fortunes

}  // namespace tapeflow::data
