# Smoke test of samples/lenet_eager (see tests/samples/run_sample.cmake and the notes in tests/CMakeLists.txt):
# 50 steps on 1000 examples with TensorBoard logs and a checkpoint that must restore to the same
# test accuracy, and the network exported to ONNX, whose accuracy in ONNX Runtime must be the same.
if(TAPEFLOW_BUILD_SAMPLES)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/sample_lenet_eager)
  add_test(NAME samples.lenet_eager
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:lenet_eager>
                   "-DARGS=--max_examples 1000 --batch_size 20 --epochs 1 --threads 1 --log_dir ${dir}/logs --checkpoint_dir ${dir}/checkpoints --export_onnx ${dir}/lenet.onnx"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=50 seconds=[0-9]+\\.[0-9]$"
                   "-DEXPECT=epoch 1/1 step 50/50 loss [0-9]+\\.[0-9]+ [0-9]+ samples/s 0:00 left\nepoch 1: test_accuracy="
                   "-DSAME=epoch 1: test_accuracy=([01]\\.[0-9]+)@@restored: test_accuracy=([01]\\.[0-9]+)@@onnx_runtime: test_accuracy=([01]\\.[0-9]+) examples=1000"
                   "-DONNX_ACCURACY=${dir}/lenet.onnx 1000 784" -DNODE_PATH=${CMAKE_SOURCE_DIR}/build/tools/node_modules
                   -DLOGDIR=${dir} -DDUMP=$<TARGET_FILE:event_dump>
                   "-DEXPECT_TAGS=file_version brain.Event:2@@scalar cost 1 values steps 50\\.\\.50@@scalar obj @@scalar learning_rate @@scalar accuracy @@image images/image/2 @@image filters/image/19 1 values steps 50\\.\\.50 5x5x1@@histogram conv_1/weight @@histogram logits_layer/bias "
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.lenet_eager PROPERTIES TIMEOUT 120)
endif()
