// tf.nn.embedding_lookup: gather along axis 0, whose gradient accumulates rows.
#include "nn/module_checks.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/ops/array.h"

namespace tapeflow::nn {

Tensor embedding_lookup(const Tensor& params, const Tensor& ids) {
  return detail::named([] { return "embedding_lookup"; }, [&] { return gather(params, ids, 0); });
}

}  // namespace tapeflow::nn
