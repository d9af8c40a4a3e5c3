# Runs `MPIRUN PROGRAM MODE` (see failing_rank.cpp) and checks that the job ends by itself within
# 60 s, with a non-zero exit and rank 1's message on stderr: "rank 1: <what()>", or with
# MODE=return the program's own message and "rank 1: exited with status 1".
# MPIRUN is a list (mpiexec and its flags).
execute_process(COMMAND ${MPIRUN} ${PROGRAM} ${MODE} RESULT_VARIABLE result OUTPUT_VARIABLE out
                ERROR_VARIABLE err TIMEOUT 60)
message(STATUS "exit: ${result}\nstdout:\n${out}\nstderr:\n${err}")
if(result MATCHES "timeout")
  message(FATAL_ERROR "the job hung: still running after 60 s (${result})")
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "the job exited with 0; a failing rank must end it with a non-zero exit")
endif()
if(MODE STREQUAL "return")
  # Both lines of rank 1, in order; mpirun's own MPI_ABORT banner may come between them (it
  # reaches stderr through mpirun, not through rank 1's forwarded stream).
  set(expected "error: the data of rank 1 is corrupt \\(on purpose\\)\n(.*\n)?rank 1: exited with status 1; ending the job")
else()
  set(expected "rank 1: the data of rank 1 is corrupt \\(on purpose\\)")
endif()
if(NOT err MATCHES "${expected}")
  message(FATAL_ERROR "stderr lacks rank 1's message '${expected}'")
endif()
if(out MATCHES "finished")
  message(FATAL_ERROR "a rank went on past the failure")
endif()
