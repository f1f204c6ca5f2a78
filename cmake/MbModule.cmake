# mb_add_module(NAME DEPS...): the static library mb_NAME from NAME/*.c (and, for
# kernels, the scalar ref/ and cpu/ folders plus cuda/*.cu when the CUDA backend is on).
# The folder root is the include path, so other folders include "mb_NAME.h".
function(mb_add_module name)
    set(dir ${CMAKE_SOURCE_DIR}/${name})
    file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*.c)
    if(name STREQUAL "kernels")
        file(GLOB ref_srcs CONFIGURE_DEPENDS ${dir}/ref/*.c ${dir}/cpu/*.c)
        list(APPEND srcs ${ref_srcs})
        if(MB_HAVE_CUDA)
            file(GLOB cu_srcs CONFIGURE_DEPENDS ${dir}/cuda/*.cu ${dir}/cuda/*.c)
        else()
            file(GLOB cu_srcs CONFIGURE_DEPENDS ${dir}/nocuda/*.c)
        endif()
        list(APPEND srcs ${cu_srcs})
    endif()
    if(NOT srcs)
        # A folder with no code yet: an interface library keeps the arrows intact.
        add_library(mb_${name} INTERFACE)
        target_include_directories(mb_${name} INTERFACE ${dir} ${CMAKE_SOURCE_DIR})
        target_link_libraries(mb_${name} INTERFACE ${ARGN})
        return()
    endif()
    add_library(mb_${name} STATIC ${srcs})
    target_include_directories(mb_${name} PUBLIC ${dir} ${CMAKE_SOURCE_DIR})
    target_link_libraries(mb_${name} PUBLIC ${ARGN})
    mb_target_warnings(mb_${name})
    if(name STREQUAL "kernels" AND MB_HAVE_CUDA)
        # Static CUDA runtime (nvcc's default): the binary starts without libcudart.
        # cuBLAS is dlopen'ed at first use (DESIGN.md §8), so only -ldl is needed here.
        set_target_properties(mb_${name} PROPERTIES CUDA_RUNTIME_LIBRARY Static
                                                    CUDA_SEPARABLE_COMPILATION OFF
                                                    CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
        target_link_libraries(mb_${name} PUBLIC CUDA::cudart_static ${CMAKE_DL_LIBS})
        target_compile_definitions(mb_${name} PUBLIC MB_HAVE_CUDA=1)
        target_include_directories(mb_${name} PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
        target_compile_options(mb_${name} PRIVATE
            $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo>)
    endif()
endfunction()
