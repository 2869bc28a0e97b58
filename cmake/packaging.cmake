# Install and package (README "Install and package"): `cmake --install build` puts the three
# programs, the provider profiles, the scenario library, shell completion and the docs under
# the prefix; `cpack --config build/CPackConfig.cmake -G DEB` makes a Debian package whose
# dependencies dpkg-shlibdeps reads off the binaries.
include(GNUInstallDirs)

install(TARGETS dropcheck fake-pop3 fake-smtp RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
file(GLOB _profiles CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fake-pop3/profiles/*)
install(FILES ${_profiles} DESTINATION ${CMAKE_INSTALL_DATADIR}/dropcheck/profiles)
file(GLOB _scenarios CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/scenarios/*.yaml)
install(FILES ${_scenarios} ${PROJECT_SOURCE_DIR}/scenarios/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/dropcheck/scenarios)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/dropcheck.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME dropcheck)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
foreach(_doc fake-smtp analyzer probe)
  install(FILES ${PROJECT_SOURCE_DIR}/${_doc}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
          RENAME ${_doc}.md)
endforeach()

set(CPACK_PACKAGE_NAME dropcheck)
set(CPACK_PACKAGE_VENDOR "dropcheck")
set(CPACK_PACKAGE_CONTACT "dropcheck maintainers <dropcheck@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "diagnostics and test harness for POP3 multidrop (catch-all) fetchers")
set(CPACK_PACKAGE_DESCRIPTION
    "Simulated provider POP3 servers and a receiving SMTP server replay scenarios against a
fetcher (its own correct core, fetchmail, getmail6, any command); an analyzer compares what
arrived with the original envelopes and reports leaks, duplicates and lost recipients.")
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "fetchmail, getmail6, msmtp, chromium")
set(CPACK_STRIP_FILES ON)
include(CPack)
