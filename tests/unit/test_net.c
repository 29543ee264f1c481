/*
 * test_net.c - the UDP transport on loopback: messages of several types
 * arrive decoded with the sender's header (id, incarnation, increasing
 * sequence); every refusal (foreign key, tampered, garbage, short,
 * oversized, replayed, stale incarnation, not fresh, malformed body) is
 * -EBADMSG and bumps exactly the right counter; and the address parser
 * and formatter.
 *
 * Datagrams are awaited with poll() and a bound, never with sleeps.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "net.h"
#include "wire.h"

static char dir[64];
static char err[256];
static struct auth_keyring keys;  /* the cluster's */
static struct auth_keyring other; /* a stranger's */

static void load_new_keyring(const char *name, struct auth_keyring *kr)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(auth_keyring_generate(path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_keyring_load(path, kr, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(kr->n, 1);
}

static void setup(void)
{
	cr_assert_eq(auth_init(), 0);
	strcpy(dir, "/tmp/test_net.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	load_new_keyring("keyring", &keys);
	load_new_keyring("other", &other);
	cr_assert_neq(keys.ids[0], other.ids[0]);
}

static void teardown(void)
{
	auth_keyring_wipe(&keys);
	auth_keyring_wipe(&other);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(net, .init = setup, .fini = teardown, .timeout = 10);

static struct net_endpoint *open_ep(const struct auth_keyring *kr, const char *name,
				    uint64_t incarnation)
{
	struct net_config cfg = {
		.keys = kr,
		.sender_id = auth_sender_id(name),
		.incarnation = incarnation,
		.max_skew_ms = 60000,
	};
	struct net_endpoint *ep = NULL;
	cr_assert_eq(net_open(&cfg, &ep, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(ep);
	return ep;
}

static struct net_addr addr_of(const struct net_endpoint *ep)
{
	struct net_addr a;
	net_local_addr(ep, &a);
	return a;
}

static void wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	cr_assert_eq(poll(&p, 1, 2000), 1, "nothing arrived within 2 s");
}

/* Wait for one datagram and return what net_recv said about it. */
static int recv_one(struct net_endpoint *ep, struct net_msg *m)
{
	wait_readable(net_fd(ep));
	return net_recv(ep, m);
}

/* A plain UDP socket on 127.0.0.1, for raw bytes. */
static int plain_socket(struct net_addr *local)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct net_addr a;
	cr_assert_eq(net_addr_parse("127.0.0.1:0", &a, err, sizeof(err)), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a.ss, a.len), 0);
	local->len = sizeof(local->ss);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&local->ss, &local->len), 0);
	return fd;
}

static void send_raw(int fd, const struct net_addr *to, const void *buf, size_t len)
{
	cr_assert_eq(sendto(fd, buf, len, 0, (const struct sockaddr *)&to->ss, to->len),
		     (ssize_t)len);
}

static size_t recv_raw(int fd, uint8_t *buf, size_t cap)
{
	wait_readable(fd);
	ssize_t n = recv(fd, buf, cap, 0);
	cr_assert_gt(n, 0);
	return (size_t)n;
}

/* Every counter, exactly. */
static void expect(const struct net_stats *got, struct auth_stats want, uint64_t decode_errors)
{
#define F(f) cr_assert_eq(got->auth.f, want.f, #f ": got %llu, want %llu", \
			  (unsigned long long)got->auth.f, (unsigned long long)want.f)
	F(accepted); F(short_packet); F(oversized); F(bad_magic); F(bad_version);
	F(unknown_key); F(bad_tag); F(replayed); F(stale_incarnation); F(not_fresh);
#undef F
	cr_assert_eq(got->decode_errors, decode_errors);
}

/* ---- messages ---------------------------------------------------------- */

static struct wire_msg msg_hello(void)
{
	struct wire_msg m = {.type = WIRE_HELLO};
	strcpy(m.u.hello.name, "w1");
	m.u.hello.slots = 4;
	strcpy(m.u.hello.labels, "zone=a,gpu");
	m.u.hello.lease_ms = 15000;
	return m;
}

