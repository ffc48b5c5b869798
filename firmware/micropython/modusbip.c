/* SPDX-License-Identifier: MIT */
/*
 * modusbip.c - the MicroPython `usbip` module: a thin binding over
 * firmware/usbip_fw.h. Python calls run in thread mode and take lwIP's
 * lock (MICROPY_PY_LWIP_ENTER), so they never interleave with the module's
 * work, which runs from a 1 ms soft timer at PendSV level, the level where
 * the rp2 port also runs lwIP and the CYW43 driver: tuh_task() then
 * usbip_fw_task(). Attach/detach events are queued there and handed to
 * the Python callback through mp_sched_schedule().
 *
 *   usbip.start(port=3240, filter=None, callback=None)
 *       filter: None (every device) or (vid, pid), pid 0 for any product.
 *       callback(event, busid): event is "attach" or "detach".
 *   usbip.stop()
 *   usbip.devices() -> [(busid, vid, pid, imported), ...]
 */
#include "py/mphal.h"
#include "py/mperrno.h"
#include "py/runtime.h"

#ifndef MICROPY_PY_USBIP
#if defined(CFG_TUH_ENABLED) && MICROPY_PY_LWIP
#define MICROPY_PY_USBIP (CFG_TUH_ENABLED)
#else
#define MICROPY_PY_USBIP (0)
#endif
#endif

#if MICROPY_PY_USBIP

#include <string.h>

#include "shared/runtime/softtimer.h"
#include "tusb.h"
#include "usbip_fw.h"
#include "usbip_fw_opts.h"

#define USBIP_EVENTS 8

static soft_timer_entry_t usbip_timer;

/* Events from PendSV level to the scheduler: a small ring, no heap. */
static struct {
	uint8_t kind[USBIP_EVENTS];
	char busid[USBIP_EVENTS][USBIP_BUSID_SIZE];
	volatile unsigned head, tail;
} usbip_events;

MP_REGISTER_ROOT_POINTER(mp_obj_t usbip_callback);

static mp_obj_t usbip_dispatch(mp_obj_t arg)
{
	(void)arg;
	while (usbip_events.tail != usbip_events.head) {
		unsigned i = usbip_events.tail % USBIP_EVENTS;
		mp_obj_t args[2] = {
		        MP_OBJ_NEW_QSTR(usbip_events.kind[i] == USBIP_TUH_ATTACHED
		                                ? MP_QSTR_attach
		                                : MP_QSTR_detach),
		        mp_obj_new_str(usbip_events.busid[i], strlen(usbip_events.busid[i])),
		};

		usbip_events.tail++;
		if (MP_STATE_VM(usbip_callback) != MP_OBJ_NULL)
			mp_call_function_n_kw(MP_STATE_VM(usbip_callback), 2, 0, args);
	}
	return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(usbip_dispatch_obj, usbip_dispatch);

/* PendSV level: no heap, no Python. A full ring drops the event. */
static void usbip_on_event(void *ctx, int event, const struct usbip_export *exp)
{
	unsigned i = usbip_events.head % USBIP_EVENTS;

	(void)ctx;
	if (usbip_events.head - usbip_events.tail >= USBIP_EVENTS)
		return;
	usbip_events.kind[i] = (uint8_t)event;
	memcpy(usbip_events.busid[i], exp->info.busid, USBIP_BUSID_SIZE);
	usbip_events.head++;
	mp_sched_schedule(MP_OBJ_FROM_PTR(&usbip_dispatch_obj), mp_const_none);
}

static void usbip_timer_cb(soft_timer_entry_t *self)
{
	(void)self;
	tuh_task();
	usbip_fw_task();
}

static mp_obj_t usbip_start(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args)
{
	enum { ARG_port, ARG_filter, ARG_callback };
	static const mp_arg_t allowed[] = {
	        {MP_QSTR_port, MP_ARG_INT, {.u_int = USBIP_FW_CFG_PORT}},
	        {MP_QSTR_filter, MP_ARG_OBJ, {.u_obj = mp_const_none}},
	        {MP_QSTR_callback, MP_ARG_OBJ, {.u_obj = mp_const_none}},
	};
	mp_arg_val_t args[MP_ARRAY_SIZE(allowed)];
	mp_int_t vid = 0, pid = 0;
	int rc;

	mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed), allowed, args);
	if (args[ARG_port].u_int < 1 || args[ARG_port].u_int > 65535)
		mp_raise_ValueError(MP_ERROR_TEXT("port"));
	if (args[ARG_filter].u_obj != mp_const_none) {
		mp_obj_t *vp;

		mp_obj_get_array_fixed_n(args[ARG_filter].u_obj, 2, &vp);
		vid = mp_obj_get_int(vp[0]);
		pid = mp_obj_get_int(vp[1]);
		if (vid < 0 || vid > 0xffff || pid < 0 || pid > 0xffff)
			mp_raise_ValueError(MP_ERROR_TEXT("filter"));
	}
	MP_STATE_VM(usbip_callback) =
	        args[ARG_callback].u_obj == mp_const_none ? MP_OBJ_NULL : args[ARG_callback].u_obj;
	if (!tuh_inited())
		tuh_init(0);
	MICROPY_PY_LWIP_ENTER
	rc = usbip_fw_start((uint16_t)args[ARG_port].u_int, (uint16_t)vid, (uint16_t)pid,
	                    usbip_on_event, NULL);
	MICROPY_PY_LWIP_EXIT
	if (rc == USBIP_E_STATE)
		mp_raise_OSError(MP_EALREADY);
	if (rc == USBIP_E_INVALID)
		mp_raise_OSError(MP_EADDRINUSE);
	if (rc != USBIP_OK)
		mp_raise_OSError(MP_ENOMEM);
	soft_timer_static_init(&usbip_timer, SOFT_TIMER_MODE_PERIODIC, 1, usbip_timer_cb);
	soft_timer_insert(&usbip_timer, 1);
	return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(usbip_start_obj, 0, usbip_start);

