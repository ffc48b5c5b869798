/* SPDX-License-Identifier: MIT */
/*
 * service_units.h - the systemd unit templates (service/usblabd*.service.in),
 * compiled into usblab by service/embed_units.py. "@BINDIR@" in them is
 * replaced by the directory of the usblabd being installed.
 */
#ifndef UL_SERVICE_UNITS_H
#define UL_SERVICE_UNITS_H

extern const char service_unit_system[];
extern const char service_unit_user[];

#endif /* UL_SERVICE_UNITS_H */
