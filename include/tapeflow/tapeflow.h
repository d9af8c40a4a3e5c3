#pragma once
/// Everything in one include: tensors and the tape, ops, nn, optimizers, data sets, checkpoints,
/// graph mode (TensorFlow 1.x's vocabulary), TensorBoard summaries and data-parallel training.
/// Nothing in it is optional: the library always has all of these (distributed describes a single
/// process when tapeflow was built without MPI). The one header it leaves out is
/// tapeflow/eigen.h, the Eigen views of tensors, because it includes Eigen.
#include "tapeflow/attr.h"
#include "tapeflow/autograd.h"
#include "tapeflow/data/idx.h"
#include "tapeflow/data/mnist.h"
#include "tapeflow/data/text.h"
#include "tapeflow/distributed.h"
#include "tapeflow/dtype.h"
#include "tapeflow/error.h"
#include "tapeflow/generator.h"
#include "tapeflow/graph.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/io/progress.h"
#include "tapeflow/nn.h"
#include "tapeflow/ops.h"
#include "tapeflow/optim.h"
#include "tapeflow/shape.h"
#include "tapeflow/summary.h"
#include "tapeflow/tensor.h"
#include "tapeflow/threads.h"
