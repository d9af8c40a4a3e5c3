#pragma once
#include "tapeflow/ops/array.h"
#include "tapeflow/ops/elementwise.h"
#include "tapeflow/ops/linalg.h"
#include "tapeflow/ops/random.h"
#include "tapeflow/ops/reduce.h"
