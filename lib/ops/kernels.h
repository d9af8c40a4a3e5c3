#pragma once
// Internal: the loops shared by the element-wise kernels (broadcasting, chunked OpenMP, Eigen maps).
#include <algorithm>
#include <vector>

#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/dispatch.h"
#include "core/load.h"
#include "tapeflow/autograd.h"
#include "core/float_mode.h"
#include "tapeflow/threads.h"

namespace tapeflow::detail {

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

template <class T> ArrayMap<T> amap(Tensor& t) { return ArrayMap<T>(t.data<T>(), t.numel()); }
template <class T> ConstArrayMap<T> amap(const Tensor& t) { return ConstArrayMap<T>(t.data<T>(), t.numel()); }

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// C[m,n] = op(A)·op(B), all row-major; op transposes when asked. With `accumulate`, C += op(A)·op(B)
/// instead: Eigen's GEMM always accumulates, so an assignment costs a zero fill of C first, which
/// a caller that has something to start from (a bias) saves. Large products are split between
/// the threads; inside an OpenMP parallel region a product runs on the calling thread. Defined
/// (for float and double) in gemm.cpp.
///
/// `epilogue` is applied to the result as each thread's share of it is done, while it is in cache:
/// nothing, or max(0, ·) (a ReLU fused into the product: TensorFlow's fused_ops "Relu").
enum class Epilogue { none, relu };
template <class T>
void gemm(const T* a, const T* b, T* c, std::int64_t m, std::int64_t k, std::int64_t n, bool ta, bool tb,
          bool accumulate = false, Epilogue epilogue = Epilogue::none);
extern template void gemm<float>(const float*, const float*, float*, std::int64_t, std::int64_t, std::int64_t,
                                 bool, bool, bool, Epilogue);
extern template void gemm<double>(const double*, const double*, double*, std::int64_t, std::int64_t,
                                  std::int64_t, bool, bool, bool, Epilogue);

/// The kernel that computes each thread's share of a float product: oneDNN's sgemm (the default
/// where tapeflow is built with oneDNN) or Eigen's (the default otherwise; always for double).
/// TAPEFLOW_GEMM=eigen or onednn chooses when the library loads. The same switch chooses the
/// float convolutions' kernels: oneDNN's primitives (nn/conv_onednn.h) or im2col + the product.
/// Both give results that do not depend on the number of threads; they differ by rounding.
enum class GemmKernel { eigen, onednn };
GemmKernel gemm_kernel();
void set_gemm_kernel(GemmKernel kernel);
const char* gemm_kernel_name();

/// op(B) [k, n] packed once for Eigen's GEMM kernel, for many products op(A)[m, k] · op(B) with
/// the same B and m (an RNN's recurrent weight, multiplied at every time step): where gemm packs
/// B again at each call, `multiply` packs only A. The columns are split between the threads at
/// construction, each share packed on its own. Defined (for float and double) in gemm.cpp.
template <class T>
class PackedRhs {
 public:
  /// b is [k, n] row-major, or [n, k] read transposed when `tb`; m: the rows of the A's to come.
  PackedRhs(const T* b, std::int64_t k, std::int64_t n, bool tb, std::int64_t m);
  ~PackedRhs();
  PackedRhs(const PackedRhs&) = delete;
  PackedRhs& operator=(const PackedRhs&) = delete;

  /// C[m, n] = A[m, k] · op(B) (row-major), or += with `accumulate`; A has the m rows given at
  /// construction.
  void multiply(const T* a, T* c, bool accumulate) const;

 private:
  struct Share;
  std::int64_t k_, n_, m_;
  std::vector<Share> shares_;
};
extern template class PackedRhs<float>;
extern template class PackedRhs<double>;

/// Each of the rows [begin, end) of out [rows, n] set to bias [n].
template <class T>
void fill_rows(T* out, const T* bias, std::int64_t begin, std::int64_t end, std::int64_t n) {
  // Eigen's broadcast rather than a copy per row: rows are often short (a convolution's 20
  // channels), where a memcpy call per row costs more than the copy.
  Eigen::Map<RowMat<T>>(out + begin * n, end - begin, n).rowwise() =
      Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias, n);
}

