# Smoke tests of the samples: a short run that must exit with 0 and end with the `final:` line.
# They read the default data directory (the Debian package dataset-fashion-mnist, installed by
# cmake/install-deps.sh). One thread: OpenMP barriers stall badly when other processes share the
# cores, and a smoke test only has to show that the program runs.
if(TAPEFLOW_BUILD_SAMPLES)
  add_test(NAME samples.fully_connected_feed
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:fully_connected_feed> "-DARGS=--max_steps 200 --threads 1"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=200 seconds=[0-9]+\\.[0-9]$"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.fully_connected_feed PROPERTIES TIMEOUT 120)
  add_test(NAME samples.lenet
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:lenet>
                   "-DARGS=--iter 20 --update_after_iter 10 --train_accuracy_size 100 --threads 1"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=20 seconds=[0-9]+\\.[0-9]$"
                   "-DEXPECT= Iter 10 Objective [0-9]+\\.[0-9]+ Cost [0-9]+\\.[0-9]+ Test Accuracy [01]\\.[0-9]+ Training Accuracy [01]\\.[0-9]+"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.lenet PROPERTIES TIMEOUT 120)
  add_test(NAME samples.convnet
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:convnet> "-DARGS=--max_examples 1000 --batch_size 100 --threads 1"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=10 seconds=[0-9]+\\.[0-9]$"
                   "-DEXPECT=Epoch 1 #+ -* %100\\.00 loss=[0-9]+\\.[0-9][0-9][0-9]\nEpoch 1, Testing Accuracy= [01]\\.[0-9][0-9][0-9][0-9][0-9]\n"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.convnet PROPERTIES TIMEOUT 120)
endif()
