# Smoke test of samples/fully_connected_feed (see tests/samples/run_sample.cmake and the notes in tests/CMakeLists.txt).
if(TAPEFLOW_BUILD_SAMPLES)
  add_test(NAME samples.fully_connected_feed
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:fully_connected_feed> "-DARGS=--max_steps 200 --threads 1"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=200 seconds=[0-9]+\\.[0-9]$"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.fully_connected_feed PROPERTIES TIMEOUT 120)
endif()
