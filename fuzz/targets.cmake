# The fuzz targets, what each links, and where its seeds are (the one list: fuzz/CMakeLists.txt
# refuses a *_fuzz.cpp missing here and writes the list out for the scripts).
set(DROPCHECK_FUZZ_TARGETS
    header address envelope
    pop3_server pop3_client smtp_server smtp_reply
    config profile scenario journal mailboxes)

set(DROPCHECK_FUZZ_LIBS_header dropcheck_mail)
set(DROPCHECK_FUZZ_LIBS_address dropcheck_mail)
set(DROPCHECK_FUZZ_LIBS_envelope dropcheck_mail)
set(DROPCHECK_FUZZ_LIBS_pop3_server dropcheck_protocol)
set(DROPCHECK_FUZZ_INCLUDES_pop3_server ${PROJECT_SOURCE_DIR}/tests/protocol_pop3)
set(DROPCHECK_FUZZ_LIBS_pop3_client dropcheck_client dropcheck_protocol)
set(DROPCHECK_FUZZ_LIBS_smtp_server dropcheck_protocol)
set(DROPCHECK_FUZZ_INCLUDES_smtp_server ${PROJECT_SOURCE_DIR}/tests/protocol_smtp)
set(DROPCHECK_FUZZ_LIBS_smtp_reply dropcheck_protocol dropcheck_base)
set(DROPCHECK_FUZZ_LIBS_config dropcheck_fetcher)
set(DROPCHECK_FUZZ_LIBS_profile dropcheck_fake_pop3)
set(DROPCHECK_FUZZ_LIBS_scenario dropcheck_runner)
set(DROPCHECK_FUZZ_LIBS_journal dropcheck_journal)
set(DROPCHECK_FUZZ_LIBS_mailboxes dropcheck_fake_pop3)

# dropcheck_fuzz_seeds(TARGET OUT): the seed files, corpus/<target>/* plus the shipped files of
# its kind. Files, not directories: libFuzzer runs a list of files once each (the replay test).
function(dropcheck_fuzz_seeds t out)
  file(GLOB _seeds CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/corpus/${t}/*)
  if(t STREQUAL "scenario")
    file(GLOB _more CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/scenarios/*.yaml)
  elseif(t STREQUAL "profile")
    file(GLOB _more CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fake-pop3/profiles/*.yaml)
  endif()
  if(NOT _seeds)
    message(FATAL_ERROR "fuzz/corpus/${t}/ is empty: every target needs seeds")
  endif()
  set(${out} ${_seeds} ${_more} PARENT_SCOPE)
endfunction()
