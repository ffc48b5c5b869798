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
 * An mmap() and a munmap() per URB would cost more than the copies save
 * (usbfs allocates and zeroes contiguous memory for each mapping), so freed
 * buffers are kept per device for the next URB of the same size class (a
 * power of two, see mem_class): at most USBDEV_MEM_CACHE buffers and
 * USBDEV_MEM_CACHE_BYTES per device, the least recently kept unmapped
 * first when a newer one needs the room. usbfs bounds all of it system-wide
 * (usbfs_memory_mb, 16 MiB by default); when a mapping is refused, the
 * device's URBs keep their data in the core's block for a while (the
 * copying path) before the next try.
 *
 * On the loop's thread only.
 */
#include <string.h>
#include <sys/mman.h>

#include "ul_log.h"
#include "usbdev_int.h"

#define SETUP_SIZE LIBUSB_CONTROL_SETUP_SIZE
/* URBs that use the copying path after a mapping was refused. */
#define MEM_RETRY_AFTER 256

/* The mapping for a need: a power of two from one page up. Transfer
 * lengths vary from one URB to the next (a block device's requests are cut
 * where its scatter list runs out of segments, so one 1 MiB read arrives
 * as READ(10)s of 28 KiB, 264 KiB, 476 KiB, ...); classes by whole pages
 * would almost never meet again, and every miss is an mmap() that makes
 * usbfs allocate and zero contiguous DMA memory. Powers of two give at
 * most nine classes up to USBDEV_MEM_MAX, which all fit in the cache. */
static size_t mem_class(size_t need)
{
	size_t size = 4096;

	while (size < need)
		size <<= 1;
	return size;
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

/* Takes entry i out of the cache, keeping the rest oldest first. */
static void mem_forget(struct usbdev_dev *dev, unsigned i)
{
	dev->mem_cached -= dev->mem[i].size;
	dev->nmem--;
	memmove(&dev->mem[i], &dev->mem[i + 1], (dev->nmem - i) * sizeof(dev->mem[0]));
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
			mem_forget(dev, i);
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
	if (dev->handle && !dev->gone && !dev->closed && size <= USBDEV_MEM_CACHE_BYTES) {
		/* The least recently kept make room: what the device's traffic
		 * needed long ago (enumeration, a partition scan) must not hold
		 * the cache against what it needs now. */
		while (dev->nmem == USBDEV_MEM_CACHE ||
		       dev->mem_cached + size > USBDEV_MEM_CACHE_BYTES) {
			mem_unmap(dev, dev->mem[0].buf, dev->mem[0].size);
			mem_forget(dev, 0);
		}
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
