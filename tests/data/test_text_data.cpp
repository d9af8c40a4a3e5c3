// data/text.h: vocabularies (bytes, characters), the train/validation split, random and
// sequential windows, the fortunes loader on corpora written here, and on Debian's fortunes when
// it is installed.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "helpers.h"
#include "tapeflow/data/text.h"

using namespace tapeflow;
namespace fs = std::filesystem;
namespace fortunes = tapeflow::data::fortunes;
using data::TextOptions;
using data::TokenStream;
using data::Vocabulary;

namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  BOOST_REQUIRE(f.good());
}

/// A stream whose token at position i is i (int64 0..n-1): a window's values are its positions.
TokenStream positions(std::int64_t n, DType dtype = int64) { return TokenStream(arange(0, n, 1, dtype)); }

/// Checks that every row of `windows` [batch, width] is tokens[s, s + width) for some s, and
/// returns the starts.
std::vector<std::int64_t> starts_of(const Tensor& windows, const TokenStream& stream) {
  const std::vector<std::int64_t> t = stream.tokens().to_vector<std::int64_t>(), w = windows.to_vector<std::int64_t>();
  const auto width = static_cast<std::size_t>(windows.dim(1));
  std::vector<std::int64_t> starts;
  for (std::size_t r = 0; r < w.size() / width; ++r) {
    std::int64_t found = -1;
    for (std::size_t s = 0; found < 0 && s + width <= t.size(); ++s)
      if (std::equal(w.begin() + static_cast<std::ptrdiff_t>(r * width),
                     w.begin() + static_cast<std::ptrdiff_t>((r + 1) * width), t.begin() + static_cast<std::ptrdiff_t>(s)))
        found = static_cast<std::int64_t>(s);
    BOOST_CHECK_MESSAGE(found >= 0, "row " << r << " of the windows is not a slice of the stream");
    starts.push_back(found);
  }
  return starts;
}

