# Smoke test of samples/lenet (see tests/samples/run_sample.cmake and the notes in tests/CMakeLists.txt).
if(TAPEFLOW_BUILD_SAMPLES)
  add_test(NAME samples.lenet
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:lenet>
                   "-DARGS=--iter 20 --update_after_iter 10 --train_accuracy_size 100 --threads 1"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=20 seconds=[0-9]+\\.[0-9]$"
                   "-DEXPECT= Iter 10 Objective [0-9]+\\.[0-9]+ Cost [0-9]+\\.[0-9]+ Test Accuracy [01]\\.[0-9]+ Training Accuracy [01]\\.[0-9]+"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.lenet PROPERTIES TIMEOUT 120)
endif()
