/*
 * net.h - the transport: UDP sockets carrying authenticated datagrams.
 * The only module that touches sockets.  A net_endpoint owns one bound
 * socket, the sender identity (id, incarnation, next sequence), the
 * keyring, and the replay table; net_recv hands out only datagrams that
 * authenticated, passed replay/freshness checks and decoded, and counts
 * every refusal (never fatal).
 */
#ifndef SCHED_NET_H
#define SCHED_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth.h"
#include "wire.h"

struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

#define NET_ADDR_STRLEN 64

/*
 * Parse "HOST:PORT" or "[IPv6]:PORT"; HOST is a numeric address or
 * "localhost".  Returns 0, or -EINVAL with a reason in err.
 */
int net_addr_parse(const char *s, struct net_addr *out, char *err, size_t errlen);
/* "127.0.0.1:7000" / "[::1]:7000" into buf (NET_ADDR_STRLEN). */
void net_addr_format(const struct net_addr *a, char *buf, size_t len);
bool net_addr_equal(const struct net_addr *a, const struct net_addr *b);

struct net_stats {
	struct auth_stats auth;
	uint64_t decode_errors;  /* authenticated but malformed body */
	uint64_t send_errors;
	uint64_t sent, received;
};

struct net_config {
	const struct net_addr *listen;   /* NULL: ephemeral port on 127.0.0.1 */
	const struct auth_keyring *keys; /* borrowed, must outlive the endpoint */
	uint64_t sender_id;
	uint64_t incarnation;
	int64_t max_skew_ms;             /* freshness bound */
	size_t replay_senders;           /* replay table capacity */
};

struct net_endpoint;

/* Bind and set up.  0 or -errno with a reason in err. */
int net_open(const struct net_config *cfg, struct net_endpoint **out, char *err, size_t errlen);
void net_close(struct net_endpoint *ep);
int net_fd(const struct net_endpoint *ep);
/* The bound local address. */
void net_local_addr(const struct net_endpoint *ep, struct net_addr *out);
const struct net_stats *net_get_stats(const struct net_endpoint *ep);

/*
 * Encode, seal and send m to `to`.  *seq_out (may be NULL) receives the
 * sequence number used.  Returns 0 or -errno (send failures are counted;
 * UDP may lose the datagram anyway, so callers that need delivery
 * retransmit).
 */
int net_send(struct net_endpoint *ep, const struct net_addr *to, const struct wire_msg *m,
	     uint64_t *seq_out);

struct net_msg {
	struct wire_msg msg;
	struct auth_header hdr;
	struct net_addr from;
};

/*
 * Receive one datagram.  0: *out holds an accepted message.  -EAGAIN:
 * nothing more to read now.  -EBADMSG: a datagram was refused and counted
 * (call again).  Other -errno: socket error.
 */
int net_recv(struct net_endpoint *ep, struct net_msg *out);

#endif
