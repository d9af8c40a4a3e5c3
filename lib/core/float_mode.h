#pragma once
// Internal: the float mode of the threads that run tapeflow's kernels (see set_flush_denormal).

namespace tapeflow::detail {

/// Puts the calling thread in the flush-denormal mode chosen (cheap when it already is).
void apply_float_mode();

}  // namespace tapeflow::detail
