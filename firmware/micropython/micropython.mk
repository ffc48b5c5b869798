# micropython.mk - the usbip user C module for MicroPython's make-based
# ports (USER_C_MODULES=<usblab>/firmware). The rp2 port builds with CMake
# (micropython.cmake); this file serves ports that build with make and
# provide TinyUSB host and lwIP themselves (MICROPY_PY_USBIP follows
# CFG_TUH_ENABLED && MICROPY_PY_LWIP).
USBIP_MOD_DIR := $(USERMOD_DIR)
USBLAB_TOP := $(USBIP_MOD_DIR)/../..

SRC_USERMOD_C += $(USBIP_MOD_DIR)/modusbip.c
SRC_USERMOD_LIB_C += $(USBLAB_TOP)/firmware/usbip_fw.c \
	$(USBLAB_TOP)/firmware/usbip_fw_pool.c \
	$(USBLAB_TOP)/firmware/usbip_lwip.c \
	$(USBLAB_TOP)/firmware/usbip_tuh.c \
	$(USBLAB_TOP)/lib/usbip/usbip_codec.c \
	$(USBLAB_TOP)/lib/usbip/usbip_server.c

CFLAGS_USERMOD += -I$(USBLAB_TOP)/firmware -I$(USBLAB_TOP)/lib/usbip/include
