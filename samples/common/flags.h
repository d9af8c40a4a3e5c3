#pragma once
// Validators of the samples' numeric flags. CLI11's PositiveNumber and NonNegativeNumber are ranges
// up to the largest double, which their error message prints in full (309 digits); these say the
// rule instead: "--epochs: must be > 0, got -1". A NaN fails both.
#include <cmath>
#include <string>

#include <CLI/CLI.hpp>

namespace flags {

namespace detail {
inline CLI::Validator number_check(bool strict, const char* name) {
  return CLI::Validator(
      [strict](std::string& text) -> std::string {
        double v = 0;
        try {
          std::size_t used = 0;
          v = std::stod(text, &used);
          if (used != text.size()) return "must be a number, got '" + text + "'";
        } catch (const std::exception&) {
          return "must be a number, got '" + text + "'";
        }
        if (strict ? v > 0 : v >= 0) return "";
        return std::string(strict ? "must be > 0" : "must be >= 0") + ", got " + text;
      },
      name);
}
}  // namespace detail

/// A number > 0.
inline const CLI::Validator positive = detail::number_check(true, "POSITIVE");
/// A number >= 0.
inline const CLI::Validator non_negative = detail::number_check(false, "NON-NEGATIVE");

}  // namespace flags
