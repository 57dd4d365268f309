# Node-driven tests over loopback (included by tests/api/CMakeLists.txt):
#   api_node_install      npm ci of the pinned packages (package-lock.json) into the build dir
#   api_openai_client     the official `openai` client against `ragd serve --llm`
#   api_openai_client_tls the same over HTTPS (--tls-cert/--tls-key made by ragd_api_test_cert)
#   api_web_page          the web page in headless Chromium (playwright-core + /usr/bin/chromium)
# npm and chromium are required (scripts/install-deps.sh); a failed install fails the tests.
set(node_src ${CMAKE_CURRENT_SOURCE_DIR}/node)
set(node_dir ${CMAKE_CURRENT_BINARY_DIR}/node)

add_executable(ragd_api_node_fixture ${node_src}/make_fixture.cpp)
target_link_libraries(ragd_api_node_fixture PRIVATE ragd_model)
target_compile_definitions(ragd_api_node_fixture PRIVATE RAGD_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                                     RAGD_BINARY_DIR="${PROJECT_BINARY_DIR}")

find_program(NPM_EXECUTABLE npm)
find_program(NODE_EXECUTABLE node)
if(NOT NPM_EXECUTABLE OR NOT NODE_EXECUTABLE)
  set(NPM_EXECUTABLE npm)
  set(NODE_EXECUTABLE node)
endif()

add_test(NAME api_node_install
  COMMAND ${CMAKE_COMMAND} -DSRC=${node_src} -DDST=${node_dir} -DNPM=${NPM_EXECUTABLE}
          -P ${node_src}/npm_install.cmake)
set_tests_properties(api_node_install PROPERTIES FIXTURES_SETUP api_node LABELS "api;node" TIMEOUT 600)

set(node_env
  RAGD_BIN=${PROJECT_BINARY_DIR}/api/ragd
  RAGD_FIXTURE=$<TARGET_FILE:ragd_api_node_fixture>
  RAGD_KB=${PROJECT_SOURCE_DIR}/examples/kb
  RAGD_ARTIFACTS=${CMAKE_CURRENT_BINARY_DIR}/artifacts
  NODE_PATH=${node_dir}/node_modules)
foreach(t openai_client web_page)
  add_test(NAME api_${t}
    COMMAND ${NODE_EXECUTABLE} ${node_dir}/${t}.test.mjs
    WORKING_DIRECTORY ${node_dir})
  set_tests_properties(api_${t} PROPERTIES FIXTURES_REQUIRED api_node LABELS "api;node"
    ENVIRONMENT "${node_env}" TIMEOUT 300)
endforeach()
# The openai client over HTTPS: ragd_api_test_cert writes a self-signed
# certificate (fixture api_tls_cert) that node trusts through
# NODE_EXTRA_CA_CERTS, which it reads only at start-up.
add_executable(ragd_api_test_cert ${node_src}/make_cert.cpp)
target_link_libraries(ragd_api_test_cert PRIVATE OpenSSL::Crypto)
target_include_directories(ragd_api_test_cert PRIVATE ${PROJECT_SOURCE_DIR})
set(tls_dir ${CMAKE_CURRENT_BINARY_DIR}/node_tls)
add_test(NAME api_tls_cert COMMAND ragd_api_test_cert ${tls_dir})
set_tests_properties(api_tls_cert PROPERTIES FIXTURES_SETUP api_tls_cert LABELS "api;node")
add_test(NAME api_openai_client_tls
  COMMAND ${NODE_EXECUTABLE} ${node_dir}/openai_client.test.mjs
  WORKING_DIRECTORY ${node_dir})
set_tests_properties(api_openai_client_tls PROPERTIES FIXTURES_REQUIRED "api_node;api_tls_cert" LABELS "api;node"
  ENVIRONMENT "${node_env};RAGD_TLS_DIR=${tls_dir};NODE_EXTRA_CA_CERTS=${tls_dir}/cert.pem" TIMEOUT 300)
# The same page against a default server (no --llm): Ask answers extractively.
add_test(NAME api_web_page_extractive
  COMMAND ${NODE_EXECUTABLE} ${node_dir}/web_page.test.mjs
  WORKING_DIRECTORY ${node_dir})
set_tests_properties(api_web_page_extractive PROPERTIES FIXTURES_REQUIRED api_node LABELS "api;node"
  ENVIRONMENT "${node_env};RAGD_WEB_LLM=0" TIMEOUT 300)