/// The most threads an OpenMP team of ours can have.
inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// `items` cut into a fixed number of contiguous runs: the CPUs the process may use, never the
/// threads in use. A sum taken run by run, then over the runs in run order, is the same whatever
/// the number of threads (and the load) when it runs.
struct FixedRuns {
  explicit FixedRuns(std::int64_t items) : items_(items) {
    count = std::max<std::int64_t>(1, std::min(items, cores()));
    per_run_ = (items + count - 1) / count;
  }
  /// The CPUs the process may use (usable_cpus).
  static std::int64_t cores() { return usable_cpus(); }
  std::int64_t count;
  std::int64_t begin(std::int64_t run) const { return std::min(items_, run * per_run_); }
  std::int64_t end(std::int64_t run) const { return std::min(items_, (run + 1) * per_run_); }
  /// out [size] = the sum of the runs' partials [count, size], in run order.
  template <class T>
  void add(const T* partials, std::int64_t size, T* out) const {
    std::copy_n(partials, size, out);
    for (std::int64_t r = 1; r < count; ++r)
      for (std::int64_t e = 0; e < size; ++e) out[e] += partials[r * size + e];
  }

 private:
  std::int64_t items_, per_run_;
};

/// The calling thread's number in its OpenMP team (0 outside a parallel region).
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/// Whether the calling thread is inside an OpenMP parallel region (where nested teams would
/// oversubscribe the cores).
inline bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

/// For its lifetime, a library called on this thread that threads itself by the calling thread's
/// OpenMP count (oneDNN) runs on this thread alone: outside a team the count is 1 meanwhile;
/// inside one such a library runs serially by itself. Our teams, sized by threads_in_use(), are
/// not affected.
class OnThisThreadOnly {
 public:
  OnThisThreadOnly() : alone_(!in_parallel_region()), before_(max_threads()) {
#ifdef _OPENMP
    if (alone_) omp_set_num_threads(1);
#endif
  }
  ~OnThisThreadOnly() {
#ifdef _OPENMP
    if (alone_) omp_set_num_threads(before_);
#endif
  }
  OnThisThreadOnly(const OnThisThreadOnly&) = delete;
  OnThisThreadOnly& operator=(const OnThisThreadOnly&) = delete;

 private:
  bool alone_;
  int before_;
};

/// Runs body(thread, threads, begin, end) in an OpenMP team: each thread gets its contiguous
/// share [begin, end) of the rows [0, rows), in thread order (possibly empty). Every team of the
/// library opens here, with threads_in_use() threads (fewer than the cap on a loaded machine).
template <class F>
void for_each_thread_share(std::int64_t rows, F&& body) {
  const int threads = threads_in_use();
  if (threads == 1) {  // no team: the calling thread, as a team of one would
    apply_float_mode();
    body(std::int64_t{0}, std::int64_t{1}, std::int64_t{0}, rows);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const std::int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
#else
    const std::int64_t nt = 1, t = 0;
#endif
    apply_float_mode();
    const std::int64_t chunk = (rows + nt - 1) / nt;
    const std::int64_t begin = std::min(rows, t * chunk), end = std::min(rows, begin + chunk);
    body(t, nt, begin, end);
  }
}

/// Runs body(begin, end) over [0, n): one contiguous chunk per thread of a team when `parallel`
/// (as OpenMP's static schedule), else in one call on the calling thread.
template <class F>
void parallel_for(std::int64_t n, bool parallel, F&& body) {
  if (!parallel || n < 2) {
    apply_float_mode();
    body(std::int64_t{0}, n);
    return;
  }
  for_each_thread_share(n, [&](std::int64_t, std::int64_t, std::int64_t begin, std::int64_t end) {
    if (end > begin) body(begin, end);
  });
}

/// Runs body(begin, end) over the rows [0, rows): in parallel (parallel_for) when
/// rows * cost_per_row (about the elements touched) is large, else serially in one call.
template <class F>
void parallel_rows(std::int64_t rows, std::int64_t cost_per_row, F&& body) {
  parallel_for(rows, rows * cost_per_row >= kParallelGrain, std::forward<F>(body));
}

/// C[m,n] = A[m,k]·B[k,n] + bias[n] on every row, all row-major: the rows start from the bias
/// (filled in parallel when large) and the GEMM adds to them, so C is written without a zero fill
/// and read no more than a plain product reads it.
template <class T>
void gemm_bias(const T* a, const T* b, const T* bias, T* c, std::int64_t m, std::int64_t k, std::int64_t n,
               Epilogue epilogue = Epilogue::none) {
  parallel_rows(m, n, [&](std::int64_t r0, std::int64_t r1) { fill_rows(c, bias, r0, r1, n); });
  gemm(a, b, c, m, k, n, false, false, /*accumulate=*/true, epilogue);
}

/// Runs f(begin, length) over [0, n), in parallel chunks when n is large.
template <class F>
void parallel_chunks(std::int64_t n, F&& f) {
  parallel_rows(n, 1, [&](std::int64_t begin, std::int64_t end) { f(begin, end - begin); });
}

