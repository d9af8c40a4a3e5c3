// einsum, lowered to transpose, reshape, reduce_sum and matmul (TensorFlow 1.x's tf.einsum was
// such a composite too): the operands are contracted two at a time from the left. In each pair a
// letter is a batch dimension (in both operands and still needed after), contracted (in both, not
// needed after), or free (in one operand only); a letter of one operand that is needed neither by
// the other nor after is summed out first. The pair then is one (batched) matmul of
// [batch..., left, contracted] by [batch..., contracted, right].
#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "tapeflow/ops/array.h"
#include "tapeflow/ops/linalg.h"
#include "tapeflow/ops/reduce.h"

#include "core/dispatch.h"

namespace tapeflow {

namespace {

/// A tensor and the letter of each of its dimensions.
struct Term {
  Tensor t;
  std::string letters;
};

bool has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

/// The size of each letter (-1 while unknown), the same in every operand.
struct Sizes {
  std::array<std::int64_t, 128> of;
  Sizes() { of.fill(-1); }
  std::int64_t operator[](char c) const { return of[static_cast<unsigned char>(c)]; }
};

/// The equation's operands' letters and the output's, checked against the inputs.
struct Parsed {
  std::vector<std::string> operands;
  std::string output;
  Sizes sizes;
};

Parsed parse(const std::string& equation, const std::vector<Tensor>& inputs) {
  std::string eq;
  for (char c : equation)
    if (!std::isspace(static_cast<unsigned char>(c))) eq += c;
  const std::size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  Parsed p;
  for (std::size_t start = 0;;) {
    const std::size_t comma = lhs.find(',', start);
    p.operands.push_back(lhs.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (p.operands.size() != inputs.size())
    throw ValueError(fmt::format("einsum: '{}' has {} operand{} but {} tensor{} were given", equation,
                                 p.operands.size(), p.operands.size() == 1 ? "" : "s", inputs.size(),
                                 inputs.size() == 1 ? "" : "s"));
  auto check_letters = [&](const std::string& letters, const std::string& what) {
    for (std::size_t i = 0; i < letters.size(); ++i) {
      const char c = letters[i];
      if (c == '.')
        throw ValueError(fmt::format("einsum: '...' in '{}': broadcast dimensions are not part of tapeflow's einsum; "
                                     "name each dimension with a letter",
                                     equation));
      if (!std::isalpha(static_cast<unsigned char>(c)))
        throw ValueError(fmt::format("einsum: '{}' in '{}' is not a letter; name each dimension with a letter (a-z, "
                                     "A-Z), operands separated by ',' and the output after '->'",
                                     c, equation));
      if (letters.find(c) != i)
        throw ValueError(fmt::format("einsum: '{}' appears twice in {} '{}' of '{}'; each letter at most once per "
                                     "operand (diagonals are not supported)",
                                     c, what, letters, equation));
    }
  };
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const std::string& letters = p.operands[k];
    check_letters(letters, fmt::format("operand {}", k));
    detail::check_defined("einsum", inputs[k]);
    detail::check_floating("einsum", inputs[k]);
    const Shape& s = inputs[k].shape();
    if (static_cast<int>(letters.size()) != s.rank())
      throw ShapeError(fmt::format("einsum: operand {} '{}' names {} dimensions but its tensor is {} (rank {}), in '{}'",
                                   k, letters, letters.size(), s.str(), s.rank(), equation));
    for (int i = 0; i < s.rank(); ++i) {
      std::int64_t& size = p.sizes.of[static_cast<unsigned char>(letters[static_cast<std::size_t>(i)])];
      if (size >= 0 && s[i] >= 0 && size != s[i]) {
        std::size_t other = 0;  // the operand that gave the size
        while (!has(p.operands[other], letters[static_cast<std::size_t>(i)]) ||
               inputs[other].shape()[static_cast<int>(p.operands[other].find(letters[static_cast<std::size_t>(i)]))] != size)
          ++other;
        throw ShapeError(fmt::format("einsum: dimension '{}' is {} in operand {} {} but {} in operand {} {}, in '{}'",
                                     letters[static_cast<std::size_t>(i)], size, other, inputs[other].shape().str(),
                                     s[i], k, s.str(), equation));
      }
      if (size < 0) size = s[i];
    }
  }
  if (arrow != std::string::npos) {
    p.output = eq.substr(arrow + 2);
    check_letters(p.output, "the output");
    for (char c : p.output)
      if (std::none_of(p.operands.begin(), p.operands.end(), [c](const std::string& o) { return has(o, c); }))
        throw ValueError(fmt::format("einsum: output letter '{}' of '{}' is in no operand", c, equation));
  } else {  // numpy's implicit output: the letters that appear once, in alphabetical (ASCII) order
    std::array<int, 128> count{};
    for (const std::string& o : p.operands)
      for (char c : o) ++count[static_cast<unsigned char>(c)];
    for (int c = 0; c < 128; ++c)
      if (count[static_cast<std::size_t>(c)] == 1) p.output += static_cast<char>(c);
  }
  return p;
}

/// x summed over its letters that `keep` lacks.
Term sum_out(Term x, const std::string& keep) {
  Axes axes;
  std::string rest;
  for (std::size_t i = 0; i < x.letters.size(); ++i) {
    if (has(keep, x.letters[i])) rest += x.letters[i];
    else axes.push_back(static_cast<int>(i));
  }
  if (!axes.empty()) x = {reduce_sum(x.t, axes), rest};
  return x;
}

/// x's dimensions in the order of `order` (a permutation of its letters).
Tensor arrange(const Term& x, const std::string& order) {
  if (x.letters == order) return x.t;
  std::vector<int> perm;
  for (char c : order) perm.push_back(static_cast<int>(x.letters.find(c)));
  return transpose(x.t, perm);
}

/// t [batch..., g1..., g2...] (g1 = `first` letters, g2 = `second`) as [batch..., prod g1,
/// prod g2]; an unknown size makes its product -1.
Tensor merge(const Tensor& t, std::size_t batch, const std::string& first, const std::string& second,
             const Sizes& sizes) {
  if (first.size() == 1 && second.size() == 1) return t;
  Shape target;
  for (std::size_t i = 0; i < batch; ++i) target.push_back(t.shape()[static_cast<int>(i)]);
  for (const std::string* group : {&first, &second}) {
    std::int64_t product = 1;
    for (char c : *group) product = product < 0 || sizes[c] < 0 ? -1 : product * sizes[c];
    target.push_back(product);
  }
  return reshape(t, target);
}

/// a and b contracted into one term, with the letters `keep` still needed after.
Term contract(Term a, Term b, const std::string& keep, const Sizes& sizes) {
  a = sum_out(a, b.letters + keep);
  b = sum_out(b, a.letters + keep);
  std::string batch, contracted, left, right;
  for (char c : a.letters) {
    if (!has(b.letters, c)) left += c;
    else if (has(keep, c)) batch += c;
    else contracted += c;
  }
  for (char c : b.letters)
    if (!has(a.letters, c)) right += c;
  // Each operand as it is when only the transpose flag of its last two groups differs.
  std::string a_order = batch + left + contracted, b_order = batch + contracted + right;
  const bool ta = a.letters != a_order && a.letters == batch + contracted + left;
  const bool tb = b.letters != b_order && b.letters == batch + right + contracted;
  if (ta) a_order = a.letters;
  if (tb) b_order = b.letters;
  Tensor am = merge(arrange(a, a_order), batch.size(), ta ? contracted : left, ta ? left : contracted, sizes);
  Tensor bm = merge(arrange(b, b_order), batch.size(), tb ? right : contracted, tb ? contracted : right, sizes);
  Tensor c = matmul(am, bm, ta, tb);  // [batch..., prod left, prod right]
  if (left.size() != 1 || right.size() != 1) {
    Shape target;
    for (std::size_t i = 0; i < batch.size(); ++i) target.push_back(c.shape()[static_cast<int>(i)]);
    for (char l : left + right) target.push_back(sizes[l]);
    c = reshape(c, target);
  }
  return {c, batch + left + right};
}

}  // namespace

Tensor einsum(const std::string& equation, const std::vector<Tensor>& inputs) {
  if (inputs.empty()) throw ValueError(fmt::format("einsum: '{}' needs at least one tensor", equation));
  const Parsed p = parse(equation, inputs);
  Term acc{inputs[0], p.operands[0]};
  for (std::size_t k = 1; k < inputs.size(); ++k) {
    std::string keep = p.output;  // what the output and the operands after k need
    for (std::size_t later = k + 1; later < inputs.size(); ++later) keep += p.operands[later];
    acc = contract(acc, {inputs[k], p.operands[k]}, keep, p.sizes);
  }
  return arrange(sum_out(acc, p.output), p.output);
}

}  // namespace tapeflow
