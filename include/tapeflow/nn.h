#pragma once
/// tapeflow::nn in one include: functional forms, modules, layers, activations, initializers.
#include "tapeflow/nn/activation.h"
#include "tapeflow/nn/functional.h"
#include "tapeflow/nn/init.h"
#include "tapeflow/nn/linear.h"
#include "tapeflow/nn/module.h"
