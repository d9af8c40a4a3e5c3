#pragma once
/// tf.train.Saver: a Session's variables to checkpoint files and back, by variable name.
///
///   tapeflow::train::Saver saver({}, {.max_to_keep = 5});
///   std::string path = saver.save(sess, "ckpt/model.ckpt", global_step);  // "ckpt/model.ckpt-1000"
///   saver.restore(sess, tapeflow::train::latest_checkpoint("ckpt"));
///
/// A checkpoint "<prefix>" is the safetensors file "<prefix>.safetensors" (see io/checkpoint.h;
/// Python's safetensors opens it), keyed by the variables' names ("hidden1/weights"). Next to it,
/// a text file "checkpoint" in TensorFlow's format names the latest and all kept checkpoints.
/// Both are written atomically, the data first, then the index, and only then are the checkpoints
/// that fell out of max_to_keep deleted: a process killed at any moment of a save leaves an index
/// whose checkpoints are complete, and the next save removes the temporary files it left.
/// On its first save in a directory a Saver takes over the checkpoints that directory's index
/// lists (as TensorFlow's recover_last_checkpoints), so max_to_keep holds across restarts. An
/// index it cannot read (or one naming a file it cannot check) is replaced, and the files it
/// named are left alone.
///
/// save() writes in every process that calls it. In a job of N processes (tapeflow/distributed.h)
/// save from rank 0 only: `if (distributed::is_root()) saver.save(sess, prefix, step);`.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "tapeflow/graph/session.h"
#include "tapeflow/tensor.h"

namespace tapeflow::train {

struct SaverOptions {
  /// How many recent checkpoints to keep; older ones are deleted. 0 keeps all.
  int max_to_keep = 5;
};

class Saver {
 public:
  /// Saves and restores `var_list` (default: the default graph's global variables, as they are
  /// now). Each entry must be a variable.
  explicit Saver(std::vector<Tensor> var_list = {}, SaverOptions options = {});

  /// Writes the variables' values in `sess` to "<save_path>-<global_step>" (or "<save_path>" when
  /// global_step < 0), updates the "checkpoint" file of that directory and deletes checkpoints
  /// past max_to_keep. Returns the checkpoint's path (without ".safetensors"). IOError naming the
  /// file when one cannot be written, or when an old checkpoint cannot be deleted (then after
  /// the new checkpoint and the index are complete, as TensorFlow's Saver).
  std::string save(Session& sess, const std::string& save_path, std::int64_t global_step = -1);
  /// The same with the step read from a variable (the global step).
  std::string save(Session& sess, const std::string& save_path, const Tensor& global_step);

  /// Sets every variable of the list in `sess` from checkpoint `save_path` (a path save returned,
  /// with or without ".safetensors"). Errors (IOError naming the file): a missing, truncated or
  /// corrupt file, a variable missing from the checkpoint, a shape or dtype that differs.
  void restore(Session& sess, const std::string& save_path);

  /// The checkpoints this saver keeps, oldest first (with those it took over from an index).
  const std::vector<std::string>& last_checkpoints() const { return last_; }

 private:
  /// Puts the existing checkpoints that "<checkpoint_dir>/checkpoint" lists before last_.
  void recover_last_checkpoints(const std::string& checkpoint_dir);

  std::vector<Tensor> vars_;
  SaverOptions options_;
  std::vector<std::string> last_;
  std::set<std::string> recovered_dirs_;
};

/// tf.train.latest_checkpoint: the latest checkpoint recorded in "<checkpoint_dir>/checkpoint",
/// or "" when there is none (no such directory or file, or its checkpoint file is gone). IOError
/// naming the index file when it cannot be read or parsed (a path with a NUL byte in it is
/// corrupt), and naming the file too when the index or the checkpoint file cannot be checked for
/// any reason but not being there (a name too long, a loop of links, no permission).
std::string latest_checkpoint(const std::string& checkpoint_dir);

}  // namespace tapeflow::train
