# samples/pinn_oscillator with its default flags (about 2 s): the fit must reach the README's
# figure, a maximum error under 0.01 against sin(t) (see tests/samples/run_sample.cmake).
if(TAPEFLOW_BUILD_SAMPLES)
  add_test(NAME samples.pinn_oscillator
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:pinn_oscillator> "-DARGS=--threads 1"
                   "-DFINAL_LINE=^final: max_abs_error=0\\.00[0-9][0-9] steps=3000 seconds=[0-9]+\\.[0-9]$"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.pinn_oscillator PROPERTIES TIMEOUT 120)
endif()
