# dropcheck_library(NAME DEPS ... PRIVATE_DEPS ...): one static library per component folder.
# DEPS: what its public headers (include/) include, passed on to its users; PRIVATE_DEPS: what
# only src/ uses, so a user that includes those headers without linking them fails to build.
# Sources: every src/*.cpp in the folder (globbed, so parallel work does not edit this file).
function(dropcheck_library name)
  cmake_parse_arguments(ARG "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  add_library(${name} STATIC ${_srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# dropcheck_embed(OUT_CPP SYMBOL FILES...): compile text files into the binary as
# std::span<const EmbeddedFile> SYMBOL() so programs run with no files on disk.
function(dropcheck_embed out_cpp symbol)
  set(_files ${ARGN})
  list(JOIN _files "|" _joined)  # ';' would split the shell command
  add_custom_command(
    OUTPUT ${out_cpp}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_cpp} -DSYMBOL=${symbol} "-DFILES=${_joined}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${_files} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "Embedding ${symbol}"
    VERBATIM)
endfunction()
