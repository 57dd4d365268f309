# Builds the three probes of tests/wall/CMakeLists.txt and checks that only
# the public one compiles, and that the others fail for the missing header.
# -DBUILD_DIR=<the build directory>
function(build_probe target out_rc out_log)
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${target}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log)
  set(${out_rc} ${rc} PARENT_SCOPE)
  set(${out_log} "${log}" PARENT_SCOPE)
endfunction()

build_probe(ragd_wall_public_probe rc log)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the public probe failed to build, so the check below would prove nothing:\n${log}")
endif()
foreach(probe private upstream)
  build_probe(ragd_wall_${probe}_probe rc log)
  if(rc EQUAL 0)
    message(FATAL_ERROR "ragd_wall_${probe}_probe built: the wall between modules has a hole")
  endif()
  if(NOT log MATCHES "No such file or directory")
    message(FATAL_ERROR "ragd_wall_${probe}_probe failed for another reason than the wall:\n${log}")
  endif()
  message(STATUS "ragd_wall_${probe}_probe: refused as it should be")
endforeach()
