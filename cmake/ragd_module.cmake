# The wall between modules. Each module lists its PUBLIC_HEADERS; other
# modules, tests and benches reach only those, as "<module>/<header>", through
# <build>/wall/<module>/public (symbolic links made at configure time), and
# only when they link the module. The module's own sources, its tests
# (tests/<module>/) and what ragd_sees_internals() names see the whole folder
# through <build>/wall/<module>/private. The repository root is on no
# include path, so including another module's private header fails to build.
set(RAGD_WALL ${PROJECT_BINARY_DIR}/wall)

# The folder whose "<module>/..." is the module's whole source folder.
function(ragd_private_dir module out)
  set(dir ${RAGD_WALL}/${module}/private)
  if(NOT EXISTS ${dir}/${module})
    file(MAKE_DIRECTORY ${dir})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${module} ${dir}/${module} SYMBOLIC)
  endif()
  set(${out} ${dir} PARENT_SCOPE)
endfunction()

# Lets `target` include every header of each module named (a module's own
# test or benchmark of its internals, a fuzz target built from its sources).
function(ragd_sees_internals target)
  foreach(module ${ARGN})
    ragd_private_dir(${module} dir)
    target_include_directories(${target} PRIVATE ${dir})
  endforeach()
endfunction()

# Test helpers ("tests/<module>/...h") are for tests and benches only.
function(ragd_sees_test_helpers target)
  set(dir ${RAGD_WALL}/tests)
  if(NOT EXISTS ${dir}/tests)
    file(MAKE_DIRECTORY ${dir})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/tests ${dir}/tests SYMBOLIC)
  endif()
  target_include_directories(${target} PRIVATE ${dir})
endfunction()

# ragd_module(NAME <name> PUBLIC_HEADERS <header>... [PUBLIC_DEPS ...]
#             [PRIVATE_DEPS ...] [PRIVATE_INCLUDES ...])
# Builds every .cpp in the calling folder (not subfolders) into the static
# library ragd_<name>. Third-party libraries go in PRIVATE_DEPS so that only
# this module sees them; PUBLIC_HEADERS are the headers other modules may
# include (see the wall above).
function(ragd_module)
  cmake_parse_arguments(M "" "NAME" "PUBLIC_HEADERS;PUBLIC_DEPS;PRIVATE_DEPS;PRIVATE_INCLUDES" ${ARGN})
  set(pub ${RAGD_WALL}/${M_NAME}/public)
  file(REMOVE_RECURSE ${pub})
  file(MAKE_DIRECTORY ${pub}/${M_NAME})
  foreach(h ${M_PUBLIC_HEADERS})
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${h})
      message(FATAL_ERROR "ragd_module(${M_NAME}): public header ${h} does not exist")
    endif()
    get_filename_component(sub ${h} DIRECTORY)
    file(MAKE_DIRECTORY ${pub}/${M_NAME}/${sub})
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR}/${h} ${pub}/${M_NAME}/${h} SYMBOLIC)
  endforeach()
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  if(NOT srcs)  # a module still being written
    add_library(ragd_${M_NAME} INTERFACE)
    target_link_libraries(ragd_${M_NAME} INTERFACE ragd_common ${M_PUBLIC_DEPS})
    target_include_directories(ragd_${M_NAME} INTERFACE ${pub})
    return()
  endif()
  add_library(ragd_${M_NAME} STATIC ${srcs})
  target_link_libraries(ragd_${M_NAME} PUBLIC ragd_common ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  target_include_directories(ragd_${M_NAME} PUBLIC ${pub})
  ragd_sees_internals(ragd_${M_NAME} ${M_NAME})
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
      ragd_sees_test_helpers(${exe})
      if(EXISTS ${PROJECT_SOURCE_DIR}/${module}/CMakeLists.txt)
        ragd_sees_internals(${exe} ${module})
      endif()
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
