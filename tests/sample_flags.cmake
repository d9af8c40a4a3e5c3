# The samples reject bad flags with a short message naming the flag (see run_failing.cmake).
if(TAPEFLOW_BUILD_SAMPLES)
  set(bad_flags
      "lenet_eager@@--max_examples 100 --batch_size 200 --epochs 1@@--batch_size 200 is larger than the 100 training examples"
      "lenet_eager@@--epochs -1@@--epochs: must be > 0, got -1"
      "mnist_mlp@@--learning_rate nan@@--learning_rate: must be > 0, got nan"
      "fully_connected_feed@@--learning_rate nan@@--learning_rate: must be >= 0, got nan"
      "fully_connected_feed@@--max_steps -5@@--max_steps: must be > 0, got -5"
      "convnet@@--batch_size x@@--batch_size")
  set(i 0)
  foreach(row IN LISTS bad_flags)
    string(REPLACE "@@" ";" parts "${row}")
    list(GET parts 0 program)
    list(GET parts 1 args)
    list(GET parts 2 expected)
    math(EXPR i "${i} + 1")
    add_test(NAME samples.bad_flags_${i}
             COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:${program}> "-DARGS=${args}" "-DEXPECT_ERROR=${expected}"
                     -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_failing.cmake)
  endforeach()
endif()
