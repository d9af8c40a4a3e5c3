# Runs a sample program (cmake -P) and fails unless it exits with 0 and its last line matches
# FINAL_LINE. Arguments: -DPROGRAM=<path> -DARGS="<arguments separated by spaces>" -DFINAL_LINE=<regex>,
# and optionally -DEXPECT=<regex> that some part of the output must match.
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${PROGRAM} ${args} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${result}:\n${err}")
endif()
string(STRIP "${out}" out)
string(REGEX MATCH "[^\n]*$" last_line "${out}")
if(NOT last_line MATCHES "${FINAL_LINE}")
  message(FATAL_ERROR "the last line of ${PROGRAM} is\n  ${last_line}\nwhich does not match\n  ${FINAL_LINE}")
endif()
if(DEFINED EXPECT AND NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "the output of ${PROGRAM} has no match for\n  ${EXPECT}")
endif()
