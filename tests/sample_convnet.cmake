# Smoke test of samples/convnet (see tests/samples/run_sample.cmake and the notes in tests/CMakeLists.txt).
if(TAPEFLOW_BUILD_SAMPLES)
  add_test(NAME samples.convnet
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:convnet> "-DARGS=--max_examples 1000 --batch_size 100 --threads 1"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=10 seconds=[0-9]+\\.[0-9]$"
                   "-DEXPECT=Epoch 1 #+ -* %100\\.00 loss=[0-9]+\\.[0-9][0-9][0-9]\nEpoch 1, Testing Accuracy= [01]\\.[0-9][0-9][0-9][0-9][0-9]\n"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.convnet PROPERTIES TIMEOUT 120)
endif()
