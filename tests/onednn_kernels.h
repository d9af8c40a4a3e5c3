#pragma once
// The float kernels (products and convolutions) set to oneDNN's for a test, where tapeflow is
// built with it.
#include <boost/test/unit_test.hpp>

#include <string>

#include "ops/kernels.h"
#include "tapeflow/error.h"

namespace tft {

/// oneDNN's kernels for its lifetime, then the kernel in use before. `available` is false in a
/// build without oneDNN (where set_gemm_kernel's message is checked).
class OneDnnKernels {
 public:
  OneDnnKernels() : before_(tapeflow::detail::gemm_kernel()) {
    try {
      tapeflow::detail::set_gemm_kernel(tapeflow::detail::GemmKernel::onednn);
      available = true;
    } catch (const tapeflow::ValueError& e) {
      BOOST_TEST(std::string(e.what()).find("built without oneDNN") != std::string::npos);
    }
  }
  ~OneDnnKernels() { tapeflow::detail::set_gemm_kernel(before_); }
  OneDnnKernels(const OneDnnKernels&) = delete;
  OneDnnKernels& operator=(const OneDnnKernels&) = delete;

  bool available = false;

 private:
  tapeflow::detail::GemmKernel before_;
};

}  // namespace tft
