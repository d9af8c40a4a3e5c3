# Runs a sample program (cmake -P) and fails unless it exits with 0 and its last line matches
# FINAL_LINE. Arguments: -DPROGRAM=<path> -DARGS="<arguments separated by spaces>" -DFINAL_LINE=<regex>,
# and optionally:
#   -DEXPECT=<regex> that some part of the output must match;
#   -DLOGDIR=<dir> removed before the run (the sample writes its logs there), with
#   -DDUMP=<event_dump program> and -DEXPECT_TAGS=<regex@@regex@@...>: event_dump's listing of
#   LOGDIR must match each regex (one per tag or file that must be there).
separate_arguments(args UNIX_COMMAND "${ARGS}")
if(DEFINED LOGDIR)
  file(REMOVE_RECURSE "${LOGDIR}")
endif()
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
if(DEFINED EXPECT_TAGS)
  execute_process(COMMAND ${DUMP} ${LOGDIR} RESULT_VARIABLE result OUTPUT_VARIABLE listing ERROR_VARIABLE err)
  message("${listing}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${DUMP} ${LOGDIR} exited with ${result}:\n${err}")
  endif()
  string(REPLACE "@@" ";" tags "${EXPECT_TAGS}")
  foreach(tag IN LISTS tags)
    if(NOT listing MATCHES "${tag}")
      message(FATAL_ERROR "the event files under ${LOGDIR} have nothing matching\n  ${tag}")
    endif()
  endforeach()
endif()
