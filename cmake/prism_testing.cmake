# prism_add_mpi_test(NAME n SOURCES a.cpp ... [RANKS 1 2 4] [TIMEOUT s] [LIBS ...])
# Builds one executable with our MPI-aware GoogleTest main and registers n.npN for every N in RANKS
# (default PRISM_TEST_RANKS), so a bare `ctest` runs the whole rank matrix.

execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _prism_mpiexec_version
                ERROR_VARIABLE _prism_mpiexec_version)
set(PRISM_MPIEXEC_PREFLAGS ${MPIEXEC_PREFLAGS})
set(PRISM_MPI_TEST_ENV "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
if(_prism_mpiexec_version MATCHES "Open MPI|OpenRTE")
    # More ranks than cores is normal in tests; idle ranks must yield or they starve the busy ones.
    list(APPEND PRISM_MPIEXEC_PREFLAGS --oversubscribe --mca mpi_yield_when_idle 1 --bind-to none)
    # CI runs as root; Open MPI refuses that unless told. Harmless as a normal user.
    list(APPEND PRISM_MPI_TEST_ENV "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
         "OMPI_MCA_rmaps_base_oversubscribe=1")
endif()

function(prism_add_mpi_test)
    cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;RANKS;LIBS" ${ARGN})
    if(NOT T_RANKS)
        set(T_RANKS ${PRISM_TEST_RANKS})
    endif()
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 180)
    endif()
    set(exe test_${T_NAME})
    add_executable(${exe} ${T_SOURCES})
    target_link_libraries(${exe} PRIVATE prism_mpi_gtest_main prism::prism prism_test_support prism_warnings ${T_LIBS})
    foreach(n IN LISTS T_RANKS)
        add_test(NAME ${T_NAME}.np${n}
                 COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n} ${PRISM_MPIEXEC_PREFLAGS}
                         $<TARGET_FILE:${exe}> ${MPIEXEC_POSTFLAGS})
        set_tests_properties(${T_NAME}.np${n} PROPERTIES PROCESSORS ${n} TIMEOUT ${T_TIMEOUT}
                             LABELS "mpi;np${n}" ENVIRONMENT "${PRISM_MPI_TEST_ENV}")
    endforeach()
endfunction()