static struct wire_msg msg_dispatch(void)
{
	struct wire_msg m = {.type = WIRE_DISPATCH};
	m.u.dispatch.run_id = 77;
	m.u.dispatch.token = 1234567890123ULL;
	m.u.dispatch.attempt = 2;
	m.u.dispatch.scheduled_for = 1700000000;
	m.u.dispatch.timeout_ms = 30000;
	m.u.dispatch.lease_ms = 10000;
	m.u.dispatch.reason = 1;
	strcpy(m.u.dispatch.task, "backup");
	strcpy(m.u.dispatch.command, "tar czf /tmp/x.tgz /etc");
	return m;
}

static struct wire_msg msg_heartbeat(void)
{
	struct wire_msg m = {.type = WIRE_HEARTBEAT};
	strcpy(m.u.heartbeat.name, "w1");
	m.u.heartbeat.slots = 3;
	m.u.heartbeat.nruns = 2;
	m.u.heartbeat.runs[0] = (struct wire_run_entry){5, 50, 3};
	m.u.heartbeat.runs[1] = (struct wire_run_entry){6, 60, 2};
	return m;
}

static struct wire_msg msg_ack(void)
{
	struct wire_msg m = {.type = WIRE_ACK};
	m.u.ack.acked_type = WIRE_ENDED;
	m.u.ack.run_id = 9;
	m.u.ack.token = 99;
	return m;
}

static struct wire_msg msg_ended(void)
{
	struct wire_msg m = {.type = WIRE_ENDED};
	m.u.ended.run_id = 12;
	m.u.ended.token = 120;
	m.u.ended.state = 4;
	m.u.ended.exit_code = -1;
	m.u.ended.signal = 9;
	m.u.ended.started_at_ms = 1700000000000;
	m.u.ended.finished_at_ms = 1700000001500;
	strcpy(m.u.ended.tail, "line 1\nline \"2\"\n");
	strcpy(m.u.ended.error, "killed");
	strcpy(m.u.ended.log_path, "/var/log/sched/12.log");
	return m;
}

