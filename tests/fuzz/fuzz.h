/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - shared by the lib/usbip fuzz targets and their replay driver.
 *
 * A target is one LLVMFuzzerTestOneInput(). Built with
 * clang -fsanitize=fuzzer it is a libFuzzer binary (see run-fuzz.sh);
 * linked with fuzz_replay.c it replays a corpus as a normal test.
 */
#ifndef USBLAB_FUZZ_H
#define USBLAB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the codec promises; on failure, abort so libFuzzer saves the
 * input and the replay test fails. Never compiled out, unlike assert(). */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif /* USBLAB_FUZZ_H */
