/* SPDX-License-Identifier: MIT */
/*
 * test_core_pending.c - the server core's USBIP_PENDING contract
 * (usbip_server.h): an open() or a special request that a backend
 * finishes later with usbip_open_done() / usbip_special_done(), against a
 * recording transport and a backend that never completes anything itself
 * (tests/lib/fake_core.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_core.h"
#include "usbip_server.h"

struct env {
	struct fake_rec rec;
	struct fake_dev fake;
	struct usbip_server srv;
	struct usbip_export exp;
	struct usbip_conn conn, other;
};

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	usbip_server_init(&e->srv, &fake_core_transport_ops, &e->rec);
	fake_core_export_init(&e->exp, &e->fake, "9-9", 9, 9);
	e->fake.cancel_keeps = 1; /* a reset in progress cannot be cancelled */
	assert_int_equal(usbip_server_add_export(&e->srv, &e->exp), 0);
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	assert_int_equal(e->rec.live, 0); /* every URB freed */
	free(e);
	return 0;
}

/* The status of the OP_REP_IMPORT sent at offset off. */
static uint32_t import_status_at(const struct fake_rec *r, size_t off)
{
	struct usbip_op_common op;

	assert_true(r->outlen >= off + USBIP_OP_COMMON_SIZE);
	assert_true(usbip_decode_op_common(r->out + off, r->outlen - off, &op) >= 0);
	assert_int_equal(op.code, USBIP_OP_REP_IMPORT);
	return op.status;
}

static void feed_import(struct usbip_conn *c, struct usbip_server *srv, void *transport)
{
	uint8_t req[USBIP_OP_IMPORT_REQ_SIZE];

	usbip_conn_init(srv, c, transport);
	assert_int_equal(usbip_encode_op_req_import(req, sizeof(req), "9-9"), (int)sizeof(req));
	assert_int_equal(usbip_conn_feed(c, req, sizeof(req)), (long)sizeof(req));
}

/* A CMD_SUBMIT on ep0, OUT, with setup and no payload. */
static size_t cmd_ctrl(uint8_t *out, uint32_t seq, const uint8_t setup[8])
{
	struct usbip_header h = {0};

	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = seq;
	h.base.devid = 9u << 16 | 9u;
	memcpy(h.u.cmd_submit.setup, setup, 8);
	assert_int_equal(usbip_encode_header(out, USBIP_HEADER_SIZE, &h), USBIP_HEADER_SIZE);
	return USBIP_HEADER_SIZE;
}

static void decode_ret(const struct fake_rec *r, size_t off, struct usbip_header *h)
{
	assert_true(r->outlen >= off + USBIP_HEADER_SIZE);
	assert_true(usbip_decode_header(r->out + off, USBIP_HEADER_SIZE, h) >= 0);
}

/* Imports with open() answering at once (the setup for special tests). */
static void import_now(struct env *e)
{
	feed_import(&e->conn, &e->srv, NULL);
	assert_int_equal(import_status_at(&e->rec, 0), USBIP_ST_OK);
	e->rec.outlen = 0;
}

static const uint8_t port_reset[8] = {0x23, 3, 4, 0, 0, 0, 0, 0};

/* A pending open: no reply, the device is held, nothing is read until
 * usbip_open_done(); then ST_OK and the URB phase. */
static void test_open_pending_then_ok(void **state)
{
	struct env *e = *state;
	uint8_t req[8], cmd[USBIP_HEADER_SIZE];

	e->fake.open_rc = USBIP_PENDING;
	feed_import(&e->conn, &e->srv, NULL);
	assert_int_equal(e->fake.opens, 1);
	assert_int_equal(e->rec.outlen, 0);
	assert_false(usbip_conn_wants_input(&e->conn));
	/* Bytes sent early are not taken. */
	cmd_ctrl(cmd, 1, port_reset);
	assert_int_equal(usbip_conn_feed(&e->conn, cmd, sizeof(cmd)), 0);
	/* A second client: busy; DEVLIST: hidden. */
	feed_import(&e->other, &e->srv, NULL);
	assert_int_equal(import_status_at(&e->rec, 0), USBIP_ST_DEV_BUSY);
	assert_int_equal(e->fake.opens, 1);
	e->rec.outlen = 0;
	usbip_conn_init(&e->srv, &e->other, NULL);
	usbip_encode_op_req_devlist(req, sizeof(req));
	assert_int_equal(usbip_conn_feed(&e->other, req, sizeof(req)), 8);
	assert_int_equal(e->rec.out[11], 0); /* ndev == 0 */
	usbip_conn_destroy(&e->other);
	e->rec.outlen = 0;

	usbip_open_done(&e->exp, USBIP_ST_OK);
	assert_int_equal(import_status_at(&e->rec, 0), USBIP_ST_OK);
	assert_int_equal(e->rec.imported, 1);
	assert_true(usbip_conn_wants_input(&e->conn));
	usbip_conn_destroy(&e->conn);
	assert_int_equal(e->fake.closes, 1);
	assert_int_equal(e->rec.unimported, 1);
}

/* A pending open that fails: the status goes out, no close(). */
static void test_open_pending_then_refused(void **state)
{
	struct env *e = *state;

	e->fake.open_rc = USBIP_PENDING;
	feed_import(&e->conn, &e->srv, NULL);
	usbip_open_done(&e->exp, USBIP_ST_DEV_BUSY);
	assert_int_equal(import_status_at(&e->rec, 0), USBIP_ST_DEV_BUSY);
	assert_int_equal(e->rec.closed, 1);
	usbip_conn_destroy(&e->conn);
	assert_int_equal(e->fake.closes, 0);
	assert_int_equal(e->rec.imported, 0);
	/* Free again. */
	e->fake.open_rc = 0;
	e->rec.outlen = 0;
	feed_import(&e->conn, &e->srv, NULL);
	assert_int_equal(import_status_at(&e->rec, 0), USBIP_ST_OK);
	usbip_conn_destroy(&e->conn);
}

