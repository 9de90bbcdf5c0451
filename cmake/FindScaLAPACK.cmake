# FindScaLAPACK
# -------------
# Provides the imported target ScaLAPACK::ScaLAPACK.
#
# Debian's CMake package config for libscalapack-openmpi-dev points at a library path that does not exist,
# so we never use it. Order of search:
#   1. ScaLAPACK_LIBRARIES set by the user (Cray, MKL, Spack): used as given.
#   2. pkg-config module named by ScaLAPACK_PKG_CONFIG_NAME (default: scalapack-openmpi, then scalapack).
#   3. find_library(scalapack-openmpi scalapack) in ScaLAPACK_ROOT and system paths.
include(FindPackageHandleStandardArgs)

set(ScaLAPACK_PKG_CONFIG_NAME "scalapack-openmpi;scalapack" CACHE STRING "pkg-config modules to try for ScaLAPACK")

if(NOT ScaLAPACK_LIBRARIES)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
        foreach(_mod IN LISTS ScaLAPACK_PKG_CONFIG_NAME)
            pkg_check_modules(_PRISM_SCALAPACK QUIET ${_mod})
            if(_PRISM_SCALAPACK_FOUND)
                # Keep only the ScaLAPACK library itself: MPI and BLAS/LAPACK come from their own targets.
                foreach(_lib IN LISTS _PRISM_SCALAPACK_LIBRARIES)
                    if(_lib MATCHES "scalapack")
                        find_library(ScaLAPACK_LIBRARY NAMES ${_lib} HINTS ${_PRISM_SCALAPACK_LIBRARY_DIRS})
                    endif()
                endforeach()
                break()
            endif()
        endforeach()
    endif()
    if(NOT ScaLAPACK_LIBRARY)
        find_library(ScaLAPACK_LIBRARY NAMES scalapack-openmpi scalapack HINTS ${ScaLAPACK_ROOT} ENV ScaLAPACK_ROOT
                     PATH_SUFFIXES lib lib64)
    endif()
    if(ScaLAPACK_LIBRARY)
        set(ScaLAPACK_LIBRARIES ${ScaLAPACK_LIBRARY})
    endif()
endif()

find_package_handle_standard_args(ScaLAPACK REQUIRED_VARS ScaLAPACK_LIBRARIES
    REASON_FAILURE_MESSAGE "install libscalapack-openmpi-dev, or set ScaLAPACK_LIBRARIES / ScaLAPACK_ROOT")

if(ScaLAPACK_FOUND AND NOT TARGET ScaLAPACK::ScaLAPACK)
    add_library(ScaLAPACK::ScaLAPACK INTERFACE IMPORTED)
    set_target_properties(ScaLAPACK::ScaLAPACK PROPERTIES INTERFACE_LINK_LIBRARIES "${ScaLAPACK_LIBRARIES}")
endif()
