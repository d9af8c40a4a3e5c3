#pragma once
/// Text corpora as token streams for language models (char-rnn, nanoGPT's shakespeare_char): a
/// vocabulary (the 256 bytes, or the characters of the corpus), a train/validation split of the
/// stream, random windows for training and a sequential pass for evaluation; and a loader for
/// the fortune cookies of Debian's `fortunes` package.
///
/// ```
/// auto data = tapeflow::data::fortunes::read_data_sets();       // bytes; the last 10% held out
/// Generator gen(1);
/// Tensor batch = data.train.random_windows(32, 128, &gen);      // int64 [32,129]
/// Tensor inputs = slice(batch, {0, 0}, {-1, 128});              // [32,128]
/// Tensor targets = slice(batch, {0, 1}, {-1, 128});             // [32,128], shifted by one
/// for (const Tensor& window : data.validation.sequential_windows(32, 128)) { ... }
/// std::string text = data.vocabulary.decode(inputs);
/// ```
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tapeflow/generator.h"
#include "tapeflow/tensor.h"

namespace tapeflow::data {

/// Maps text to token ids and back: bytes (the default) or characters.
/// - bytes: 256 tokens, token b is byte b; every text encodes, one token per byte.
/// - characters: the distinct Unicode characters (code points; the text is UTF-8) of the text it
///   was built from, sorted by code point, token i the i-th of them (Python's
///   `sorted(set(text))`); one token per character.
/// Copies are independent values.
class Vocabulary {
 public:
  /// The byte vocabulary.
  Vocabulary() = default;
  static Vocabulary bytes() { return {}; }
  /// The characters of `text` (UTF-8). ValueError for an empty text, or for invalid UTF-8 (naming
  /// the byte offset).
  static Vocabulary characters(std::string_view text);

  bool is_bytes() const { return characters_.empty(); }
  /// 256 for bytes; the number of distinct characters otherwise.
  std::int64_t size() const;
  /// The text of token `id` in [0, size()): one byte, or one character's UTF-8; ValueError outside.
  std::string token(std::int64_t id) const;
  /// The characters, by token id (empty for bytes).
  const std::vector<char32_t>& characters() const { return characters_; }

  /// Token ids of `text`: [n] of `dtype` (int32 or int64), n its bytes or its characters.
  /// ValueError for invalid UTF-8 or a character not in the vocabulary (naming it and its byte
  /// offset), and for another dtype.
  Tensor encode(std::string_view text, DType dtype = int64) const;
  /// The text of token ids (int32/int64/uint8, any shape, read in row-major order). ValueError for
  /// an id outside [0, size()) (naming it and its position) or another dtype.
  std::string decode(const Tensor& ids) const;

 private:
  std::vector<char32_t> characters_;  // sorted; empty for bytes
};

/// A stream of token ids (one split of a corpus) served in windows of consecutive tokens.
/// Copies share the (never modified) tokens.
class TokenStream {
 public:
  /// An empty int64 stream.
  TokenStream();
  /// `tokens`: int32 or int64 [n] (ValueError otherwise).
  explicit TokenStream(Tensor tokens);

  /// All the tokens, [size()].
  const Tensor& tokens() const { return tokens_; }
  std::int64_t size() const { return tokens_.dim(0); }
  DType dtype() const { return tokens_.dtype(); }

  /// Training: [batch, time+1], `batch` windows of time+1 consecutive tokens, each starting at a
  /// position drawn uniformly from [0, size() - time - 1] (independently: windows may overlap)
  /// from `generator` (the default generator when null; tapeflow::manual_seed reseeds that one).
  /// Inputs are [:, :time], targets [:, 1:]. A seed gives the same windows on every platform.
  /// ValueError for batch < 1, time < 1, or time + 1 > size().
  Tensor random_windows(std::int64_t batch, std::int64_t time, Generator* generator = nullptr) const;

  /// Evaluation: the stream cut into `batch` rows of size() / batch consecutive tokens each (the
  /// last size() % batch tokens left out; row b starts at token b * (size() / batch)), walked left
  /// to right in windows [batch, time+1] that overlap by one column (a window's last column is the
  /// next one's first), so that every token of a row but its first is a target exactly once and
  /// row b of one window continues row b of the previous one (state can be carried, as for an
  /// LSTM). When time does not divide the row length - 1, the last window is narrower,
  /// [batch, r+1] with r < time. ValueError for batch < 1, time < 1, or rows of fewer than 2
  /// tokens (size() < 2 batch).
  std::vector<Tensor> sequential_windows(std::int64_t batch, std::int64_t time) const;

 private:
  Tensor tokens_;
};

/// How text_data tokenizes and splits.
struct TextOptions {
  /// Tokens: the corpus's characters (Vocabulary::characters(corpus)) instead of bytes.
  bool characters = false;
  /// The last floor(validation_fraction * n) tokens of the n are held out for validation; in
  /// [0, 1) (ValueError otherwise).
  double validation_fraction = 0.1;
  /// The tokens' dtype: int32 or int64 (ValueError otherwise).
  DType dtype = int64;
};

/// A tokenized corpus: its vocabulary and the two splits.
struct TextData {
  Vocabulary vocabulary;
  TokenStream train;       // the first tokens of the stream
  TokenStream validation;  // the last ones
};

/// Tokenizes `corpus` and splits the stream: train the first n - floor(fraction n) tokens,
/// validation the rest. A character vocabulary is built from the whole corpus (so that both splits
/// encode). ValueError for an empty corpus, invalid options, or invalid UTF-8 with characters.
TextData text_data(std::string_view corpus, const TextOptions& options = {});

/// The bytes of the file at `path`. IOError naming it when it is missing, not a regular file, or
/// unreadable.
std::string read_text_file(const std::string& path);

namespace fortunes {

/// /usr/share/games/fortunes, where the Debian package `fortunes` installs its texts.
inline constexpr const char* kDefaultDir = "/usr/share/games/fortunes";

/// The corpus files of `dir` (kDefaultDir when empty): the regular files whose names have no dot
/// (the texts; their ".dat" indexes and ".u8" links are left out), as paths, sorted by name.
/// IOError when `dir` is not a directory (naming it and the package to install) or holds no such
/// file.
std::vector<std::string> corpus_files(const std::string& dir = "");

/// The corpus files' contents concatenated in that order: about 2.5 MB of English text (2576674
/// bytes from 43 files in Debian 12's fortunes 1:1.99.1-7.3). IOError as corpus_files, or for a
/// file that cannot be read.
std::string read_corpus(const std::string& dir = "");

/// text_data(read_corpus(dir), options).
TextData read_data_sets(const std::string& dir = "", const TextOptions& options = {});

}  // namespace fortunes

}  // namespace tapeflow::data
