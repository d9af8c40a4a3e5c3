#pragma once
/// The eager optimizers, learning-rate schedules and gradient clipping.
#include "tapeflow/optim/adagrad.h"
#include "tapeflow/optim/adam.h"
#include "tapeflow/optim/adamw.h"
#include "tapeflow/optim/clip.h"
#include "tapeflow/optim/momentum.h"
#include "tapeflow/optim/optimizer.h"
#include "tapeflow/optim/rmsprop.h"
#include "tapeflow/optim/schedule.h"
#include "tapeflow/optim/sgd.h"
