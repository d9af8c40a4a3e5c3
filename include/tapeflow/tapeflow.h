#pragma once
/// Everything in one include.
#include "tapeflow/autograd.h"
#include "tapeflow/distributed.h"
#include "tapeflow/dtype.h"
#include "tapeflow/error.h"
#include "tapeflow/nn.h"
#include "tapeflow/ops.h"
#include "tapeflow/optim.h"
#include "tapeflow/shape.h"
#include "tapeflow/tensor.h"
#include "tapeflow/threads.h"
