/* SPDX-License-Identifier: MIT */
/*
 * event_stub.c - TEMPORARY, tests only: the few event.h functions the store
 * tests need until src/bench/event.c (another branch) lands in main. Then
 * this file goes and the tests link the real one. Not a second
 * implementation: nothing in src/ uses it.
 */
#include <stdio.h>
#include <string.h>

#include "event.h"

static const char *const stub_kind_names[UL_EV__COUNT] = {
        "arrived",        "departed",        "reenumerated",    "exported",
        "unexported",     "imported",        "released",        "client-gone",
        "import-refused", "lease-taken",     "lease-renewed",   "lease-released",
        "lease-expired",  "config-reloaded", "config-rejected", "error",
};

const char *ul_event_kind_name(enum ul_event_kind kind)
{
	if ((unsigned)kind >= UL_EV__COUNT)
		return NULL;
	return stub_kind_names[kind];
}

int ul_event_kind_parse(const char *name)
{
	for (int i = 0; i < UL_EV__COUNT; i++)
		if (strcmp(stub_kind_names[i], name) == 0)
			return i;
	return -1;
}

void ul_copy_field(char *dst, size_t cap, const char *src)
{
	if (cap == 0)
		return;
	snprintf(dst, cap, "%s", src ? src : "");
}