/// out = expr(in) element-wise for a floating tensor; `expr` maps an Eigen array segment to an
/// Eigen expression.
template <class Expr>
Tensor unary_float(const char* op, const Tensor& x, Expr expr) {
  return visit_floating(op, x, [&]<class T>() {
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    const T* in = x.data<T>();
    T* o = out.data<T>();
    parallel_chunks(x.numel(), [&](std::int64_t b, std::int64_t n) {
      ConstArrayMap<T> src(in + b, n);
      ArrayMap<T>(o + b, n) = expr(src);
    });
    return out;
  });
}

/// Two-input broadcasting loop: out[i] = f(a[ia], b[ib]) over out's shape.
template <class T, class R, class F>
void broadcast_loop(const T* a, const Shape& sa, const T* b, const Shape& sb, R* out, const Shape& so, F f) {
  const std::int64_t n = so.numel();
  if (sa == sb && sa == so) {
    parallel_chunks(n, [&](std::int64_t s, std::int64_t len) {
      for (std::int64_t i = s; i < s + len; ++i) out[i] = f(a[i], b[i]);
    });
    return;
  }
  if (sb.numel() == 1 && sa == so) {
    const T bv = b[0];
    parallel_chunks(n, [&](std::int64_t s, std::int64_t len) {
      for (std::int64_t i = s; i < s + len; ++i) out[i] = f(a[i], bv);
    });
    return;
  }
  if (sa.numel() == 1 && sb == so) {
    const T av = a[0];
    parallel_chunks(n, [&](std::int64_t s, std::int64_t len) {
      for (std::int64_t i = s; i < s + len; ++i) out[i] = f(av, b[i]);
    });
    return;
  }
  // General case: strides of a and b in out's rank (0 on broadcast dims).
  const int r = so.rank();
  std::array<std::int64_t, Shape::kMaxRank> st_a{}, st_b{};
  {
    auto fa = strides_of(sa), fb = strides_of(sb);
    for (int i = 0; i < r; ++i) {
      int ia = i - (r - sa.rank()), ib = i - (r - sb.rank());
      st_a[static_cast<std::size_t>(i)] = (ia >= 0 && sa[ia] != 1) ? fa[static_cast<std::size_t>(ia)] : 0;
      st_b[static_cast<std::size_t>(i)] = (ib >= 0 && sb[ib] != 1) ? fb[static_cast<std::size_t>(ib)] : 0;
    }
  }
  if (n == 0) return;
  const std::int64_t inner = so[r - 1];
  const std::int64_t ia_step = st_a[static_cast<std::size_t>(r - 1)], ib_step = st_b[static_cast<std::size_t>(r - 1)];
  const std::int64_t rows = n / inner;
  auto row = [&](std::int64_t rw) {
    std::int64_t rem = rw, oa = 0, ob = 0;
    for (int d = r - 2; d >= 0; --d) {
      std::int64_t idx = rem % so[d];
      rem /= so[d];
      oa += idx * st_a[static_cast<std::size_t>(d)];
      ob += idx * st_b[static_cast<std::size_t>(d)];
    }
    R* o = out + rw * inner;
    const T* pa = a + oa;
    const T* pb = b + ob;
    if (ia_step == 1 && ib_step == 1) for (std::int64_t j = 0; j < inner; ++j) o[j] = f(pa[j], pb[j]);
    else if (ia_step == 1) { const T bv = pb[0]; for (std::int64_t j = 0; j < inner; ++j) o[j] = f(pa[j], bv); }
    else if (ib_step == 1) { const T av = pa[0]; for (std::int64_t j = 0; j < inner; ++j) o[j] = f(av, pb[j]); }
    else { const R v = f(pa[0], pb[0]); for (std::int64_t j = 0; j < inner; ++j) o[j] = v; }
  };
  parallel_for(rows, n >= kParallelGrain, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t rw = r0; rw < r1; ++rw) row(rw);
  });
}

/// out = f(a, b) with broadcasting, same dtype in and out (R = T) or a fixed output dtype.
template <class T, class R = T, class F>
Tensor broadcast_binary(const Tensor& a, const Tensor& b, const Shape& out_shape, DType out_dtype, F f) {
  Tensor out = Tensor::empty(out_shape, out_dtype);
  broadcast_loop<T, R>(a.data<T>(), a.shape(), b.data<T>(), b.shape(), out.template data<R>(), out_shape, f);
  return out;
}

}  // namespace tapeflow::detail
