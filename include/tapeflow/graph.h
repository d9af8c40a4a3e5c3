#pragma once
/// Graph mode in one include: Graph, scopes, collections, placeholders, variables, Session.
#include "tapeflow/graph/distributed.h"
#include "tapeflow/graph/graph.h"
#include "tapeflow/graph/layers.h"
#include "tapeflow/graph/rnn.h"
#include "tapeflow/graph/saver.h"
#include "tapeflow/graph/session.h"
#include "tapeflow/graph/train.h"
#include "tapeflow/graph/variables.h"