Test(net, messages_arrive_decoded_with_header)
{
	struct net_endpoint *a = open_ep(&keys, "alpha", 41);
	struct net_endpoint *b = open_ep(&keys, "beta", 7);
	struct net_addr to_b = addr_of(b), from_a = addr_of(a);
	cr_assert_neq(((struct sockaddr_in *)&to_b.ss)->sin_port, 0, "bound to port 0");

	struct wire_msg sent[] = {msg_hello(), msg_dispatch(), msg_heartbeat(), msg_ack(),
				  msg_ended()};
	size_t n = sizeof(sent) / sizeof(sent[0]);
	uint64_t prev_seq = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t seq = 0;
		cr_assert_eq(net_send(a, &to_b, &sent[i], &seq), 0);
		cr_assert_gt(seq, prev_seq, "sequence did not increase");

		struct net_msg got;
		memset(&got, 0xa5, sizeof(got));
		cr_assert_eq(recv_one(b, &got), 0, "message %zu refused", i);
		cr_assert_eq(got.msg.type, sent[i].type);
		cr_assert_eq(got.hdr.type, sent[i].type);
		cr_assert_eq(got.hdr.version, WIRE_VERSION);
		cr_assert_eq(got.hdr.key_id, keys.ids[0]);
		cr_assert_eq(got.hdr.sender, auth_sender_id("alpha"));
		cr_assert_eq(got.hdr.incarnation, 41);
		cr_assert_eq(got.hdr.seq, seq);
		int64_t now = clock_wall_ms();
		cr_assert(got.hdr.timestamp_ms <= now && got.hdr.timestamp_ms > now - 5000,
			  "timestamp %lld vs now %lld", (long long)got.hdr.timestamp_ms,
			  (long long)now);
		cr_assert(net_addr_equal(&got.from, &from_a), "from is not a's address");
		prev_seq = seq;

		/* fields, per type */
		switch (sent[i].type) {
		case WIRE_HELLO:
			cr_assert_str_eq(got.msg.u.hello.name, "w1");
			cr_assert_eq(got.msg.u.hello.slots, 4);
			cr_assert_str_eq(got.msg.u.hello.labels, "zone=a,gpu");
			cr_assert_eq(got.msg.u.hello.lease_ms, 15000);
			break;
		case WIRE_DISPATCH:
			cr_assert_eq(got.msg.u.dispatch.run_id, 77);
			cr_assert_eq(got.msg.u.dispatch.token, 1234567890123ULL);
			cr_assert_eq(got.msg.u.dispatch.attempt, 2);
			cr_assert_eq(got.msg.u.dispatch.scheduled_for, 1700000000);
			cr_assert_eq(got.msg.u.dispatch.timeout_ms, 30000);
			cr_assert_eq(got.msg.u.dispatch.lease_ms, 10000);
			cr_assert_eq(got.msg.u.dispatch.reason, 1);
			cr_assert_str_eq(got.msg.u.dispatch.task, "backup");
			cr_assert_str_eq(got.msg.u.dispatch.command, "tar czf /tmp/x.tgz /etc");
			break;
		case WIRE_HEARTBEAT:
			cr_assert_str_eq(got.msg.u.heartbeat.name, "w1");
			cr_assert_eq(got.msg.u.heartbeat.slots, 3);
			cr_assert_eq(got.msg.u.heartbeat.nruns, 2);
			cr_assert_eq(got.msg.u.heartbeat.runs[1].run_id, 6);
			cr_assert_eq(got.msg.u.heartbeat.runs[1].token, 60);
			cr_assert_eq(got.msg.u.heartbeat.runs[1].state, 2);
			break;
		case WIRE_ACK:
			cr_assert_eq(got.msg.u.ack.acked_type, WIRE_ENDED);
			cr_assert_eq(got.msg.u.ack.run_id, 9);
			cr_assert_eq(got.msg.u.ack.token, 99);
			break;
		case WIRE_ENDED:
			cr_assert_eq(got.msg.u.ended.run_id, 12);
			cr_assert_eq(got.msg.u.ended.exit_code, -1);
			cr_assert_eq(got.msg.u.ended.signal, 9);
			cr_assert_eq(got.msg.u.ended.finished_at_ms, 1700000001500);
			cr_assert_str_eq(got.msg.u.ended.tail, "line 1\nline \"2\"\n");
			cr_assert_str_eq(got.msg.u.ended.error, "killed");
			cr_assert_str_eq(got.msg.u.ended.log_path, "/var/log/sched/12.log");
			break;
		default:
			cr_assert_fail("unexpected type");
		}
	}
	struct net_msg none;
	cr_assert_eq(net_recv(b, &none), -EAGAIN);

	const struct net_stats *sa = net_get_stats(a), *sb = net_get_stats(b);
	cr_assert_eq(sa->sent, n);
	cr_assert_eq(sa->send_errors, 0);
	cr_assert_eq(sb->received, n);
	expect(sb, (struct auth_stats){.accepted = n}, 0);

	/* and the other way round, with b's own sequence starting over */
	struct wire_msg ack = msg_ack();
	uint64_t seq = 0;
	cr_assert_eq(net_send(b, &from_a, &ack, &seq), 0);
	cr_assert_eq(seq, 1);
	struct net_msg got;
	cr_assert_eq(recv_one(a, &got), 0);
	cr_assert_eq(got.hdr.sender, auth_sender_id("beta"));
	cr_assert_eq(got.hdr.incarnation, 7);
	cr_assert_eq(got.hdr.seq, 1);
	net_close(a);
	net_close(b);
}

