# Smoke test of samples/lenet_distributed under mpirun -np 2 (see tests/samples/run_sample.cmake and the
# notes in tests/CMakeLists.txt): 50 steps of 2 x 10 examples on 1000 examples. Only rank 0 prints
# (the header first, then one progress bar: mpirun gives the processes a terminal) and writes: the log
# directory holds one event file, and the checkpoint rank 0 saved restores, through a broadcast, to
# the same accuracy.
if(TAPEFLOW_BUILD_SAMPLES AND TAPEFLOW_WITH_MPI)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/sample_lenet_distributed)
  list(GET TAPEFLOW_MPIRUN 0 mpirun)
  list(SUBLIST TAPEFLOW_MPIRUN 1 -1 mpirun_args)
  list(JOIN mpirun_args " " mpirun_args)
  add_test(NAME samples.lenet_distributed
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=${mpirun}
                   "-DARGS=${mpirun_args} $<TARGET_FILE:lenet_distributed> --max_examples 1000 --batch_size 20 --epochs 1 --threads 1 --log_dir ${dir}/logs --checkpoint_dir ${dir}/checkpoints"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=50 seconds=[0-9]+\\.[0-9]$"
                   "-DEXPECT=^lenet_distributed: 1000 train / 1000 test examples, 1 epochs of 50 steps, [^\n]*, 2 processes x 1 threads x 10 examples per step\n[^\n]*50/50 loss [^\n]*\nepoch 1: test_accuracy=[01]\\.[0-9]+\nModel saved"
                   "-DSAME=epoch 1: test_accuracy=([01]\\.[0-9]+)@@restored: test_accuracy=([01]\\.[0-9]+)"
                   -DLOGDIR=${dir} -DDUMP=$<TARGET_FILE:event_dump>
                   "-DEXPECT_TAGS=^logs/events\\.out\\.tfevents[^\n]*\n(  [^\n]*\n)*$@@scalar cost 1 values steps 50\\.\\.50@@scalar accuracy 1 values steps 50\\.\\.50"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.lenet_distributed PROPERTIES TIMEOUT 120 ENVIRONMENT "${TAPEFLOW_MPI_TEST_ENV}")
endif()
