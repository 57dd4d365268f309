# The build's identity for `ragd --version`, /healthz and /v1/stats: the
# project version, the git commit (read at configure time; "unknown" outside
# git) and the build type. Sets RAGD_GIT_COMMIT and RAGD_BUILD_TYPE, and makes
# CMake re-configure when HEAD moves, so the commit does not go stale.
set(RAGD_GIT_COMMIT unknown)
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${PROJECT_SOURCE_DIR} rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE commit RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0 AND commit)
    set(RAGD_GIT_COMMIT ${commit})
    # HEAD and the branch it points at: a commit or a checkout re-runs CMake.
    # (Uncommitted edits are not tracked: the commit names the last commit.)
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${PROJECT_SOURCE_DIR} rev-parse --path-format=absolute
                            --git-path HEAD
                    OUTPUT_VARIABLE git_paths OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${PROJECT_SOURCE_DIR} symbolic-ref -q HEAD
                    OUTPUT_VARIABLE head_ref OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    string(REPLACE "\n" ";" git_paths "${git_paths}")
    if(head_ref)
      execute_process(COMMAND ${GIT_EXECUTABLE} -C ${PROJECT_SOURCE_DIR} rev-parse --path-format=absolute
                              --git-path ${head_ref}
                      OUTPUT_VARIABLE ref_path OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      list(APPEND git_paths ${ref_path})
    endif()
    foreach(p ${git_paths})
      if(EXISTS ${p})
        set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${p})
      endif()
    endforeach()
  endif()
endif()
set(RAGD_BUILD_TYPE "${CMAKE_BUILD_TYPE}")
if(NOT RAGD_BUILD_TYPE)
  set(RAGD_BUILD_TYPE none)
endif()
