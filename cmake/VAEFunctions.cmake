# CMake functions of the openmm-vae build, shared by the top-level build and the standalone trainer
# build (bench/trainer/gpu).

# LibTorch's headers take ~30 s to parse in every translation unit that includes them (most here), so
# each multi-file library parses them once into a precompiled header.
function(vae_precompile_torch_headers target)
  if(VAE_PRECOMPILE_HEADERS)
    target_precompile_headers(${target} PRIVATE <torch/torch.h> <torch/script.h>)
  endif()
endfunction()

# A floor library of the plugin (docs/architecture.md): shared, include/ public (installed under
# include/openmmvae), -Wall, and found beside the other floors through $ORIGIN once installed.
function(vae_add_floor_library name)
  cmake_parse_arguments(arg "" "" "SOURCES;LINK" ${ARGN})
  add_library(${name} SHARED ${arg_SOURCES})
  target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
                             $<INSTALL_INTERFACE:include/openmmvae>)
  target_link_libraries(${name} PUBLIC ${arg_LINK})
  target_compile_options(${name} PRIVATE -Wall)
  set_target_properties(${name} PROPERTIES INSTALL_RPATH "\$ORIGIN;${CMAKE_INSTALL_RPATH}")
  install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY include/ DESTINATION include/openmmvae)
endfunction()
