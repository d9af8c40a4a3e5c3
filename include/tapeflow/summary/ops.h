#pragma once
/// Graph-mode summary ops (tf.summary.scalar, histogram, image, merge, merge_all).
///
///   summary::scalar("loss", loss);                      // node "loss" (ScalarSummary), tag "loss"
///   summary::histogram("weights", w);                   // under name_scope("hidden1"): "hidden1/weights"
///   Tensor merged = summary::merge_all();               // "Merge/MergeSummary"
///   writer.add_summary(sess.run(merged, feed), step);
///
/// Each op adds a node to the graph of its input (an eager input becomes a Const node of the
/// default graph, as in TensorFlow 1.x) and joins `collections`. Its tag is its name under the
/// current name scope, made unique as TensorFlow does ("loss", "loss_1", "hidden1/loss"); the
/// node has that same name. Characters other than letters, digits and "_-./" become "_".
///
/// Output: a serialized Summary protocol buffer. tapeflow has no string dtype, so it is a uint8
/// 1-D tensor of the message's bytes (static shape [?]); FileWriter::add_summary takes it as it
/// is and parse_summary (event.h) reads it.
#include <string>
#include <vector>

#include "tapeflow/graph/graph.h"
#include "tapeflow/tensor.h"

namespace tapeflow::summary {

/// One scalar (shape [], any numeric dtype) as a simple_value.
Tensor scalar(const std::string& name, const Tensor& tensor,
              const std::vector<std::string>& collections = {GraphKeys::SUMMARIES});

/// A histogram of all the values of `values` (any shape, numeric dtype), with TensorFlow 1.x's
/// buckets (limits growing by 10% from 1e-12 to 1e20, mirrored, 0 in the middle). A NaN or
/// infinite value is a ValueError at run time naming the summary.
Tensor histogram(const std::string& name, const Tensor& values,
                 const std::vector<std::string>& collections = {GraphKeys::SUMMARIES});

/// Up to `max_outputs` images of a batch [N,H,W,C] (C 1 grayscale, 3 RGB or 4 RGBA) as PNGs,
/// tagged "<tag>/image" when max_outputs is 1, else "<tag>/image/<i>". uint8 images are taken
/// as they are; float images are rescaled per image: by 255/max when no value is negative,
/// else to v*127/max|v| + 128 (non-finite pixels become red).
Tensor image(const std::string& name, const Tensor& tensor, int max_outputs = 3,
             const std::vector<std::string>& collections = {GraphKeys::SUMMARIES});

/// One Summary with the values of every input summary (tf.summary.merge); node
/// "<name or Merge>/MergeSummary". Two values with the same tag are a ValueError at run time.
Tensor merge(const std::vector<Tensor>& inputs, const std::vector<std::string>& collections = {},
             const std::string& name = "");

/// merge() of the summaries of collection `key` of the default graph (those whose name starts
/// with `scope`, when given); an undefined Tensor when there are none (TensorFlow returns None).
Tensor merge_all(const std::string& key = GraphKeys::SUMMARIES, const std::string& scope = "",
                 const std::string& name = "");

}  // namespace tapeflow::summary
