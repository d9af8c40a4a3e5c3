#pragma once
/// The exceptions tapeflow throws. Every message names the op (or node, file, flag), the shapes
/// and values involved, and what to do about it.
#include <stdexcept>
#include <string>

namespace tapeflow {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Incompatible or invalid shapes.
struct ShapeError : Error { using Error::Error; };
/// A dtype an op does not accept, or two dtypes that do not match.
struct DTypeError : Error { using Error::Error; };
/// A bad argument value: an axis out of range, a negative learning rate, ...
struct ValueError : Error { using Error::Error; };
/// Misuse of the tape: backward twice, backward of a non-scalar without a gradient, ...
struct AutogradError : Error { using Error::Error; };
/// A missing, truncated or corrupt file.
struct IOError : Error { using Error::Error; };
/// An allocation the machine cannot give (the message says how many bytes, for what).
struct MemoryError : Error { using Error::Error; };

}  // namespace tapeflow
