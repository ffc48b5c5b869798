/* SPDX-License-Identifier: MIT */
/*
 * cmd_client.h - the client-side verbs of usblab: attach, detach, attached,
 * remote list. usblab.c parses their arguments into struct client_opts and
 * calls these; they print, and return usblab's exit status. The work is in
 * src/client (attach.h, vhci.h, devfiles.h, attach_record.h).
 */
#ifndef UL_CMD_CLIENT_H
#define UL_CMD_CLIENT_H

#include <stdbool.h>

/* Exit status beyond usblab.c's 0..4 (the README lists them all). */
enum {
	CLIENT_EXIT_REFUSED = 5, /* the server refused the import: absent, leased, busy */
	CLIENT_EXIT_NO_VHCI = 6, /* this machine cannot attach: no vhci-hcd, not root, no port */
};

struct client_opts {
	bool json;
	bool wait;               /* attach: wait while absent or leased */
	long long timeout_s;     /* with wait: -1 for no limit */
	bool follow;             /* attach: stay, and re-attach after the server lets go */
	const char *token;       /* attach: lease token */
	const char *socket_path; /* the local usblabd (who holds a lease, names) */
	bool socket_given;       /* --socket or $USBLAB_SOCKET was given */
};

/* usblab attach HOST[:PORT] NAME|BUSID */
int client_attach(const struct client_opts *o, const char *server, const char *what);

/* usblab detach NAME|PORT */
int client_detach(const struct client_opts *o, const char *what);

/* usblab attached */
int client_attached(const struct client_opts *o);

/* usblab remote list HOST[:PORT]... */
int client_remote_list(const struct client_opts *o, const char *const *hosts, int n);

#endif /* UL_CMD_CLIENT_H */