Test(net, datagram_sealed_with_another_key_is_refused)
{
	struct net_endpoint *b = open_ep(&keys, "beta", 1);
	struct net_endpoint *stranger = open_ep(&other, "mallory", 1);
	struct net_addr to_b = addr_of(b);
	struct wire_msg m = msg_dispatch();
	cr_assert_eq(net_send(stranger, &to_b, &m, NULL), 0);
	struct net_msg got;
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	cr_assert_eq(net_recv(b, &got), -EAGAIN);
	cr_assert_eq(net_get_stats(b)->received, 1);
	/* a different key has a different key id: refused before the tag */
	expect(net_get_stats(b), (struct auth_stats){.unknown_key = 1}, 0);

	/* a legitimate sender still gets through afterwards */
	struct net_endpoint *a = open_ep(&keys, "alpha", 1);
	cr_assert_eq(net_send(a, &to_b, &m, NULL), 0);
	cr_assert_eq(recv_one(b, &got), 0);
	expect(net_get_stats(b), (struct auth_stats){.unknown_key = 1, .accepted = 1}, 0);
	net_close(a);
	net_close(stranger);
	net_close(b);
}

Test(net, tampered_datagram_fails_the_tag)
{
	struct net_endpoint *a = open_ep(&keys, "alpha", 1);
	struct net_endpoint *b = open_ep(&keys, "beta", 1);
	struct net_addr plain_addr, to_b = addr_of(b);
	int fd = plain_socket(&plain_addr);
	struct wire_msg m = msg_ack();
	cr_assert_eq(net_send(a, &plain_addr, &m, NULL), 0);
	uint8_t pkt[AUTH_DATAGRAM_MAX];
	size_t len = recv_raw(fd, pkt, sizeof(pkt));
	pkt[len - 1] ^= 1; /* last byte of the tag */
	send_raw(fd, &to_b, pkt, len);
	struct net_msg got;
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	expect(net_get_stats(b), (struct auth_stats){.bad_tag = 1}, 0);
	close(fd);
	net_close(a);
	net_close(b);
}

Test(net, garbage_is_refused_and_counted)
{
	struct net_endpoint *b = open_ep(&keys, "beta", 1);
	struct net_addr plain_addr, to_b = addr_of(b);
	int fd = plain_socket(&plain_addr);
	struct net_msg got;

	send_raw(fd, &to_b, "hello", 5);
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	expect(net_get_stats(b), (struct auth_stats){.short_packet = 1}, 0);

	uint8_t junk[300];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 31 + 7);
	junk[0] = 'X';
	send_raw(fd, &to_b, junk, sizeof(junk));
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	expect(net_get_stats(b), (struct auth_stats){.short_packet = 1, .bad_magic = 1}, 0);

	/* right magic, wrong version */
	junk[0] = 'S';
	junk[1] = 'D';
	junk[2] = WIRE_VERSION + 1;
	send_raw(fd, &to_b, junk, sizeof(junk));
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	expect(net_get_stats(b),
	       (struct auth_stats){.short_packet = 1, .bad_magic = 1, .bad_version = 1}, 0);

	/* bigger than any valid datagram */
	static uint8_t big[AUTH_DATAGRAM_MAX + 100];
	memset(big, 'S', sizeof(big));
	send_raw(fd, &to_b, big, sizeof(big));
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	expect(net_get_stats(b),
	       (struct auth_stats){.short_packet = 1, .bad_magic = 1, .bad_version = 1,
				   .oversized = 1},
	       0);
	cr_assert_eq(net_get_stats(b)->received, 4);
	cr_assert_eq(net_recv(b, &got), -EAGAIN);
	close(fd);
	net_close(b);
}

