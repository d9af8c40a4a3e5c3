# Smoke test of samples/lenet (see tests/samples/run_sample.cmake and the notes in tests/CMakeLists.txt):
# 20 steps with the seed's TensorBoard summaries written at iterations 0 and 10, whose tags (named as
# TensorFlow names them under the seed's scopes) and graph must be in the event file.
if(TAPEFLOW_BUILD_SAMPLES)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/sample_lenet)
  set(weights conv_1 conv_2 dot_1 dot_2 logits_layer)
  set(tags "file_version brain.Event:2"
           "graph [0-9]+ nodes"
           "scalar objective/cross-entropy/cost 2 values steps 0\\.\\.10 "
           "scalar objective/obj 2 values steps 0\\.\\.10 "
           "scalar test/accuracy_1 2 values steps 0\\.\\.10 "
           "image images/image/5 2 values steps 0\\.\\.10 28x28x1"
           "image conv_1/filters_conv_1/image 2 values steps 0\\.\\.10 28x35x1"
           "image test/confusion/confusion_1/image/0 2 values steps 0\\.\\.10 10x10x1"
           "histogram conv_1/activity_1 2 values ")
  foreach(w IN LISTS weights)
    list(APPEND tags "scalar objective/weight-decay/l2_${w}/weights_0 2 values steps 0\\.\\.10 "
                     "scalar objective/l1-regularization/l1_${w}/weights_0 2 values steps 0\\.\\.10 "
                     "histogram ${w}/weights_1 2 values ")
  endforeach()
  string(JOIN "@@" expect_tags ${tags})
  add_test(NAME samples.lenet
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:lenet>
                   "-DARGS=--iter 20 --update_after_iter 10 --train_accuracy_size 100 --threads 1 --summarize --log_dir ${dir}/tensorboard --summary_size 100"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=20 seconds=[0-9]+\\.[0-9]$"
                   "-DEXPECT=Iter 1-10 step 10/10 loss [0-9]+\\.[0-9]+ [0-9]+ samples/s 0:00 left\n Iter 10 Objective [0-9]+\\.[0-9]+ Cost [0-9]+\\.[0-9]+ Test Accuracy [01]\\.[0-9]+ Training Accuracy [01]\\.[0-9]+"
                   -DLOGDIR=${dir} -DDUMP=$<TARGET_FILE:event_dump>
                   "-DEXPECT_TAGS=${expect_tags}"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.lenet PROPERTIES TIMEOUT 120)
endif()
