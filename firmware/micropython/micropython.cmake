# micropython.cmake - the usbip user C module for MicroPython's CMake ports
# (rp2, board RPI_PICO_W). Build:
#   make -C ports/rp2 BOARD=RPI_PICO_W \
#        USER_C_MODULES=<usblab>/firmware/micropython/micropython.cmake
# It compiles lib/usbip and firmware/ (no second protocol implementation)
# and, unless MICROPY_USBIP_USB_HOST is OFF, turns the RP2040's USB port
# into a TinyUSB host: the USB device (and the USB REPL) goes away, use
# the UART REPL (GP0/GP1). With it OFF the board must enable host mode
# itself (e.g. PIO-USB); MICROPY_PY_USBIP follows CFG_TUH_ENABLED.
get_filename_component(USBLAB_TOP ${CMAKE_CURRENT_LIST_DIR}/../.. ABSOLUTE)

add_library(usermod_usbip INTERFACE)

target_sources(usermod_usbip INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/modusbip.c
    ${USBLAB_TOP}/firmware/usbip_fw.c
    ${USBLAB_TOP}/firmware/usbip_fw_pool.c
    ${USBLAB_TOP}/firmware/usbip_lwip.c
    ${USBLAB_TOP}/firmware/usbip_tuh.c
    ${USBLAB_TOP}/lib/usbip/usbip_codec.c
    ${USBLAB_TOP}/lib/usbip/usbip_server.c
)

target_include_directories(usermod_usbip INTERFACE
    ${USBLAB_TOP}/firmware
    ${USBLAB_TOP}/lib/usbip/include
    ${PICO_TINYUSB_PATH}/src
    ${MICROPY_DIR}/shared/tinyusb
)

if(NOT DEFINED MICROPY_USBIP_USB_HOST)
    set(MICROPY_USBIP_USB_HOST ON)
endif()

if(MICROPY_USBIP_USB_HOST)
    set(USBIP_HOST_DEFS
        MICROPY_HW_ENABLE_USBDEV=0
        MICROPY_HW_ENABLE_UART_REPL=1
        CFG_TUSB_RHPORT0_MODE=OPT_MODE_HOST
        CFG_TUH_ENABLED=1
        CFG_TUH_API_EDPT_XFER=1
        CFG_TUH_ENUMERATION_BUFSIZE=256
    )
    # INTERFACE definitions reach every source of the firmware, TinyUSB's
    # and MicroPython's tusb_config.h included; the QSTR and root-pointer
    # scan sees only MICROPY_CPP_DEF_EXTRA, so they go there too.
    target_compile_definitions(usermod_usbip INTERFACE ${USBIP_HOST_DEFS})
    list(APPEND MICROPY_CPP_DEF_EXTRA ${USBIP_HOST_DEFS})
    # TinyUSB's host stack for the RP2040 controller, added to the firmware
    # target once it exists. Not by linking tinyusb_host: MicroPython would
    # gather every pico-sdk library behind it as user-module sources (C++
    # ones included) and scan them for QSTRs.
    cmake_language(DEFER CALL target_sources ${MICROPY_TARGET} PRIVATE
        ${PICO_TINYUSB_PATH}/src/host/usbh.c
        ${PICO_TINYUSB_PATH}/src/host/hub.c
        ${PICO_TINYUSB_PATH}/src/portable/raspberrypi/rp2040/hcd_rp2040.c
    )
endif()

target_link_libraries(usermod INTERFACE usermod_usbip)
