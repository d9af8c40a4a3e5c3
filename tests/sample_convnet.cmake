# Smoke test of samples/convnet (see tests/samples/run_sample.cmake and the notes in tests/CMakeLists.txt):
# one epoch of 10 steps on 1000 examples, with the seed's summaries and checkpoint. Checks the progress
# lines, the saved model restoring to the last epoch's test accuracy, the model exported to ONNX
# giving that accuracy in ONNX Runtime, and the tags of the train and
# test event files. The scalars "loss", "accuracy" and "global_step" are tagged "loss_1",
# "accuracy_1" and "global_step_1", as in TensorFlow: the name scopes "loss" and "accuracy" and the
# variable "global_step" already hold those names.
if(TAPEFLOW_BUILD_SAMPLES)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/sample_convnet)
  # A tag line of the listing (event_dump) of the train or of the test event file.
  set(train "train_logs/summaries/train/[^\n]*\n(  [^\n]*\n)*  ")
  set(test "train_logs/summaries/test/[^\n]*\n(  [^\n]*\n)*  ")
  set(every_step "10 values steps 1\\.\\.10 ")
  set(per_epoch "1 values steps 10\\.\\.10 ")
  set(tags "${train}file_version brain\\.Event:2\n  graph [0-9]+ nodes@@${test}file_version brain\\.Event:2")
  foreach(end_point conv1 pool1 conv2 pool2 fc3 fc4)
    string(APPEND tags "@@${train}scalar sparsity/Net/${end_point} ${every_step}"
                       "@@${train}histogram activations/Net/${end_point} ${per_epoch}"
                       "@@${test}scalar sparsity/Net/${end_point} ${per_epoch}")
  endforeach()
  foreach(i 0 1 2)
    string(APPEND tags "@@${train}image images/image/${i} ${per_epoch}28x28x1")
  endforeach()
  foreach(scalar loss_1 accuracy_1 global_step_1 learning_rate)
    string(APPEND tags "@@${train}scalar ${scalar} ${every_step}")
  endforeach()
  string(APPEND tags "@@${train}scalar global_step_1 ${every_step}last 10\n"
                     "@@${test}scalar loss_1 ${per_epoch}@@${test}scalar accuracy_1 ${per_epoch}")
  add_test(NAME samples.convnet
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:convnet>
                   "-DARGS=--max_examples 1000 --batch_size 100 --threads 1 --train_dir ${dir}/train_logs --checkpoint_dir ${dir}/checkpoints --export_onnx ${dir}/convnet.onnx"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=10 seconds=[0-9]+\\.[0-9]$"
                   "-DEXPECT=Epoch 1 step 10/10 loss [0-9]+\\.[0-9]+ [0-9]+ samples/s 0:00 left\nEpoch 1, Testing Accuracy= [01]\\.[0-9][0-9][0-9][0-9][0-9]\nModel saved in file: [^\n]*/checkpoints/model\nModel restored\\.\\.\\.\nFinal Test Accuracy is % [0-9]+\\.[0-9][0-9]\n"
                   "-DSAME=Epoch 1, Testing Accuracy= ([01]\\.[0-9][0-9][0-9][0-9])@@final: test_accuracy=([01]\\.[0-9][0-9][0-9][0-9])@@onnx_runtime: test_accuracy=([01]\\.[0-9]+) examples=1000"
                   "-DONNX_ACCURACY=${dir}/convnet.onnx 1000 28,28,1" -DNODE_PATH=${CMAKE_SOURCE_DIR}/build/tools/node_modules
                   -DLOGDIR=${dir} -DDUMP=$<TARGET_FILE:event_dump> "-DEXPECT_TAGS=${tags}"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.convnet PROPERTIES TIMEOUT 120)
endif()
