# install.cmake - what `cmake --install` puts under the prefix (docs/library.md):
#   bin/ipusim                          the program
#   LIBDIR/libipusim.a, libipusim.so    the library: every layer's objects plus the API of host/ipusim.h
#   include/ipusim/ipusim.h             its one public header (no internal header is installed)
#   LIBDIR/pkgconfig/ipusim.pc          for pkg-config (relocatable: paths relative to the .pc file)
#   LIBDIR/cmake/ipusim/                find_package(ipusim): ipusim::ipusim (shared), ipusim::ipusim_static
# Included by the top CMakeLists.txt after the layers (ipusim_layer records their OBJECT libraries).

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(ipusim_layer_objs GLOBAL PROPERTY IPUSIM_LAYER_OBJECTS)
set(ipusim_lib_objs)
foreach(o IN LISTS ipusim_layer_objs)
  list(APPEND ipusim_lib_objs $<TARGET_OBJECTS:${o}>)
endforeach()

# The public header, where in-tree users of ipusim::ipusim find it as <ipusim/ipusim.h>.
configure_file(${CMAKE_SOURCE_DIR}/host/ipusim.h ${CMAKE_BINARY_DIR}/include/ipusim/ipusim.h COPYONLY)

# cJSON and PCRE2 by name (-lcjson -lpcre2-8), so the exported static target names no path of
# this machine; a program linking the static library needs them too, the shared one records them.
add_library(ipusim_lib_shared SHARED ${ipusim_lib_objs})
add_library(ipusim_lib_static STATIC ${ipusim_lib_objs})
set_target_properties(ipusim_lib_shared PROPERTIES OUTPUT_NAME ipusim EXPORT_NAME ipusim
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
set_target_properties(ipusim_lib_static PROPERTIES OUTPUT_NAME ipusim EXPORT_NAME ipusim_static)
foreach(t ipusim_lib_shared ipusim_lib_static)
  target_include_directories(${t} INTERFACE
    $<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${t} PRIVATE ${CJSON_LIBRARIES} ${PCRE2_LIBRARIES} OpenMP::OpenMP_C m)
  target_link_directories(${t} PRIVATE ${CJSON_LIBRARY_DIRS} ${PCRE2_LIBRARY_DIRS})
  if(IPUSIM_SANITIZE)
    # An instrumented library needs its sanitizer runtimes first in the program that loads it.
    target_link_options(${t} INTERFACE -fsanitize=address,undefined)
  endif()
endforeach()
add_library(ipusim::ipusim ALIAS ipusim_lib_shared)
add_library(ipusim::ipusim_static ALIAS ipusim_lib_static)

install(TARGETS ipusim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ipusim_lib_shared ipusim_lib_static EXPORT ipusimTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/host/ipusim.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ipusim)

# pkg-config: prefix relative to the .pc file, so `cmake --install --prefix P` anywhere works.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(IPUSIM_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(IPUSIM_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH up "/r/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/r")
  string(REGEX REPLACE "/$" "" up "${up}")
  set(IPUSIM_PC_PREFIX "\${pcfiledir}/${up}")
  set(IPUSIM_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(IPUSIM_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(IPUSIM_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(IPUSIM_PC_LIBS_EXTRA "")
if(IPUSIM_SANITIZE)
  set(IPUSIM_PC_LIBS_EXTRA " -fsanitize=address,undefined")
endif()
set(IPUSIM_PC_LIBS_PRIVATE "${OpenMP_C_FLAGS} -lm")
configure_file(${CMAKE_CURRENT_LIST_DIR}/ipusim.pc.in ${CMAKE_BINARY_DIR}/ipusim.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/ipusim.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# find_package(ipusim [0.1] CONFIG)
set(ipusim_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/ipusim)
install(EXPORT ipusimTargets NAMESPACE ipusim:: DESTINATION ${ipusim_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ipusimConfig.cmake.in
  ${CMAKE_BINARY_DIR}/ipusimConfig.cmake INSTALL_DESTINATION ${ipusim_cmake_dir})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/ipusimConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/ipusimConfig.cmake ${CMAKE_BINARY_DIR}/ipusimConfigVersion.cmake
  DESTINATION ${ipusim_cmake_dir})
