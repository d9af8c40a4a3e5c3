# find_package(tapeflow CONFIG) against the installed tree. Not under sanitizers: the consumer is
# built without them and could not link an instrumented library. With the compiler tapeflow was
# built with: the static library calls that compiler's OpenMP runtime (libgomp or libomp).
if(NOT TAPEFLOW_SANITIZE)
  add_test(NAME install.consumer
           COMMAND ${CMAKE_COMMAND} -DBINARY_DIR=${CMAKE_BINARY_DIR} -DSOURCE=${CMAKE_CURRENT_SOURCE_DIR}/consumer
                   -DWORK=${CMAKE_CURRENT_BINARY_DIR}/consumer_work -DCXX=${CMAKE_CXX_COMPILER}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.cmake)
  set_tests_properties(install.consumer PROPERTIES TIMEOUT 300)
endif()