Test(net, replayed_datagram_is_accepted_once)
{
	struct net_endpoint *a = open_ep(&keys, "alpha", 3);
	struct net_endpoint *b = open_ep(&keys, "beta", 1);
	struct net_addr plain_addr, to_b = addr_of(b);
	int fd = plain_socket(&plain_addr);

	/* capture a genuine datagram */
	struct wire_msg m = msg_dispatch();
	uint64_t seq = 0;
	cr_assert_eq(net_send(a, &plain_addr, &m, &seq), 0);
	uint8_t pkt[AUTH_DATAGRAM_MAX];
	size_t len = recv_raw(fd, pkt, sizeof(pkt));
	cr_assert_gt(len, (size_t)AUTH_OVERHEAD);

	/* forward it twice, byte for byte */
	send_raw(fd, &to_b, pkt, len);
	send_raw(fd, &to_b, pkt, len);
	struct net_msg got;
	cr_assert_eq(recv_one(b, &got), 0);
	cr_assert_eq(got.hdr.sender, auth_sender_id("alpha"));
	cr_assert_eq(got.hdr.seq, seq);
	cr_assert_eq(got.msg.u.dispatch.run_id, 77);
	cr_assert(net_addr_equal(&got.from, &plain_addr));
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	expect(net_get_stats(b), (struct auth_stats){.accepted = 1, .replayed = 1}, 0);

	/* the sender's next datagram is still fine */
	cr_assert_eq(net_send(a, &to_b, &m, NULL), 0);
	cr_assert_eq(recv_one(b, &got), 0);
	expect(net_get_stats(b), (struct auth_stats){.accepted = 2, .replayed = 1}, 0);
	close(fd);
	net_close(a);
	net_close(b);
}

Test(net, older_incarnation_is_refused)
{
	struct net_endpoint *b = open_ep(&keys, "beta", 1);
	struct net_endpoint *a_new = open_ep(&keys, "alpha", 10);
	struct net_endpoint *a_old = open_ep(&keys, "alpha", 9);
	struct net_addr to_b = addr_of(b);
	struct wire_msg m = msg_ack();
	struct net_msg got;
	cr_assert_eq(net_send(a_new, &to_b, &m, NULL), 0);
	cr_assert_eq(recv_one(b, &got), 0);
	cr_assert_eq(net_send(a_old, &to_b, &m, NULL), 0);
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	expect(net_get_stats(b), (struct auth_stats){.accepted = 1, .stale_incarnation = 1}, 0);
	net_close(a_old);
	net_close(a_new);
	net_close(b);
}

static int64_t fixed_wall_value;
static int64_t fixed_wall(void *arg)
{
	(void)arg;
	return fixed_wall_value;
}

Test(net, stale_timestamp_is_refused)
{
	struct net_endpoint *a = open_ep(&keys, "alpha", 1);
	struct net_endpoint *b = open_ep(&keys, "beta", 1);
	struct net_addr to_b = addr_of(b);
	struct wire_msg m = msg_ack();
	struct net_msg got;

	/* the sender's clock is 2 minutes behind; b allows 60 s of skew */
	static const struct clock_fake fake = {.wall_ms = fixed_wall};
	fixed_wall_value = clock_wall_ms() - 120000;
	clock_set_fake(&fake);
	cr_assert_eq(net_send(a, &to_b, &m, NULL), 0);
	clock_set_fake(NULL);
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	expect(net_get_stats(b), (struct auth_stats){.not_fresh = 1}, 0);
	net_close(a);
	net_close(b);
}

/* Authenticated with the cluster key but the body does not decode. */
Test(net, malformed_body_is_counted_as_decode_error)
{
	struct net_endpoint *b = open_ep(&keys, "beta", 1);
	struct net_addr plain_addr, to_b = addr_of(b);
	int fd = plain_socket(&plain_addr);
	struct auth_header h = {
		.type = WIRE_DISPATCH,
		.sender = auth_sender_id("alpha"),
		.incarnation = 1,
		.seq = 1,
		.timestamp_ms = clock_wall_ms(),
	};
	uint8_t body[3] = {1, 2, 3}, pkt[AUTH_DATAGRAM_MAX];
	size_t len = 0;
	cr_assert_eq(auth_seal(&keys, &h, body, sizeof(body), pkt, sizeof(pkt), &len), 0);
	send_raw(fd, &to_b, pkt, len);
	struct net_msg got;
	cr_assert_eq(recv_one(b, &got), -EBADMSG);
	expect(net_get_stats(b), (struct auth_stats){.accepted = 1}, 1);
	close(fd);
	net_close(b);
}

