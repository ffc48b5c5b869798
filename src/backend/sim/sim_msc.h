/* SPDX-License-Identifier: MIT */
/*
 * sim_msc.h - the sim USB mass storage device (usb-storage binds to it).
 *
 * One interface 0x08/0x06/0x50: SCSI transparent command set over
 * Bulk-Only Transport 1.0, bulk IN 0x81 and bulk OUT 0x02, one LUN of
 * 512-byte blocks. The medium is a RAM disk or a file, read and written in
 * place with pread/pwrite (a file opened read-only becomes a
 * write-protected disk). SYNCHRONIZE CACHE does not fsync: writes are in
 * the host's page cache when the command completes.
 *
 * Data phases may span any number of URBs of any size. CBW validity, the
 * thirteen host/device cases and reset recovery follow BOT 1.0 §6.
 */
#ifndef SIM_MSC_H
#define SIM_MSC_H

#include <stddef.h>
#include <stdint.h>

#include "sim_dev.h"

#define SIM_MSC_PID         0x0003
#define SIM_MSC_BLOCK       512
#define SIM_MSC_RAM_DEFAULT (16u * 1024u * 1024u)
#define SIM_MSC_RAM_MAX     (1024ull * 1024u * 1024u) /* 1 GiB */

/* Makes dev a mass storage device on a RAM disk of ram_size bytes (a
 * non-zero multiple of 512), or on the file at path when path is not NULL.
 * Returns 0, or -1 with a reason in err. */
int sim_msc_init(struct sim_dev *dev, const char *path, uint64_t ram_size, char *err,
                 size_t errlen);

#endif /* SIM_MSC_H */
