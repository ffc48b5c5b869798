/* SPDX-License-Identifier: MIT */
#include "usbdev_map.h"

#include "usbip_server.h"

int32_t usbdev_map_status(enum libusb_transfer_status st, bool gone, bool short_not_ok_short)
{
	switch (st) {
	case LIBUSB_TRANSFER_COMPLETED:
		return 0;
	case LIBUSB_TRANSFER_STALL:
		return -USBIP_EPIPE;
	case LIBUSB_TRANSFER_TIMED_OUT:
		return -USBIP_ETIMEDOUT;
	case LIBUSB_TRANSFER_OVERFLOW:
		return -USBIP_EOVERFLOW;
	case LIBUSB_TRANSFER_NO_DEVICE:
		return -USBIP_ENODEV;
	case LIBUSB_TRANSFER_CANCELLED:
		return gone ? -USBIP_ENODEV : -USBIP_ECONNRESET;
	case LIBUSB_TRANSFER_ERROR:
		if (gone)
			return -USBIP_ENODEV;
		return short_not_ok_short ? -USBIP_EREMOTEIO : -USBIP_EPROTO;
	}
	return gone ? -USBIP_ENODEV : -USBIP_EPROTO;
}

int32_t usbdev_map_error(int libusb_error)
{
	switch (libusb_error) {
	case LIBUSB_SUCCESS:
		return 0;
	case LIBUSB_ERROR_NO_DEVICE:
		return -USBIP_ENODEV;
	case LIBUSB_ERROR_PIPE:
		return -USBIP_EPIPE;
	case LIBUSB_ERROR_TIMEOUT:
		return -USBIP_ETIMEDOUT;
	case LIBUSB_ERROR_OVERFLOW:
		return -USBIP_EOVERFLOW;
	case LIBUSB_ERROR_NO_MEM:
		return -USBIP_ENOMEM;
	case LIBUSB_ERROR_INVALID_PARAM:
	case LIBUSB_ERROR_NOT_FOUND:
	case LIBUSB_ERROR_NOT_SUPPORTED:
		/* e.g. an endpoint the current settings lack, or an interface
		 * that is not claimed: the request is invalid, as the kernel
		 * says with -EINVAL. */
		return -USBIP_EINVAL;
	default:
		return -USBIP_EPROTO;
	}
}

uint8_t usbdev_map_flags(uint32_t transfer_flags, uint8_t ep_type, bool dir_in)
{
	uint8_t flags = 0;

	/* §3.6: the stub keeps ZERO_PACKET for bulk OUT and SHORT_NOT_OK for
	 * non-ISO IN only; ISO_ASAP is what libusb always does on Linux. */
	if ((transfer_flags & USBIP_URB_ZERO_PACKET) && ep_type == USBIP_EP_BULK && !dir_in)
		flags |= LIBUSB_TRANSFER_ADD_ZERO_PACKET;
	if ((transfer_flags & USBIP_URB_SHORT_NOT_OK) && ep_type != USBIP_EP_ISO && dir_in)
		flags |= LIBUSB_TRANSFER_SHORT_NOT_OK;
	return flags;
}

uint8_t usbdev_map_type(uint8_t ep_type)
{
	switch (ep_type) {
	case USBIP_EP_ISO:
		return LIBUSB_TRANSFER_TYPE_ISOCHRONOUS;
	case USBIP_EP_BULK:
		return LIBUSB_TRANSFER_TYPE_BULK;
	case USBIP_EP_INT:
		return LIBUSB_TRANSFER_TYPE_INTERRUPT;
	default:
		return LIBUSB_TRANSFER_TYPE_CONTROL;
	}
}
