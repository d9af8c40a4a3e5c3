#pragma once
// Internal: the check every reader and writer makes before it hands a path to the system, which
// would cut the path at a NUL byte (one from a corrupt index file, say) and open another file or
// create another directory; and paths as error messages print them.
#include <string>
#include <string_view>

namespace tapeflow::detail {

/// `text` as it can be printed: a NUL byte shows as \0.
std::string printable(std::string_view text);

/// IOError "<who>: cannot <action> '<path>': the path holds a NUL byte (at offset N); is it from a
/// corrupt file?" when `path` holds one.
void check_no_nul(std::string_view who, std::string_view action, std::string_view path);

}  // namespace tapeflow::detail
