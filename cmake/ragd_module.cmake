# ragd_module(NAME <name> [PUBLIC_DEPS ...] [PRIVATE_DEPS ...] [PRIVATE_INCLUDES ...])
# Builds every .cpp in the calling folder (not subfolders) into the static
# library ragd_<name>. Third-party libraries go in PRIVATE_DEPS so that only
# this module sees them.
function(ragd_module)
  cmake_parse_arguments(M "" "NAME" "PUBLIC_DEPS;PRIVATE_DEPS;PRIVATE_INCLUDES" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  if(NOT srcs)  # a module still being written
    add_library(ragd_${M_NAME} INTERFACE)
    target_link_libraries(ragd_${M_NAME} INTERFACE ragd_common ${M_PUBLIC_DEPS})
    return()
  endif()
  add_library(ragd_${M_NAME} STATIC ${srcs})
  target_link_libraries(ragd_${M_NAME} PUBLIC ragd_common ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  if(M_PRIVATE_INCLUDES)
    target_include_directories(ragd_${M_NAME} SYSTEM PRIVATE ${M_PRIVATE_INCLUDES})
  endif()
endfunction()

# ragd_test_dir(<module> [LIBS ...]) -- one GoogleTest binary per tests/<module>
# folder. Files named *_slow_test.cpp go into a second binary labelled "slow".
function(ragd_test_dir module)
  cmake_parse_arguments(T "" "" "LIBS" ${ARGN})
  file(GLOB fast CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cpp)
  file(GLOB slow CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_slow_test.cpp)
  if(slow)
    list(REMOVE_ITEM fast ${slow})
  endif()
  foreach(kind fast slow)
    if(${kind})
      set(exe ragd_${module}_${kind}_tests)
      add_executable(${exe} ${${kind}})
      target_link_libraries(${exe} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
      target_compile_definitions(${exe} PRIVATE
        RAGD_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
        RAGD_BINARY_DIR="${PROJECT_BINARY_DIR}")
      # gtest_discover_tests cannot pass a list-valued property, so a test
      # carries one label: its module when fast, "slow" when slow.
      if(kind STREQUAL "slow")
        set(label slow)
      else()
        set(label ${module})
      endif()
      gtest_discover_tests(${exe} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
        PROPERTIES LABELS ${label} ENVIRONMENT "RAGD_BIN=${PROJECT_BINARY_DIR}/api/ragd")
    endif()
  endforeach()
endfunction()
