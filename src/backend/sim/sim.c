/* SPDX-License-Identifier: MIT */
/*
 * sim.c - the `sim` backend's front: a spec string becomes a device (see
 * sim.h; the device itself is sim_dev.c and its class module).
 *
 * Spec syntax, KIND[:ARG]:
 *   cdc              echo serial port
 *   cdc:FILE         serial port answering as the script FILE says (sim_cdc.h)
 *   hid              keyboard typing "usblab\n" once per import
 *   hid:TEXT         ... typing TEXT (C escapes \n \r \t \b \e \\ \xHH)
 *   msc              mass storage on a 16 MiB RAM disk
 *   msc:ram:SIZE     ... on a RAM disk of SIZE bytes, suffix K, M or G (1024s)
 *   msc:FILE         ... on FILE (write "./ram:x" for a file named ram:x)
 *   esp32            ESP32 on its USB-Serial/JTAG port: app or ROM bootloader
 *                    (sim_esp32.h)
 *   esp32:reenum     ... on USB-OTG: another identity per mode
 *   delay:MS:SPEC    SPEC whose open, SET_CONFIGURATION and reset take MS ms
 *                    (test aid, see sim.h)
 */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_cdc.h"
#include "sim_dev.h"
#include "sim_esp32.h"
#include "sim_hid.h"
#include "sim_msc.h"

#define SIM_MAX_INDEX 255 /* usbip(8) keeps devnum in a uint8_t (§4.6) */

/* Parses SIZE of msc:ram:SIZE. Returns 0, or -1 when it is not a number
 * with an optional K, M or G suffix. */
static int parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	unsigned shift = 0;

	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (*p != '\0' && p[1] != '\0')
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

static int create_msc(struct sim_dev *dev, const char *arg, char *why, size_t whylen)
{
	uint64_t size = SIM_MSC_RAM_DEFAULT;

	if (arg == NULL || strcmp(arg, "ram") == 0)
		return sim_msc_init(dev, NULL, size, why, whylen);
	if (strncmp(arg, "ram:", 4) == 0) {
		if (parse_size(arg + 4, &size) < 0) {
			snprintf(why, whylen,
			         "bad RAM disk size '%s' (examples: 1048576, 512K, 64M)", arg + 4);
			return -1;
		}
		return sim_msc_init(dev, NULL, size, why, whylen);
	}
	if (*arg == '\0') {
		snprintf(why, whylen, "missing FILE after 'msc:'");
		return -1;
	}
	return sim_msc_init(dev, arg, 0, why, whylen);
}

/* Parses the "delay:MS:" prefix of a spec. Returns the rest of the spec,
 * or NULL when MS is not 1..60000. */
static const char *parse_delay(const char *spec, unsigned *ms)
{
	const char *p = spec + 6;
	unsigned v = 0;

	if (*p < '0' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > 60000)
			return NULL;
	}
	if (*p != ':' || v == 0)
		return NULL;
	*ms = v;
	return p + 1;
}

int sim_create(const char *spec, unsigned index, struct usbip_export **out, char *err,
               size_t errlen)
{
	const char *full = spec;
	unsigned delay_ms = 0;

	if (strncmp(spec, "delay:", 6) == 0) {
		spec = parse_delay(spec, &delay_ms);
		if (spec == NULL) {
			snprintf(err, errlen, "sim '%s': want delay:MS:SPEC with MS 1..60000",
			         full);
			*out = NULL;
			return -1;
		}
	}
	const char *colon = strchr(spec, ':');
	size_t kind_len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	const char *arg = colon != NULL ? colon + 1 : NULL;
	struct sim_dev *dev = NULL;
	char why[300];
	int rc = -1;

	*out = NULL;
	if (index < 1 || index > SIM_MAX_INDEX) {
		snprintf(why, sizeof(why), "device index %u is outside 1..%d", index,
		         SIM_MAX_INDEX);
		goto fail;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	dev->index = index;
	if (kind_len == 3 && strncmp(spec, "cdc", 3) == 0) {
		if (arg != NULL && *arg == '\0') {
			snprintf(why, sizeof(why), "missing script FILE after 'cdc:'");
			goto fail;
		}
		rc = sim_cdc_init(dev, arg, why, sizeof(why));
	} else if (kind_len == 3 && strncmp(spec, "hid", 3) == 0) {
		rc = sim_hid_init(dev, arg, why, sizeof(why));
	} else if (kind_len == 3 && strncmp(spec, "msc", 3) == 0) {
		rc = create_msc(dev, arg, why, sizeof(why));
	} else if (kind_len == 5 && strncmp(spec, "esp32", 5) == 0) {
		if (arg != NULL && strcmp(arg, "reenum") != 0) {
			snprintf(why, sizeof(why),
			         "esp32 takes no argument but 'reenum' (esp32:reenum: an ESP32-S3 "
			         "on USB-OTG, re-enumerating at each reset)");
			goto fail;
		}
		rc = sim_esp32_init(dev, arg != NULL, why, sizeof(why));
	} else {
		snprintf(why, sizeof(why),
		         "unknown device kind '%.*s' (expected cdc, hid, msc or esp32)",
		         (int)(kind_len > 32 ? 32 : kind_len), spec);
	}
	if (rc < 0)
		goto fail;
	sim_dev_finish(dev);
	dev->delay_ms = delay_ms;
	*out = &dev->exp;
	return 0;
fail:
	free(dev); /* a failed class init has freed its own state */
	snprintf(err, errlen, "sim '%s': %s", full, why);
	return -1;
}

void sim_set_clock(struct usbip_export *exp, sim_clock_fn clock, void *ctx)
{
	struct sim_dev *dev = exp->priv;

	dev->clock = clock;
	dev->clock_ctx = ctx;
}

const char *sim_serial(const struct usbip_export *exp)
{
	const struct sim_dev *dev;

	if (exp == NULL || exp->ops != &sim_dev_ops)
		return NULL;
	dev = exp->priv;
	return dev->serial;
}

int sim_set_loop(struct usbip_export *exp, struct event_base *base)
{
	struct sim_dev *dev = exp->priv;

	if (dev->work == NULL)
		dev->work = offload_new(base);
	return dev->work != NULL ? 0 : -1;
}

void sim_destroy(struct usbip_export *exp)
{
	if (exp == NULL)
		return;
	struct sim_dev *dev = exp->priv;

	/* Jobs still running finish first: their completions touch the class. */
	offload_free(dev->work);
	if (dev->cls != NULL)
		dev->cls->destroy(dev);
	free(dev);
}

void sim_set_owner(struct usbip_export *exp, const struct sim_owner_ops *ops, void *ctx)
{
	struct sim_dev *dev = exp->priv;

	dev->owner = ops;
	dev->owner_ctx = ctx;
}

int sim_unplug(struct usbip_export *exp)
{
	return sim_dev_unplug(exp->priv);
}

bool sim_is_unplugged(const struct usbip_export *exp)
{
	const struct sim_dev *dev = exp->priv;

	return dev->unplugged;
}

bool sim_is_released(const struct usbip_export *exp)
{
	const struct sim_dev *dev = exp->priv;

	return dev->unplugged && dev->released;
}

int sim_replug(struct usbip_export *exp, bool power_on)
{
	return sim_dev_replug(exp->priv, power_on);
}
