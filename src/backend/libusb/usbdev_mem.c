/* SPDX-License-Identifier: MIT */
/*
 * usbdev_mem.c - usbfs-mapped data memory for URBs (zero copy).
 *
 * usbfs lets a process map DMA-able kernel memory into its address space
 * (libusb_dev_mem_alloc: an mmap() of the device's usbfs fd). A transfer
 * whose buffer lies in such a mapping is handed to the host controller as
 * it is: usbfs neither allocates a kernel buffer for it nor copies the
 * data from user space at submission (OUT) or back at reaping (IN). The
 * core receives OUT data straight into the mapping and the daemon sends IN
 * data from it (usbip_device_ops.data_alloc), so the URB's bytes cross the
 * user/kernel boundary once each way, as the kernel's own stub does.
 *
 * An mmap() and a munmap() per URB would cost more system calls than the
 * copies save, so freed buffers are kept per device for the next URB of
 * the same size class (whole pages): at most USBDEV_MEM_CACHE buffers and
 * USBDEV_MEM_CACHE_BYTES per device. usbfs bounds all of it system-wide
 * (usbfs_memory_mb, 16 MiB by default); when a mapping is refused, the
 * device's URBs keep their data in the core's block for a while (the
 * copying path) before the next try.
 *
 * On the loop's thread only.
 */
#include <sys/mman.h>

#include "ul_log.h"
#include "usbdev_int.h"

#define SETUP_SIZE LIBUSB_CONTROL_SETUP_SIZE
/* URBs that use the copying path after a mapping was refused. */
#define MEM_RETRY_AFTER 256

static size_t mem_class(size_t need)
{
	const size_t page = 4096;

	return (need + page - 1) / page * page;
}

/* The whole buffer behind the data of a URB: control transfers carry
 * the 8-byte setup packet in front of their data (libusb's layout). */
static size_t mem_need(uint8_t ep_type, size_t length)
{
	return length + (ep_type == USBIP_EP_CONTROL ? SETUP_SIZE : 0);
}

/* Unmaps buf. libusb_dev_mem_free() needs the device's handle; a device
 * whose handle is gone (abandoned at exit) still has its mapping, which
 * is an mmap() of usbfs that munmap() alone ends. */
static void mem_unmap(struct usbdev_dev *dev, uint8_t *buf, size_t size)
{
	if (dev->handle)
		libusb_dev_mem_free(dev->handle, buf, size);
	else
		munmap(buf, size);
}

void *usbdev_mem_alloc(struct usbip_export *exp, uint8_t ep_type, size_t length)
{
	struct usbdev_dev *dev = exp->priv;
	size_t size = mem_class(mem_need(ep_type, length));
	uint8_t *buf = NULL;

	if (dev->handle == NULL || dev->gone || size > USBDEV_MEM_MAX)
		return NULL;
	for (unsigned i = dev->nmem; i-- > 0;) {
		if (dev->mem[i].size == size) {
			buf = dev->mem[i].buf;
			dev->mem_cached -= size;
			dev->mem[i] = dev->mem[--dev->nmem];
			break;
		}
	}
	if (buf == NULL) {
		if (dev->mem_skip > 0) {
			dev->mem_skip--;
			return NULL;
		}
		buf = libusb_dev_mem_alloc(dev->handle, size);
		if (buf == NULL) {
			if (!dev->mem_refused)
				ul_info("usb",
				        "%s: usbfs refused %zu bytes of mapped memory "
				        "(usbfs_memory_mb?): copying URB data instead",
				        dev->facts.busid, size);
			dev->mem_refused = true;
			dev->mem_skip = MEM_RETRY_AFTER;
			return NULL;
		}
	}
	dev->mem_out++;
	return buf + (ep_type == USBIP_EP_CONTROL ? SETUP_SIZE : 0);
}

void usbdev_mem_free(struct usbip_export *exp, void *data, uint8_t ep_type, size_t length)
{
	struct usbdev_dev *dev = exp->priv;
	size_t size = mem_class(mem_need(ep_type, length));
	uint8_t *buf = (uint8_t *)data - (ep_type == USBIP_EP_CONTROL ? SETUP_SIZE : 0);

	dev->mem_out--;
	if (dev->handle && !dev->gone && !dev->closed && dev->nmem < USBDEV_MEM_CACHE &&
	    dev->mem_cached + size <= USBDEV_MEM_CACHE_BYTES) {
		dev->mem[dev->nmem].buf = buf;
		dev->mem[dev->nmem].size = size;
		dev->nmem++;
		dev->mem_cached += size;
	} else {
		mem_unmap(dev, buf, size);
	}
	/* The core may have let the device go while this buffer was queued. */
	if (dev->mem_out == 0 && dev->closed)
		usbdev_dev_schedule_reap(dev);
}

void usbdev_mem_drop(struct usbdev_dev *dev)
{
	while (dev->nmem > 0) {
		dev->nmem--;
		mem_unmap(dev, dev->mem[dev->nmem].buf, dev->mem[dev->nmem].size);
	}
	dev->mem_cached = 0;
}
