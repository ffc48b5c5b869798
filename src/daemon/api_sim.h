/* SPDX-License-Identifier: MIT */
/*
 * api_sim.h - unplug and replug of usblabd's virtual devices, by hand (the
 * control-API methods `unplug` and `replug`) or on their own (an
 * esp32:reenum re-enumerating at a chip reset): the device leaves the
 * server as a pulled cable does (its client's URBs end with ENODEV, the
 * connection closes, the tracker hears a departure) and comes back as a
 * new export under the same busid (an arrival, or a re-enumeration).
 */
#ifndef UL_API_SIM_H
#define UL_API_SIM_H

#include "usbip_server.h"

struct usblabd;
struct api_sim;

/* The daemon's side: made once, before the first virtual device. NULL
 * when out of memory. */
struct api_sim *api_sim_new(struct usblabd *d);
/* Takes charge of a virtual device the daemon exports (sim_set_owner).
 * Returns 0, or -1 when out of memory. */
int api_sim_adopt(struct api_sim *s, struct usbip_export *exp);
/* Whether the daemon took exp out of the server (unplugged, or between
 * the two halves of a re-enumeration): it must not be removed again. */
bool api_sim_is_out(const struct api_sim *s, const struct usbip_export *exp);
/* Ends what is pending (a replug waiting for the core: "stopping") and
 * frees, touching no device (the daemon clears their owner with
 * sim_set_owner(exp, NULL, NULL) before it destroys them). Before
 * api_free(). */
void api_sim_free(struct api_sim *s);

/* The methods unplug and replug are declared in api_call.h. */

#endif /* UL_API_SIM_H */
