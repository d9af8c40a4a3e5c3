// conv2d's float kernels in oneDNN's convolution primitives (Debian's libdnnl-dev).
//
// Why: oneDNN's direct convolutions (JIT kernels chosen for the CPU at run time) read the input
// where it lies, where im2col + GEMM first copies every input value kh*kw times. On the samples'
// layers (AMD EPYC with AVX-512, 2 threads, docs/performance.md) the forward pass ran 1.3-2.7x
// as fast as ours, the filter gradient 1.4-2.9x, and the input gradient as fast with 20 input
// channels and 1.3x with 32 (3.4x slower with one).
//
// How, so that only the speed changes: the images are cut into FixedRuns (as many as the CPUs
// the process may use, never the threads in use), and each run is one oneDNN call on its images,
// on one thread, inside our team. So the team follows the machine's load (threads_in_use), and
// no result depends on the number of threads: an image's output and input gradient are computed
// by one call whatever the others, and the filter gradient is the runs' partial gradients added
// in run order. The primitives (one per run size: at most two per convolution and pass) are made
// once, for one thread, and kept.
//
// Where oneDNN would itself lower the convolution to im2col + GEMM ("gemm" implementations) or
// to its reference loops, ours (the same im2col + oneDNN's sgemm) runs instead.
#include "nn/conv_onednn.h"

#ifdef TAPEFLOW_WITH_DNNL

#include <algorithm>
#include <compare>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "tapeflow/error.h"

namespace tapeflow::nn::detail {
namespace {

namespace td = tapeflow::detail;
using tag = dnnl::memory::format_tag;
constexpr auto f32 = dnnl::memory::data_type::f32;

enum class Pass { forward, input_grad, filter_grad };

/// What a primitive depends on: the pass, the sizes (n: the images of one run) and the fused ops.
struct Key {
  Pass pass;
  ConvSizes sizes;
  bool bias, relu;
  auto operator<=>(const Key&) const = default;
};

Key key_of(Pass pass, ConvSizes s, std::int64_t images, bool bias, bool relu) {
  s.n = images;
  return {pass, s, bias, relu};
}

/// One primitive for one run's images, with the memory layouts it reads and writes.
struct Made {
  dnnl::primitive primitive;
  dnnl::memory::desc input, output, weights, bias, scratch;  // weights: the filter (or its gradient), its layout
  dnnl::memory::desc hwio;                                    // the filter as tapeflow stores it
  dnnl::reorder reorder;  // hwio -> weights (forward, input gradient), weights -> hwio (filter gradient)
  /// Whether the primitive's filter layout is not tapeflow's (then `reorder` converts).
  bool reordered() const { return weights != hwio; }
};

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

/// A stream for each thread that calls oneDNN (a CPU stream runs the primitive on that thread).
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

/// The primitive for `key`, or null where oneDNN has none, or only one we do not use.
std::shared_ptr<const Made> make(const Key& key) {
  const ConvSizes& k = key.sizes;
  const td::OnThisThreadOnly serial;  // made for one thread: it then runs on the one that calls it
  const dnnl::memory::dims weights{k.oc, k.c, k.kh, k.kw}, strides{k.sh, k.sw}, pad_l{k.pad_top, k.pad_left};
  // The padding after the last row and column; with VALID padding the input's last rows may go
  // unread, which is no padding (oneDNN rounds the output size down as we do).
  const dnnl::memory::dims pad_r{std::max<std::int64_t>(0, (k.oh - 1) * k.sh + k.kh - k.h - k.pad_top),
                                 std::max<std::int64_t>(0, (k.ow - 1) * k.sw + k.kw - k.w - k.pad_left)};
  auto made = std::make_shared<Made>();
  made->input = dnnl::memory::desc({k.n, k.c, k.h, k.w}, f32, tag::nhwc);
  made->output = dnnl::memory::desc({k.n, k.oc, k.oh, k.ow}, f32, tag::nhwc);
  made->hwio = dnnl::memory::desc(weights, f32, tag::hwio);
  if (key.bias) made->bias = dnnl::memory::desc({k.oc}, f32, tag::a);
  const dnnl::memory::desc any(weights, f32, tag::any);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // each thread's own buffer (below)
  try {
    const dnnl::convolution_forward::desc forward(dnnl::prop_kind::forward_training,
                                                  dnnl::algorithm::convolution_direct, made->input, any, made->bias,
                                                  made->output, strides, pad_l, pad_r);
    std::string impl;
    // The primitive of a descriptor, the layout of the filter it reads or writes, its scratchpad.
    auto adopt = [&](const auto& pd, dnnl::primitive primitive, const dnnl::memory::desc& weights) {
      made->primitive = std::move(primitive);
      made->weights = weights;
      made->scratch = pd.scratchpad_desc();
      impl = pd.impl_info_str();
    };
    if (key.pass == Pass::forward) {
      dnnl::primitive_attr with_relu = attr;
      if (key.relu) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
        with_relu.set_post_ops(ops);
      }
      const dnnl::convolution_forward::primitive_desc pd(forward, with_relu, engine());
      adopt(pd, dnnl::convolution_forward(pd), pd.weights_desc());
    } else {
      const dnnl::convolution_forward::primitive_desc hint(forward, engine());
      if (key.pass == Pass::input_grad) {
        const dnnl::convolution_backward_data::primitive_desc pd(
            {dnnl::algorithm::convolution_direct, made->input, any, made->output, strides, pad_l, pad_r}, attr,
            engine(), hint);
        adopt(pd, dnnl::convolution_backward_data(pd), pd.weights_desc());
      } else {
        const dnnl::convolution_backward_weights::primitive_desc pd(
            {dnnl::algorithm::convolution_direct, made->input, any, made->output, strides, pad_l, pad_r}, attr,
            engine(), hint);
        adopt(pd, dnnl::convolution_backward_weights(pd), pd.diff_weights_desc());
      }
    }
    if (impl.find("gemm") != std::string::npos || impl.find("ref") != std::string::npos) return nullptr;
    if (made->reordered()) {
      const bool to_primitive = key.pass != Pass::filter_grad;
      made->reorder = to_primitive ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), made->hwio, engine(), made->weights))
                                   : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), made->weights, engine(), made->hwio));
    }
  } catch (const dnnl::error&) {
    return nullptr;  // no implementation for these sizes
  }
  return made;
}

