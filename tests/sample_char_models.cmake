# Smoke tests of samples/char_transformer and samples/char_lstm (see tests/samples/run_sample.cmake
# and the notes in tests/CMakeLists.txt): 20 steps of a small model on the fortunes corpus (the
# Debian package fortunes, installed by cmake/install-deps.sh) with TensorBoard logs and
# checkpoints; the validation pass, the generated text and the final line.
if(TAPEFLOW_BUILD_SAMPLES)
  foreach(sample char_transformer char_lstm)
    set(dir ${CMAKE_CURRENT_BINARY_DIR}/sample_${sample})
    if(sample STREQUAL char_transformer)
      set(small "--width 32 --layers 1 --heads 2")
    else()
      set(small "--embedding 32 --hidden 32 --layers 1")
    endif()
    add_test(NAME samples.${sample}
             COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:${sample}>
                     "-DARGS=${small} --steps 20 --warmup 5 --sample_length 40 --threads 1 --log_dir ${dir}/logs --checkpoint_dir ${dir}/checkpoints"
                     "-DFINAL_LINE=^final: val_loss=[0-9]+\\.[0-9][0-9][0-9][0-9] steps=20 seconds=[0-9]+\\.[0-9] tokens_per_s=[0-9]+$"
                     "-DEXPECT=--- generated text ---\nQ: "
                     -DLOGDIR=${dir} -DDUMP=$<TARGET_FILE:event_dump>
                     "-DEXPECT_TAGS=scalar loss 2 values steps 10\\.\\.20@@scalar learning_rate 2 values steps 10\\.\\.20@@scalar val_loss 1 values steps 20\\.\\.20"
                     -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
    set_tests_properties(samples.${sample} PROPERTIES TIMEOUT 300)
  endforeach()
endif()
