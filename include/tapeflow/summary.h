#pragma once
/// TensorBoard in one include: event files (FileWriter, read_events), the graph summary ops
/// (summary::scalar, histogram, image, merge_all) and eager logging (summary::Writer).
#include "tapeflow/summary/event.h"
#include "tapeflow/summary/file_writer.h"
#include "tapeflow/summary/ops.h"
#include "tapeflow/summary/record.h"
#include "tapeflow/summary/writer.h"
