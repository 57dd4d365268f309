# cmake -DSRC=tests/api/node -DDST=<build>/tests/api/node -DNPM=npm -P npm_install.cmake
# Copies the test scripts and the pinned package.json/package-lock.json into the
# build dir and installs exactly the locked versions there (npm ci).
file(MAKE_DIRECTORY "${DST}")
file(GLOB files "${SRC}/*.mjs" "${SRC}/package.json" "${SRC}/package-lock.json")
file(COPY ${files} DESTINATION "${DST}")
set(stamp "${DST}/node_modules/.ragd-lock")
file(SHA256 "${SRC}/package-lock.json" lock_hash)
if(EXISTS "${stamp}")
  file(READ "${stamp}" old)
  if(old STREQUAL lock_hash)
    message(STATUS "node packages already installed (package-lock.json unchanged)")
    return()
  endif()
endif()
execute_process(COMMAND "${NPM}" ci --no-audit --no-fund --ignore-scripts
                WORKING_DIRECTORY "${DST}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "npm ci failed (${rc}): the node tests need npm and network access to the npm registry")
endif()
file(WRITE "${stamp}" "${lock_hash}")