struct FortunesPresent {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result present(fs::is_directory(fortunes::kDefaultDir));
    present.message() << "skipped: " << fortunes::kDefaultDir << " is absent (apt-get install fortunes to run this test)";
    return present;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(text_data)

// ---------------------------------------------------------------------------- vocabularies

BOOST_AUTO_TEST_CASE(byte_vocabulary_encodes_every_byte) {
  const Vocabulary v;
  BOOST_TEST(v.is_bytes());
  BOOST_TEST(v.size() == 256);
  const std::string text = std::string("Hi\n\xc3\xa9") + '\0' + "\xff";  // "é" is two bytes; NUL and 0xff too
  Tensor ids = v.encode(text);
  BOOST_TEST(ids.dtype() == int64);
  BOOST_TEST(ids.to_vector<std::int64_t>() == (std::vector<std::int64_t>{72, 105, 10, 0xc3, 0xa9, 0, 255}),
             boost::test_tools::per_element());
  BOOST_TEST(v.decode(ids) == text);
  BOOST_TEST(v.encode(text, int32).dtype() == int32);
  BOOST_TEST(v.decode(v.encode(text, int32)) == text);
  BOOST_TEST(v.token(65) == "A");
  BOOST_TEST(v.decode(reshape(tensor({104, 105, 33, 33}, int32), {2, 2})) == "hi!!");  // row-major
}

BOOST_AUTO_TEST_CASE(character_vocabulary_is_the_sorted_characters_of_the_text) {
  // Python: t = "héllo wörld €🙂"; sorted(set(t)); [sorted(set(t)).index(c) for c in t]
  const std::string text = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac\xf0\x9f\x99\x82";  // "héllo wörld €🙂"
  const Vocabulary v = Vocabulary::characters(text);
  BOOST_TEST(!v.is_bytes());
  const std::vector<std::uint32_t> expected = {U' ', U'd', U'h', U'l', U'o', U'r', U'w', 0xe9, 0xf6, 0x20ac, 0x1F642};
  const std::vector<std::uint32_t> got(v.characters().begin(), v.characters().end());  // char32_t does not print
  BOOST_TEST(got == expected, boost::test_tools::per_element());
  BOOST_TEST(v.size() == 11);
  Tensor ids = v.encode(text);
  BOOST_TEST(ids.shape() == Shape({14}));  // characters, not bytes (21)
  BOOST_TEST(ids.to_vector<std::int64_t>() ==
                 (std::vector<std::int64_t>{2, 7, 3, 3, 4, 0, 6, 8, 5, 3, 1, 0, 9, 10}),
             boost::test_tools::per_element());
  BOOST_TEST(v.decode(ids) == text);
  BOOST_TEST(v.token(7) == "\xc3\xa9");
  BOOST_TEST(v.token(10) == "\xf0\x9f\x99\x82");
}

BOOST_AUTO_TEST_CASE(vocabulary_errors) {
  TF_CHECK_THROWS_WITH(Vocabulary::characters(""), ValueError, "Vocabulary::characters: the text is empty");
  // a lone continuation byte, a truncated sequence, an overlong encoding of '/'
  TF_CHECK_THROWS_WITH(Vocabulary::characters("ab\x80"), ValueError,
                       "Vocabulary::characters: the text is not valid UTF-8 at byte 2 (0x80)", "byte vocabulary");
  TF_CHECK_THROWS_WITH(Vocabulary::characters("abc\xe2\x82"), ValueError, "not valid UTF-8 at byte 3 (0xe2)");
  TF_CHECK_THROWS_WITH(Vocabulary::characters("\xc0\xaf"), ValueError, "not valid UTF-8 at byte 0 (0xc0)");
  const Vocabulary v = Vocabulary::characters("abc");
  TF_CHECK_THROWS_WITH(v.encode("abd"), ValueError,
                       "Vocabulary::encode: the character 'd' (U+0064) at byte 2 is not in the vocabulary of 3 "
                       "characters");
  TF_CHECK_THROWS_WITH(v.encode("a\n"), ValueError, "the character U+000A at byte 1");
  TF_CHECK_THROWS_WITH(v.decode(tensor({0, 3}, int64)), ValueError,
                       "Vocabulary::decode: id 3 at position 1 (of int64 [2]) is outside the vocabulary [0, 3)");
  TF_CHECK_THROWS_WITH(v.decode(tensor({0.0})), ValueError, "Vocabulary::decode", "int32, int64 or uint8, got float32");
  TF_CHECK_THROWS_WITH(v.encode("abc", float32), ValueError, "Vocabulary::encode: tokens are int32 or int64");
  TF_CHECK_THROWS_WITH(v.token(-1), ValueError, "Vocabulary::token: id -1 is outside [0, 3)");
}

// ---------------------------------------------------------------------------- the split

BOOST_AUTO_TEST_CASE(text_data_holds_out_the_last_tenth) {
  std::string corpus;
  for (int i = 0; i < 123; ++i) corpus += static_cast<char>('a' + i % 26);
  const data::TextData d = data::text_data(corpus);
  BOOST_TEST(d.vocabulary.is_bytes());
  BOOST_TEST(d.train.size() == 111);  // 123 - floor(12.3)
  BOOST_TEST(d.validation.size() == 12);
  BOOST_TEST(d.train.dtype() == int64);
  BOOST_TEST(d.vocabulary.decode(d.train.tokens()) == corpus.substr(0, 111));
  BOOST_TEST(d.vocabulary.decode(d.validation.tokens()) == corpus.substr(111));
  // other fractions, int32 tokens, characters
  const data::TextData c = data::text_data(corpus, {.characters = true, .validation_fraction = 0.25, .dtype = int32});
  BOOST_TEST(c.vocabulary.size() == 26);
  BOOST_TEST(c.train.size() == 93);  // 123 - floor(30.75)
  BOOST_TEST(c.validation.size() == 30);
  BOOST_TEST(c.validation.dtype() == int32);
  BOOST_TEST(c.train.tokens().to_vector<std::int64_t>()[27] == 1);  // 'b': the second character
  const data::TextData all = data::text_data(corpus, {.validation_fraction = 0.0});
  BOOST_TEST(all.train.size() == 123);
  BOOST_TEST(all.validation.size() == 0);
  // exactly one tenth of 10 tokens, even though 0.1 * 10 rounds in binary
  BOOST_TEST(data::text_data("0123456789").validation.size() == 1);
}

BOOST_AUTO_TEST_CASE(text_data_errors) {
  TF_CHECK_THROWS_WITH(data::text_data(""), ValueError, "text_data: the corpus is empty");
  TF_CHECK_THROWS_WITH(data::text_data("abc", {.validation_fraction = 1.0}), ValueError,
                       "text_data: validation_fraction must be in [0, 1), got 1");
  TF_CHECK_THROWS_WITH(data::text_data("abc", {.dtype = uint8}), ValueError,
                       "text_data: tokens are int32 or int64, got uint8");
  TF_CHECK_THROWS_WITH(data::text_data("ab\xff", {.characters = true}), ValueError, "not valid UTF-8 at byte 2");
  TF_CHECK_THROWS_WITH(TokenStream(tensor({1.0, 2.0})), ValueError, "TokenStream: tokens must be an int32 or int64 "
                                                                   "vector [n], got float32 [2]");
}

// ---------------------------------------------------------------------------- windows

BOOST_AUTO_TEST_CASE(random_windows_are_slices_of_the_stream) {
  for (DType dt : {int32, int64}) {
    const TokenStream s = positions(200, dt);
    Generator gen(7);
    Tensor w = s.random_windows(16, 9, &gen);
    BOOST_TEST(w.shape() == Shape({16, 10}));
    BOOST_TEST(w.dtype() == dt);
    const std::vector<std::int64_t> v = w.to_vector<std::int64_t>();
    for (std::int64_t r = 0; r < 16; ++r) {
      const std::int64_t start = v[static_cast<std::size_t>(r * 10)];
      BOOST_TEST(start >= 0);
      BOOST_TEST(start <= 190);  // the last start whose window fits: 200 - 10
      for (std::int64_t k = 1; k < 10; ++k) BOOST_TEST(v[static_cast<std::size_t>(r * 10 + k)] == start + k);
    }
  }
  // A text with repeats: every row is found in the stream.
  const data::TextData d = data::text_data("the quick brown fox jumps over the lazy dog; the end", {.validation_fraction = 0});
  Generator gen(1);
  starts_of(d.train.random_windows(8, 5, &gen), d.train);
}

BOOST_AUTO_TEST_CASE(random_windows_reach_every_start_and_no_further) {
  // 12 tokens, windows of 10: starts 0, 1 and 2 only, each drawn about a third of the time.
  const TokenStream s = positions(12);
  Generator gen(3);
  std::vector<int> counts(3, 0);
  for (std::int64_t start : starts_of(s.random_windows(300, 9, &gen), s)) {
    BOOST_TEST((start >= 0 && start <= 2));
    if (start >= 0 && start <= 2) ++counts[static_cast<std::size_t>(start)];
  }
  for (int c : counts) BOOST_TEST((c > 60 && c < 200), "a start was drawn " << c << " times out of 300");
  // time + 1 == size: the one window is the whole stream
  BOOST_TEST(s.random_windows(2, 11, &gen).to_vector<std::int64_t>() ==
                 (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(random_windows_are_reproducible_with_a_seed) {
  const TokenStream s = positions(1000);
  Generator a(42), b(42), c(43);
  const std::vector<std::int64_t> first = s.random_windows(4, 8, &a).to_vector<std::int64_t>();
  BOOST_TEST(first == s.random_windows(4, 8, &b).to_vector<std::int64_t>(), boost::test_tools::per_element());
  BOOST_TEST((first != s.random_windows(4, 8, &c).to_vector<std::int64_t>()));
  // the next draws differ from the first ones; the default generator follows manual_seed
  BOOST_TEST((first != s.random_windows(4, 8, &a).to_vector<std::int64_t>()));
  manual_seed(42);
  BOOST_TEST(first == s.random_windows(4, 8).to_vector<std::int64_t>(), boost::test_tools::per_element());
  // The draws are pinned: mt19937_64 seeded with 42, a start uniform in [0, 992) (rejection
  // sampling from the raw 64-bit outputs), so a platform or library change that moves them fails here.
  std::vector<std::int64_t> starts;
  for (std::size_t r = 0; r < 4; ++r) starts.push_back(first[r * 9]);
  std::mt19937_64 engine(42);
  for (std::size_t r = 0; r < 4; ++r) BOOST_TEST(starts[r] == static_cast<std::int64_t>(engine() % 992));
}

BOOST_AUTO_TEST_CASE(sequential_windows_cover_each_row_once) {
  // 23 tokens in 2 rows of 11 (token 22 left out); time 4: windows of columns [0,5) [4,9) [8,11).
  const TokenStream s = positions(23);
  const std::vector<Tensor> w = s.sequential_windows(2, 4);
  BOOST_REQUIRE_EQUAL(w.size(), 3u);
  BOOST_TEST(w[0].shape() == Shape({2, 5}));
  BOOST_TEST(w[2].shape() == Shape({2, 3}));
  BOOST_TEST(w[0].to_vector<std::int64_t>() == (std::vector<std::int64_t>{0, 1, 2, 3, 4, 11, 12, 13, 14, 15}),
             boost::test_tools::per_element());
  BOOST_TEST(w[1].to_vector<std::int64_t>() == (std::vector<std::int64_t>{4, 5, 6, 7, 8, 15, 16, 17, 18, 19}),
             boost::test_tools::per_element());
  BOOST_TEST(w[2].to_vector<std::int64_t>() == (std::vector<std::int64_t>{8, 9, 10, 19, 20, 21}),
             boost::test_tools::per_element());
  // Every token of a row but its first is a target (columns 1..) exactly once.
  for (std::int64_t batch : {1, 3, 5})
    for (std::int64_t time : {1, 3, 7, 50}) {
      const TokenStream t = positions(101, int32);
      std::multiset<std::int64_t> targets;
      for (const Tensor& win : t.sequential_windows(batch, time)) {
        BOOST_TEST(win.dtype() == int32);
        BOOST_TEST(win.dim(1) <= time + 1);
        const std::vector<std::int64_t> v = win.to_vector<std::int64_t>();
        const auto width = static_cast<std::size_t>(win.dim(1));
        for (std::size_t i = 0; i < v.size(); ++i)
          if (i % width != 0) targets.insert(v[i]);
      }
      const std::int64_t row = 101 / batch;
      std::multiset<std::int64_t> expected;
      for (std::int64_t b = 0; b < batch; ++b)
        for (std::int64_t k = 1; k < row; ++k) expected.insert(b * row + k);
      BOOST_TEST(targets == expected, "batch " << batch << " time " << time);
    }
}

BOOST_AUTO_TEST_CASE(window_errors) {
  const TokenStream s = positions(10);
  TF_CHECK_THROWS_WITH(s.random_windows(2, 10), ValueError,
                       "TokenStream::random_windows: a window of time+1 = 11 tokens is longer than the stream of 10 "
                       "tokens",
                       "smaller time");
  TF_CHECK_THROWS_WITH(TokenStream().random_windows(1, 1), ValueError, "time+1 = 2", "stream of 0 tokens");
  TF_CHECK_THROWS_WITH(s.random_windows(0, 3), ValueError, "batch and time must be >= 1, got batch 0 and time 3");
  TF_CHECK_THROWS_WITH(s.sequential_windows(2, 0), ValueError, "TokenStream::sequential_windows",
                       "got batch 2 and time 0");
  TF_CHECK_THROWS_WITH(s.sequential_windows(6, 4), ValueError,
                       "TokenStream::sequential_windows: the stream of 10 tokens makes 6 rows of 1 tokens",
                       "use a smaller batch");
}

// ---------------------------------------------------------------------------- files and fortunes

BOOST_AUTO_TEST_CASE(fortunes_corpus_is_the_dotless_files_in_name_order) {
  tft::TempDir dir("fortunes");
  write_file(dir.file("people"), "Later.\n%\n");
  write_file(dir.file("art"), "First.\n%\n");
  write_file(dir.file("art.dat"), "an index, left out");
  fs::create_symlink(dir.file("art"), dir.file("art.u8"));
  fs::create_directory(dir.file("subdir"));
  const std::vector<std::string> files = fortunes::corpus_files(dir.path.string());
  BOOST_TEST(files == (std::vector<std::string>{dir.file("art"), dir.file("people")}), boost::test_tools::per_element());
  BOOST_TEST(fortunes::read_corpus(dir.path.string()) == "First.\n%\nLater.\n%\n");
  const data::TextData d = fortunes::read_data_sets(dir.path.string(), {.validation_fraction = 0.5});
  BOOST_TEST(d.vocabulary.decode(d.train.tokens()) == "First.\n%\n");
  BOOST_TEST(d.vocabulary.decode(d.validation.tokens()) == "Later.\n%\n");
  BOOST_TEST(data::read_text_file(dir.file("people")) == "Later.\n%\n");
}

BOOST_AUTO_TEST_CASE(fortunes_and_file_errors) {
  tft::TempDir dir("fortunes_errors");
  const std::string missing = dir.file("nowhere");
  TF_CHECK_THROWS_WITH(fortunes::read_data_sets(missing), IOError,
                       "fortunes::read_data_sets: the directory " + missing + " does not exist",
                       "install the Debian package fortunes (apt-get install fortunes)");
  TF_CHECK_THROWS_WITH(fortunes::read_corpus(missing), IOError, "fortunes::read_corpus: the directory " + missing);
  write_file(dir.file("only.dat"), "x");
  TF_CHECK_THROWS_WITH(fortunes::corpus_files(dir.path.string()), IOError,
                       "fortunes::corpus_files: the directory " + dir.path.string() + " holds no fortune files",
                       "apt-get install fortunes");
  write_file(dir.file("empty"), "");
  TF_CHECK_THROWS_WITH(fortunes::read_data_sets(dir.path.string()), ValueError, "text_data: the corpus is empty");
  TF_CHECK_THROWS_WITH(data::read_text_file(missing), IOError, "read_text_file: '" + missing + "' does not exist");
  TF_CHECK_THROWS_WITH(data::read_text_file(dir.path.string()), IOError, "is not a regular file");
}

BOOST_AUTO_TEST_CASE(debian_fortunes_corpus, *boost::unit_test::precondition(FortunesPresent())) {
  const std::vector<std::string> files = fortunes::corpus_files();
  BOOST_TEST(files.size() > 30u);
  BOOST_TEST(std::is_sorted(files.begin(), files.end()));
  for (const std::string& f : files) BOOST_TEST(fs::path(f).filename().string().find('.') == std::string::npos);
  const std::string corpus = fortunes::read_corpus();
  BOOST_TEST(corpus.size() > 2'000'000u);  // 2576674 bytes in Debian 12
  BOOST_TEST(corpus.find("\n%\n") != std::string::npos);  // the fortune separator
  const data::TextData bytes = fortunes::read_data_sets();
  const auto n = static_cast<std::int64_t>(corpus.size());
  BOOST_TEST(bytes.validation.size() == static_cast<std::int64_t>(std::floor(0.1 * static_cast<double>(n))));
  BOOST_TEST(bytes.train.size() + bytes.validation.size() == n);
  Generator gen(1);
  const Tensor w = bytes.train.random_windows(4, 64, &gen);
  BOOST_TEST(w.shape() == Shape({4, 65}));
  const std::string row = bytes.vocabulary.decode(slice(w, {0, 0}, {1, 65}));
  BOOST_TEST(corpus.find(row) != std::string::npos);
  // The character vocabulary: valid UTF-8, about a hundred characters, decoding back to the text.
  const data::TextData chars = fortunes::read_data_sets("", {.characters = true});
  BOOST_TEST(chars.vocabulary.size() > 90);
  BOOST_TEST(chars.vocabulary.size() < 256);
  BOOST_TEST(chars.vocabulary.decode(chars.train.tokens()) + chars.vocabulary.decode(chars.validation.tokens()) ==
             corpus);
}

BOOST_AUTO_TEST_SUITE_END()