Test(net, send_of_an_invalid_message_fails_and_sends_nothing)
{
	struct net_endpoint *a = open_ep(&keys, "alpha", 1);
	struct net_endpoint *b = open_ep(&keys, "beta", 1);
	struct net_addr to_b = addr_of(b);
	struct wire_msg m = msg_heartbeat();
	m.u.heartbeat.nruns = WIRE_RUNS_MAX + 1;
	cr_assert_lt(net_send(a, &to_b, &m, NULL), 0);
	cr_assert_eq(net_get_stats(a)->sent, 0);
	struct pollfd p = {.fd = net_fd(b), .events = POLLIN};
	cr_assert_eq(poll(&p, 1, 20), 0, "something was sent");
	net_close(a);
	net_close(b);
}

Test(net, open_on_a_busy_port_fails_with_reason)
{
	struct net_endpoint *a = open_ep(&keys, "alpha", 1);
	struct net_addr at = addr_of(a);
	struct net_config cfg = {.listen = &at, .keys = &keys, .sender_id = 2};
	struct net_endpoint *b = NULL;
	err[0] = '\0';
	cr_assert_eq(net_open(&cfg, &b, err, sizeof(err)), -EADDRINUSE);
	cr_assert_null(b);
	cr_assert(strstr(err, "bind"), "err: %s", err);
	net_close(a);
}

/* ---- addresses --------------------------------------------------------- */

static void parse_ok(const char *in, const char *formatted, int family)
{
	struct net_addr a;
	char buf[NET_ADDR_STRLEN];
	err[0] = '\0';
	cr_assert_eq(net_addr_parse(in, &a, err, sizeof(err)), 0, "'%s': %s", in, err);
	cr_assert_eq(a.ss.ss_family, family, "'%s'", in);
	net_addr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, formatted, "'%s' formatted as '%s'", in, buf);
	/* round trip: the formatted text parses to the same address */
	struct net_addr b;
	cr_assert_eq(net_addr_parse(buf, &b, err, sizeof(err)), 0, "%s", err);
	cr_assert(net_addr_equal(&a, &b), "'%s' does not round-trip", in);
}

static void parse_bad(const char *in, const char *why)
{
	struct net_addr a;
	err[0] = '\0';
	cr_assert_eq(net_addr_parse(in, &a, err, sizeof(err)), -EINVAL, "'%s' was accepted", in);
	cr_assert(strstr(err, in), "error does not quote '%s': %s", in, err);
	cr_assert(strstr(err, why), "error for '%s' lacks '%s': %s", in, why, err);
}

Test(net, addr_parse_good)
{
	parse_ok("127.0.0.1:7000", "127.0.0.1:7000", AF_INET);
	parse_ok("0.0.0.0:0", "0.0.0.0:0", AF_INET);
	parse_ok("10.1.2.3:65535", "10.1.2.3:65535", AF_INET);
	parse_ok("localhost:80", "127.0.0.1:80", AF_INET);
	parse_ok("[::1]:7000", "[::1]:7000", AF_INET6);
	parse_ok("[::]:0", "[::]:0", AF_INET6);
	parse_ok("[fe80::1:2]:9", "[fe80::1:2]:9", AF_INET6);
	parse_ok("[2001:db8:0:0:0:0:0:1]:443", "[2001:db8::1]:443", AF_INET6);

	struct net_addr a;
	cr_assert_eq(net_addr_parse("127.0.0.1:7000", &a, err, sizeof(err)), 0);
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a.ss;
	cr_assert_eq(ntohs(in4->sin_port), 7000);
	cr_assert_eq(ntohl(in4->sin_addr.s_addr), 0x7f000001);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in));
	cr_assert_eq(net_addr_parse("[::1]:7000", &a, err, sizeof(err)), 0);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in6));
	cr_assert_eq(ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port), 7000);
}

