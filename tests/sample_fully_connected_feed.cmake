# Smoke test of samples/fully_connected_feed (see tests/samples/run_sample.cmake and the notes in
# tests/CMakeLists.txt): the loss summary every 100 steps and the graph in --log_dir, checkpoints at
# step 1000 and at the end, and the last one restoring to the same precision.
if(TAPEFLOW_BUILD_SAMPLES)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/sample_fully_connected_feed)
  add_test(NAME samples.fully_connected_feed
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:fully_connected_feed>
                   "-DARGS=--max_steps 1100 --threads 1 --log_dir ${dir}"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=1100 seconds=[0-9]+\\.[0-9]$"
                   "-DSAME=Test Data Eval:\n  Num examples: 10000  Num correct: ([0-9]+)  Precision @ 1: [01]\\.[0-9]+\nRestored [^\n]*:\n@@Restored [^\n]*/model\\.ckpt-1099:\nTest Data Eval:\n  Num examples: 10000  Num correct: ([0-9]+) "
                   -DLOGDIR=${dir} -DDUMP=$<TARGET_FILE:event_dump>
                   "-DEXPECT_TAGS=file_version brain.Event:2@@graph [0-9]+ nodes@@scalar loss 11 values steps 0\\.\\.1000 "
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.fully_connected_feed PROPERTIES TIMEOUT 120)
endif()