/// The primitive for `key`, made the first time it is asked for and kept (a training loop asks
/// for the same few again and again); null where oneDNN is not used for it.
std::shared_ptr<const Made> primitive_for(const Key& key) {
  // Enough for every layer of a large model in every pass; past it, start again.
  constexpr std::size_t kKept = 512;
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const Made>> kept;
  const std::lock_guard lock(mutex);
  if (auto it = kept.find(key); it != kept.end()) return it->second;
  if (kept.size() >= kKept) kept.clear();
  return kept.emplace(key, make(key)).first->second;
}

/// A float buffer, grown as needed and kept: each thread's scratchpad, or a filter in the
/// primitive's layout.
float* grown(std::vector<float>& buffer, std::size_t bytes) {
  const std::size_t n = bytes / sizeof(float) + 1;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

dnnl::memory view(const dnnl::memory::desc& desc, const float* data) {
  return dnnl::memory(desc, engine(), const_cast<float*>(data));
}

/// The images of one convolution cut into runs, with each run's primitive.
class Runs {
 public:
  Runs(Pass pass, const ConvSizes& s, bool bias, bool relu) : runs_(s.n) {
    for (std::int64_t r = 0; r < runs_.count && ok_; ++r) {
      made_.push_back(primitive_for(key_of(pass, s, images(r), bias, relu)));
      ok_ = made_.back() != nullptr;
    }
  }
  /// Whether every run has a oneDNN primitive.
  bool ok() const { return ok_; }
  std::int64_t count() const { return runs_.count; }
  void add(const float* partials, std::int64_t size, float* out) const { runs_.add(partials, size, out); }
  std::int64_t first_image(std::int64_t run) const { return runs_.begin(run); }
  std::int64_t images(std::int64_t run) const { return runs_.end(run) - runs_.begin(run); }
  const Made& made(std::int64_t run) const { return *made_[static_cast<std::size_t>(run)]; }

  /// Runs run(r, made) for every run, the runs shared out to the threads in use, each on one
  /// thread. A failure (oneDNN's, or a buffer that could not grow) cannot leave an OpenMP region:
  /// the first is kept and thrown after all runs have ended, oneDNN's as an Error naming the pass.
  template <class F>
  void execute(const char* what, const ConvSizes& s, F&& run) const {
    std::mutex mutex;
    std::exception_ptr failure;
    td::parallel_for(count(), count() > 1, [&](std::int64_t r0, std::int64_t r1) {
      const td::OnThisThreadOnly serial;
      for (std::int64_t r = r0; r < r1; ++r) {
        try {
          run(r, made(r));
        } catch (...) {
          const std::lock_guard lock(mutex);
          if (!failure) failure = std::current_exception();
        }
      }
    });
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const dnnl::error& e) {
      throw Error(fmt::format("conv2d: oneDNN's {} failed ({}) for the input [{}, {}, {}, {}] and the filter "
                              "[{}, {}, {}, {}]; TAPEFLOW_GEMM=eigen runs tapeflow's own kernels instead",
                              what, e.what(), s.n, s.h, s.w, s.c, s.kh, s.kw, s.c, s.oc));
    }
  }

  /// The filter in the layout of each run's primitive: `f` itself where that is HWIO, else a
  /// reordered copy (made once per layout, before the runs).
  std::vector<const float*> filters(const float* f, std::vector<std::vector<float>>& copies) const {
    std::vector<const float*> out;
    const td::OnThisThreadOnly serial;
    for (std::int64_t r = 0; r < count(); ++r) {
      const Made& m = made(r);
      if (!m.reordered()) {
        out.push_back(f);
        continue;
      }
      if (r > 0 && made(r - 1).weights == m.weights) {
        out.push_back(out.back());
        continue;
      }
      copies.emplace_back(m.weights.get_size() / sizeof(float) + 1);
      dnnl::memory from = view(m.hwio, f), to = view(m.weights, copies.back().data());
      m.reorder.execute(stream(), from, to);
      out.push_back(copies.back().data());
    }
    return out;
  }

 private:
  td::FixedRuns runs_;
  std::vector<std::shared_ptr<const Made>> made_;
  bool ok_ = true;
};