/* The client leaves during a pending open of a removed export: the
 * successful open is undone with close(), then release(); no
 * notifications, since nobody imported it. */
static void test_open_pending_client_gone(void **state)
{
	struct env *e = *state;

	e->fake.open_rc = USBIP_PENDING;
	feed_import(&e->conn, &e->srv, NULL);
	usbip_conn_destroy(&e->conn);
	usbip_server_remove_export(&e->srv, &e->exp);
	assert_int_equal(e->fake.releases, 0); /* held until open_done */
	usbip_open_done(&e->exp, USBIP_ST_OK);
	assert_int_equal(e->fake.closes, 1);
	assert_int_equal(e->fake.releases, 1);
	assert_int_equal(e->rec.imported, 0);
	assert_int_equal(e->rec.unimported, 0);
	assert_int_equal(e->rec.outlen, 0);
}

/* A pending reset holds the client's next command back until
 * usbip_special_done(0): RET_SUBMIT(0) for it first, then the next one. */
static void test_special_pending_holds_input(void **state)
{
	struct env *e = *state;
	uint8_t two[2 * USBIP_HEADER_SIZE];
	uint8_t get_status[8] = {0x80, 0, 0, 0, 0, 0, 0, 0};
	struct usbip_header h;

	import_now(e);
	e->fake.reset_rc = USBIP_PENDING;
	cmd_ctrl(two, 1, port_reset);
	cmd_ctrl(two + USBIP_HEADER_SIZE, 2, get_status);
	/* Only the reset is taken; the transport keeps the rest. */
	assert_int_equal(usbip_conn_feed(&e->conn, two, sizeof(two)), USBIP_HEADER_SIZE);
	assert_int_equal(e->fake.resets, 1);
	assert_false(usbip_conn_wants_input(&e->conn));
	assert_int_equal(e->rec.outlen, 0);

	usbip_special_done(&e->exp, 0);
	decode_ret(&e->rec, 0, &h);
	assert_int_equal(h.base.command, USBIP_RET_SUBMIT);
	assert_int_equal(h.base.seqnum, 1);
	assert_int_equal(h.u.ret_submit.status, 0);
	assert_int_equal(e->fake.submits, 0); /* not forwarded */
	assert_true(usbip_conn_wants_input(&e->conn));
	assert_int_equal(usbip_conn_feed(&e->conn, two + USBIP_HEADER_SIZE, USBIP_HEADER_SIZE),
	                 USBIP_HEADER_SIZE);
	assert_int_equal(e->fake.submits, 1);
	fake_core_complete_last(&e->fake, 0);
	usbip_conn_destroy(&e->conn);
}

/* A pending reset that fails is forwarded with submit(), as a synchronous
 * failure is (§4.5); the hold lasts until that URB's reply. */
static void test_special_pending_failure_forwards(void **state)
{
	struct env *e = *state;
	struct usbip_header h;
	uint8_t cmd[USBIP_HEADER_SIZE];

	import_now(e);
	e->fake.reset_rc = USBIP_PENDING;
	cmd_ctrl(cmd, 7, port_reset);
	assert_int_equal(usbip_conn_feed(&e->conn, cmd, sizeof(cmd)), USBIP_HEADER_SIZE);
	usbip_special_done(&e->exp, -USBIP_EPIPE);
	assert_int_equal(e->fake.submits, 1);
	assert_int_equal(e->fake.nheld, 1);
	assert_false(usbip_conn_wants_input(&e->conn));
	fake_core_complete_last(&e->fake, -USBIP_EPIPE);
	decode_ret(&e->rec, 0, &h);
	assert_int_equal(h.base.seqnum, 7);
	assert_int_equal(h.u.ret_submit.status, -USBIP_EPIPE);
	assert_true(usbip_conn_wants_input(&e->conn));
	usbip_conn_destroy(&e->conn);
}

/* The client leaves during a pending reset: the URB is orphaned (cancel
 * may be ignored), close() waits for usbip_special_done, and no reply
 * goes out. */
static void test_special_pending_client_gone(void **state)
{
	struct env *e = *state;
	uint8_t cmd[USBIP_HEADER_SIZE];

	import_now(e);
	e->fake.reset_rc = USBIP_PENDING;
	cmd_ctrl(cmd, 3, port_reset);
	assert_int_equal(usbip_conn_feed(&e->conn, cmd, sizeof(cmd)), USBIP_HEADER_SIZE);
	usbip_conn_destroy(&e->conn);
	assert_int_equal(e->fake.cancels, 1);
	assert_int_equal(e->fake.closes, 0);
	usbip_special_done(&e->exp, 0);
	assert_int_equal(e->fake.closes, 1);
	assert_int_equal(e->fake.submits, 0);
	assert_int_equal(e->rec.outlen, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_open_pending_then_ok, env_setup, env_teardown),
	        cmocka_unit_test_setup_teardown(test_open_pending_then_refused, env_setup,
	                                        env_teardown),
	        cmocka_unit_test_setup_teardown(test_open_pending_client_gone, env_setup,
	                                        env_teardown),
	        cmocka_unit_test_setup_teardown(test_special_pending_holds_input, env_setup,
	                                        env_teardown),
	        cmocka_unit_test_setup_teardown(test_special_pending_failure_forwards, env_setup,
	                                        env_teardown),
	        cmocka_unit_test_setup_teardown(test_special_pending_client_gone, env_setup,
	                                        env_teardown),
	};

	return cmocka_run_group_tests_name("core-pending", tests, NULL, NULL);
}
