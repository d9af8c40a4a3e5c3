# Runs a sample program (cmake -P) with bad arguments and fails unless it exits with an error whose
# output (stdout and stderr) matches EXPECT_ERROR and has no line longer than 200 characters (an
# error message a person can read). Arguments: -DPROGRAM=<path> -DARGS="<arguments separated by
# spaces>" -DEXPECT_ERROR=<regex>.
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${PROGRAM} ${args} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(result EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} ${ARGS} exited with 0; an error was expected")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT_ERROR}")
  message(FATAL_ERROR "the output of ${PROGRAM} ${ARGS} has no match for\n  ${EXPECT_ERROR}")
endif()
string(REGEX MATCH "[^\n]{201,}" long_line "${out}${err}")
if(long_line)
  message(FATAL_ERROR "the output of ${PROGRAM} ${ARGS} has a line of more than 200 characters:\n  ${long_line}")
endif()