/// Whether oneDNN computes this convolution's passes: float products are oneDNN's (the one
/// switch, TAPEFLOW_GEMM), and every core has an image (a run of none would leave a core idle
/// where our kernels share out the rows of one image).
bool wanted(const ConvSizes& s) {
  if (td::gemm_kernel() != td::GemmKernel::onednn) return false;
  if (s.n < td::FixedRuns::cores() || s.oh == 0 || s.ow == 0 || s.c == 0 || s.oc == 0) return false;
  // A plain product ours computes with oneDNN's sgemm, split between the threads.
  return !s.patches_are_input();
}

float* scratchpad(const Made& m) {
  thread_local std::vector<float> buffer;
  return grown(buffer, m.scratch.get_size());
}

}  // namespace

bool onednn_conv_forward(const ConvSizes& s, const float* x, const float* f, const float* bias, float* y,
                         td::Epilogue epilogue) {
  if (!wanted(s)) return false;
  const Runs runs(Pass::forward, s, bias != nullptr, epilogue == td::Epilogue::relu);
  if (!runs.ok()) return false;
  std::vector<std::vector<float>> copies;
  const std::vector<const float*> filters = runs.filters(f, copies);
  runs.execute("forward convolution", s, [&](std::int64_t r, const Made& m) {
    const std::int64_t i = runs.first_image(r);
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, view(m.input, x + i * s.input_image())},
        {DNNL_ARG_WEIGHTS, view(m.weights, filters[static_cast<std::size_t>(r)])},
        {DNNL_ARG_DST, view(m.output, y + i * s.output_image())},
        {DNNL_ARG_SCRATCHPAD, view(m.scratch, scratchpad(m))}};
    if (bias) args.emplace(DNNL_ARG_BIAS, view(m.bias, bias));
    m.primitive.execute(stream(), args);
  });
  return true;
}

bool onednn_conv_input_grad(const ConvSizes& s, const float* dy, const float* f, float* dx) {
  // Measured slower than ours below 16 input channels (oneDNN's kernels work on blocks of 16).
  if (!wanted(s) || s.c < 16) return false;
  const Runs runs(Pass::input_grad, s, false, false);
  if (!runs.ok()) return false;
  std::vector<std::vector<float>> copies;
  const std::vector<const float*> filters = runs.filters(f, copies);
  runs.execute("convolution input gradient", s, [&](std::int64_t r, const Made& m) {
    const std::int64_t i = runs.first_image(r);
    m.primitive.execute(stream(), {{DNNL_ARG_DIFF_DST, view(m.output, dy + i * s.output_image())},
                                   {DNNL_ARG_WEIGHTS, view(m.weights, filters[static_cast<std::size_t>(r)])},
                                   {DNNL_ARG_DIFF_SRC, view(m.input, dx + i * s.input_image())},
                                   {DNNL_ARG_SCRATCHPAD, view(m.scratch, scratchpad(m))}});
  });
  return true;
}

bool onednn_conv_filter_grad(const ConvSizes& s, const float* x, const float* dy, float* df) {
  if (!wanted(s)) return false;
  const Runs runs(Pass::filter_grad, s, false, false);
  if (!runs.ok()) return false;
  const std::int64_t size = s.kh * s.kw * s.c * s.oc;
  // Each run's gradient in HWIO, then their sum in run order.
  std::vector<float> partial(static_cast<std::size_t>(runs.count() * size));
  runs.execute("convolution filter gradient", s, [&](std::int64_t r, const Made& m) {
    const std::int64_t i = runs.first_image(r);
    float* mine = partial.data() + r * size;
    thread_local std::vector<float> native;
    float* out = m.reordered() ? grown(native, m.weights.get_size()) : mine;
    m.primitive.execute(stream(), {{DNNL_ARG_SRC, view(m.input, x + i * s.input_image())},
                                   {DNNL_ARG_DIFF_DST, view(m.output, dy + i * s.output_image())},
                                   {DNNL_ARG_DIFF_WEIGHTS, view(m.weights, out)},
                                   {DNNL_ARG_SCRATCHPAD, view(m.scratch, scratchpad(m))}});
    if (m.reordered()) {
      dnnl::memory from = view(m.weights, out), to = view(m.hwio, mine);
      m.reorder.execute(stream(), from, to);
    }
  });
  runs.add(partial.data(), size, df);
  return true;
}

}  // namespace tapeflow::nn::detail

#else  // without oneDNN: tapeflow's own kernels always

namespace tapeflow::nn::detail {
bool onednn_conv_forward(const ConvSizes&, const float*, const float*, const float*, float*, tapeflow::detail::Epilogue) {
  return false;
}
bool onednn_conv_input_grad(const ConvSizes&, const float*, const float*, float*) { return false; }
bool onednn_conv_filter_grad(const ConvSizes&, const float*, const float*, float*) { return false; }
}  // namespace tapeflow::nn::detail

#endif
