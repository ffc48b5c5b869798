/* SPDX-License-Identifier: MIT */
/*
 * attach_record.h - what this machine has attached, one JSON file per vhci
 * port: RUNDIR/attached/PORT.json (RUNDIR is /run/usblab, or
 * $USBLAB_RUN_DIR). `usblab attach` writes it, `usblab detach` removes it,
 * `usblab attached` lists it, and a follower (`attach --follow`) rewrites
 * it on every re-attach. The kernel's port table stays the truth: a record
 * whose port is free again is stale (the server went away).
 */
#ifndef UL_ATTACH_RECORD_H
#define UL_ATTACH_RECORD_H

#include <stdint.h>

#include <jansson.h>

#include "devfiles.h"

#define ATTACH_RUN_DIR "/run/usblab"

struct attach_record {
	unsigned port;     /* vhci port */
	char host[256];    /* the server as given */
	char tcp_port[16]; /* its TCP port */
	char name[64];     /* the board as asked for (name or busid, no token) */
	char lbusid[32];   /* the local busid, "4-1" */
	char path[256];    /* the device's path on the server (DEVLIST/IMPORT record) */
	uint16_t vid, pid;
	unsigned speed;      /* usb_device_speed */
	char since[32];      /* ISO time of the (last) attach */
	unsigned reattaches; /* how often a follower re-attached it */
	int follow_pid;      /* the follower's pid, 0 when none */
	char follower[16];   /* "usblabd" when the local daemon follows it (then
	                      * follow_pid is the daemon's: never signal it), "" else */
	struct devfile files[DEVFILES_MAX];
	unsigned nfiles;
};

struct attach_result;

/* Fills rec's server, name, port, device and files from a successful
 * attach_run (since = now). follow_pid, follower and reattaches stay. */
void attach_record_fill(struct attach_record *rec, const char *host, const char *tcp_port,
                        const char *name, const struct attach_result *res);

/* RUNDIR: $USBLAB_RUN_DIR when set, else /run/usblab. */
const char *attach_run_dir(void);

/* The record as a JSON object (new reference; NULL when out of memory). */
json_t *attach_record_json(const struct attach_record *r);

/* Fills r from a JSON object. Returns 0, or -1 when a field is missing or
 * of the wrong type. */
int attach_record_from_json(const json_t *o, struct attach_record *r);

/* Writes RUNDIR/attached/PORT.json atomically (temporary file + rename).
 * Returns 0 or -errno. */
int attach_record_save(const char *rundir, const struct attach_record *r);

/* Reads RUNDIR/attached/PORT.json. Returns 0, -ENOENT, or -EINVAL for a
 * file that does not parse. */
int attach_record_load(const char *rundir, unsigned port, struct attach_record *r);

/* Every record, by port. Returns the number stored (up to max). */
int attach_record_list(const char *rundir, struct attach_record *out, unsigned max);

/* Removes RUNDIR/attached/PORT.json (and PORT.follow). Returns 0 or -errno. */
int attach_record_remove(const char *rundir, unsigned port);

/*
 * What a follower needs to import the board again and the record does not
 * show: the import's busid field as asked for (the name or busid, without
 * the token) and the lease token ("" for none). RUNDIR/attached/PORT.follow,
 * mode 0600: the token is a lease's secret and the record is for everyone
 * to read. A usblabd that restarts follows its attachments again from it.
 * Save returns 0 or -errno; load returns 0, -ENOENT, or -EINVAL for a file
 * that does not parse or does not fit.
 */
int attach_follow_save(const char *rundir, unsigned port, const char *what, const char *token);
int attach_follow_load(const char *rundir, unsigned port, char *what, size_t wcap, char *token,
                       size_t tcap);

#endif /* UL_ATTACH_RECORD_H */