static mp_obj_t usbip_stop(void)
{
	soft_timer_remove(&usbip_timer);
	MICROPY_PY_LWIP_ENTER
	usbip_fw_stop();
	MICROPY_PY_LWIP_EXIT
	/* Detach events the stop caused still reach the callback. */
	usbip_dispatch(mp_const_none);
	MP_STATE_VM(usbip_callback) = MP_OBJ_NULL;
	return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(usbip_stop_obj, usbip_stop);

static mp_obj_t usbip_devices(void)
{
	struct usbip_tuh_info info[USBIP_FW_CFG_MAX_DEVICES];
	unsigned n;
	mp_obj_t list = mp_obj_new_list(0, NULL);

	MICROPY_PY_LWIP_ENTER
	n = usbip_tuh_devices(info, USBIP_FW_CFG_MAX_DEVICES);
	MICROPY_PY_LWIP_EXIT
	for (unsigned i = 0; i < n; i++) {
		mp_obj_t t[4] = {
		        mp_obj_new_str(info[i].busid, strlen(info[i].busid)),
		        MP_OBJ_NEW_SMALL_INT(info[i].vid),
		        MP_OBJ_NEW_SMALL_INT(info[i].pid),
		        mp_obj_new_bool(info[i].imported),
		};

		mp_obj_list_append(list, mp_obj_new_tuple(4, t));
	}
	return list;
}
static MP_DEFINE_CONST_FUN_OBJ_0(usbip_devices_obj, usbip_devices);

static const mp_rom_map_elem_t usbip_globals_table[] = {
        {MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_usbip)},
        {MP_ROM_QSTR(MP_QSTR_start), MP_ROM_PTR(&usbip_start_obj)},
        {MP_ROM_QSTR(MP_QSTR_stop), MP_ROM_PTR(&usbip_stop_obj)},
        {MP_ROM_QSTR(MP_QSTR_devices), MP_ROM_PTR(&usbip_devices_obj)},
};
static MP_DEFINE_CONST_DICT(usbip_globals, usbip_globals_table);

const mp_obj_module_t usbip_module = {
        .base = {&mp_type_module},
        .globals = (mp_obj_dict_t *)&usbip_globals,
};

MP_REGISTER_MODULE(MP_QSTR_usbip, usbip_module);

#endif /* MICROPY_PY_USBIP */
