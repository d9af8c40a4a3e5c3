# Smoke test of samples/lenet_eager --distributed under mpirun -np 2 (see sample_lenet_eager.cmake):
# 50 steps of 2 x 10 examples on 1000 examples; only rank 0 prints (the header first, then one
# progress bar: mpirun gives the processes a terminal), and the checkpoint rank 0 saved restores, through a broadcast, to the same accuracy.
if(TAPEFLOW_BUILD_SAMPLES AND TAPEFLOW_WITH_MPI)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/sample_lenet_distributed)
  list(GET TAPEFLOW_MPIRUN 0 mpirun)
  list(SUBLIST TAPEFLOW_MPIRUN 1 -1 mpirun_args)
  list(JOIN mpirun_args " " mpirun_args)
  add_test(NAME samples.lenet_distributed
           COMMAND ${CMAKE_COMMAND} -DPROGRAM=${mpirun}
                   "-DARGS=${mpirun_args} $<TARGET_FILE:lenet_eager> --distributed --max_examples 1000 --batch_size 20 --epochs 1 --threads 1 --checkpoint_dir ${dir}/checkpoints"
                   "-DFINAL_LINE=^final: test_accuracy=[01]\\.[0-9][0-9][0-9][0-9] steps=50 seconds=[0-9]+\\.[0-9]$"
                   "-DEXPECT=^lenet_eager: 1000 train / 1000 test examples, 1 epochs of 50 steps, [^\n]*, 1 threads x 2 processes of 10 examples per step\n[^\n]*50/50 loss [^\n]*\nepoch 1: test_accuracy=[01]\\.[0-9]+\nModel saved"
                   "-DSAME=epoch 1: test_accuracy=([01]\\.[0-9]+)@@restored: test_accuracy=([01]\\.[0-9]+)"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/samples/run_sample.cmake)
  set_tests_properties(samples.lenet_distributed PROPERTIES TIMEOUT 120 ENVIRONMENT "${TAPEFLOW_MPI_TEST_ENV}")
endif()