Test(net, addr_parse_bad)
{
	parse_bad("", "expected HOST:PORT");
	parse_bad("127.0.0.1", "expected HOST:PORT");
	parse_bad(":7000", "expected HOST:PORT");
	parse_bad("[::1]7000", "expected HOST:PORT");
	parse_bad("[::1", "expected HOST:PORT");
	parse_bad("[::1]", "expected HOST:PORT");
	parse_bad("127.0.0.1:", "bad port");
	parse_bad("127.0.0.1:65536", "bad port");
	parse_bad("127.0.0.1:-1", "bad port");
	parse_bad("127.0.0.1:70x", "bad port");
	parse_bad("127.0.0.1:99999999999999999999", "bad port");
	parse_bad("[::1]:", "bad port");
	parse_bad("example.com:80", "not a numeric address");
	parse_bad("256.1.1.1:80", "not a numeric address");
	parse_bad("[127.0.0.1]:80x", "bad port");
	parse_bad("[nothex::zz]:80", "not a numeric address");
	/* a host longer than any address */
	char longhost[128];
	memset(longhost, '1', 100);
	strcpy(longhost + 100, ":80");
	parse_bad(longhost, "expected HOST:PORT");
}

Test(net, addr_equal_and_local_addr)
{
	struct net_addr a, b, c, d;
	cr_assert_eq(net_addr_parse("127.0.0.1:7000", &a, err, sizeof(err)), 0);
	cr_assert_eq(net_addr_parse("localhost:7000", &b, err, sizeof(err)), 0);
	cr_assert_eq(net_addr_parse("127.0.0.1:7001", &c, err, sizeof(err)), 0);
	cr_assert_eq(net_addr_parse("[::1]:7000", &d, err, sizeof(err)), 0);
	cr_assert(net_addr_equal(&a, &b));
	cr_assert_not(net_addr_equal(&a, &c));
	cr_assert_not(net_addr_equal(&a, &d));

	struct net_endpoint *ep = open_ep(&keys, "alpha", 1);
	struct net_addr local = addr_of(ep);
	char buf[NET_ADDR_STRLEN];
	net_addr_format(&local, buf, sizeof(buf));
	cr_assert_eq(strncmp(buf, "127.0.0.1:", 10), 0, "local address %s", buf);
	cr_assert_neq(strcmp(buf, "127.0.0.1:0"), 0, "ephemeral port not resolved");
	net_close(ep);
}

Test(net, ipv6_endpoint_when_available)
{
	int probe = socket(AF_INET6, SOCK_DGRAM, 0);
	struct net_addr six;
	cr_assert_eq(net_addr_parse("[::1]:0", &six, err, sizeof(err)), 0);
	if (probe < 0 || bind(probe, (struct sockaddr *)&six.ss, six.len) < 0) {
		if (probe >= 0)
			close(probe);
		cr_skip_test("no IPv6 loopback here");
	}
	close(probe);
	struct net_config cfg = {.listen = &six, .keys = &keys,
				 .sender_id = auth_sender_id("six"), .incarnation = 1,
				 .max_skew_ms = 60000};
	struct net_endpoint *a = NULL, *b = NULL;
	cr_assert_eq(net_open(&cfg, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(net_open(&cfg, &b, err, sizeof(err)), 0, "%s", err);
	struct net_addr to_b = addr_of(b);
	char buf[NET_ADDR_STRLEN];
	net_addr_format(&to_b, buf, sizeof(buf));
	cr_assert_eq(strncmp(buf, "[::1]:", 6), 0, "%s", buf);
	struct wire_msg m = msg_ack();
	cr_assert_eq(net_send(a, &to_b, &m, NULL), 0);
	struct net_msg got;
	cr_assert_eq(recv_one(b, &got), 0);
	cr_assert_eq(got.msg.u.ack.run_id, 9);
	net_close(a);
	net_close(b);
}
