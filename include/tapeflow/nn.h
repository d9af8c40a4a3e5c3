#pragma once
/// tapeflow::nn in one include: functional forms, modules, layers, activations, initializers, and the
/// weighted losses of tapeflow::losses (tf.losses).
#include "tapeflow/nn/activation.h"
#include "tapeflow/nn/attention.h"
#include "tapeflow/nn/transformer.h"
#include "tapeflow/nn/conv.h"
#include "tapeflow/nn/dropout.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/nn/init.h"
#include "tapeflow/nn/layers.h"
#include "tapeflow/nn/linear.h"
#include "tapeflow/nn/losses.h"
#include "tapeflow/nn/metrics.h"
#include "tapeflow/nn/module.h"
#include "tapeflow/nn/norm.h"
#include "tapeflow/nn/pool.h"
#include "tapeflow/nn/recurrent.h"
#include "tapeflow/nn/regularizers.h"
