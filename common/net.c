/*
 * net.c - UDP transport with authentication, replay checks and decoding
 * (see net.h).  Order on receive is fixed by the safety rules: size check,
 * authenticate (auth_open), replay/freshness (auth_replay_check), and
 * only then parse the body (wire_decode).
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct net_endpoint {
	int fd;
	const struct auth_keyring *keys;
	uint64_t sender_id;
	uint64_t incarnation;
	uint64_t next_seq;
	int64_t max_skew_ms;
	struct auth_replay *replay;
	struct net_stats stats;
	struct net_addr local;
};

int net_addr_parse(const char *s, struct net_addr *out, char *err, size_t errlen)
{
	char host[NET_ADDR_STRLEN];
	const char *port;
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host) || colon == s)
			goto bad;
		if (memchr(s, ':', (size_t)(colon - s)))
			goto bad; /* an IPv6 address needs brackets: [::1]:7000 */
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	char *end;
	errno = 0;
	long p = strtol(port, &end, 10);
	if (*port < '0' || *port > '9' || *end != '\0' || errno || p < 0 || p > 65535) {
		snprintf(err, errlen, "'%s': bad port", s);
		return -EINVAL;
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	struct sockaddr_in *in4 = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		out->len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		out->len = sizeof(*in6);
		return 0;
	}
	snprintf(err, errlen, "'%s': not a numeric address (use e.g. 127.0.0.1:7000)", s);
	return -EINVAL;
bad:
	snprintf(err, errlen, "'%s': expected HOST:PORT or [IPv6]:PORT", s);
	return -EINVAL;
}

void net_addr_format(const struct net_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)&a->ss;
		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in4->sin_port));
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

bool net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

int net_open(const struct net_config *cfg, struct net_endpoint **out, char *err, size_t errlen)
{
	struct net_endpoint *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->fd = -1;
	ep->keys = cfg->keys;
	ep->sender_id = cfg->sender_id;
	ep->incarnation = cfg->incarnation;
	ep->next_seq = 1;
	ep->max_skew_ms = cfg->max_skew_ms;
	int rc = auth_replay_new(cfg->replay_senders ? cfg->replay_senders : 1024, &ep->replay);
	if (rc < 0) {
		snprintf(err, errlen, "replay table: %s", strerror(-rc));
		goto fail;
	}
	struct net_addr any;
	const struct net_addr *bind_to = cfg->listen;
	if (!bind_to) {
		char e2[64];
		net_addr_parse("127.0.0.1:0", &any, e2, sizeof(e2));
		bind_to = &any;
	}
	ep->fd = socket(bind_to->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ep->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	if (bind(ep->fd, (const struct sockaddr *)&bind_to->ss, bind_to->len) < 0) {
		rc = -errno;
		char a[NET_ADDR_STRLEN];
		net_addr_format(bind_to, a, sizeof(a));
		snprintf(err, errlen, "bind %s: %s", a, strerror(errno));
		goto fail;
	}
	ep->local.len = sizeof(ep->local.ss);
	getsockname(ep->fd, (struct sockaddr *)&ep->local.ss, &ep->local.len);
	*out = ep;
	return 0;
fail:
	net_close(ep);
	return rc;
}

void net_close(struct net_endpoint *ep)
{
	if (!ep)
		return;
	if (ep->fd >= 0)
		close(ep->fd);
	auth_replay_free(ep->replay);
	free(ep);
}

int net_fd(const struct net_endpoint *ep) { return ep->fd; }

void net_local_addr(const struct net_endpoint *ep, struct net_addr *out) { *out = ep->local; }

const struct net_stats *net_get_stats(const struct net_endpoint *ep) { return &ep->stats; }

int net_send(struct net_endpoint *ep, const struct net_addr *to, const struct wire_msg *m,
	     uint64_t *seq_out)
{
	uint8_t body[WIRE_BODY_MAX];
	uint8_t pkt[AUTH_DATAGRAM_MAX];
	size_t blen, plen;
	int rc = wire_encode(m, body, sizeof(body), &blen);
	if (rc < 0) {
		log_warnx("net: cannot encode %s: %s", wire_type_name(m->type), strerror(-rc));
		return rc;
	}
	struct auth_header h = {
		.version = WIRE_VERSION,
		.type = m->type,
		.sender = ep->sender_id,
		.incarnation = ep->incarnation,
		.seq = ep->next_seq++,
		.timestamp_ms = clock_wall_ms(),
	};
	rc = auth_seal(ep->keys, &h, body, blen, pkt, sizeof(pkt), &plen);
	if (rc < 0)
		return rc;
	if (seq_out)
		*seq_out = h.seq;
	if (sendto(ep->fd, pkt, plen, 0, (const struct sockaddr *)&to->ss, to->len) < 0) {
		ep->stats.send_errors++;
		return -errno;
	}
	ep->stats.sent++;
	return 0;
}

int net_recv(struct net_endpoint *ep, struct net_msg *out)
{
	/* One byte more than the largest valid datagram detects oversize. */
	uint8_t pkt[AUTH_DATAGRAM_MAX + 1];
	uint8_t body[AUTH_DATAGRAM_MAX];
	size_t blen;
	out->from.len = sizeof(out->from.ss);
	ssize_t n = recvfrom(ep->fd, pkt, sizeof(pkt), MSG_TRUNC,
			     (struct sockaddr *)&out->from.ss, &out->from.len);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	ep->stats.received++;
	char peer[NET_ADDR_STRLEN];
	int rc = auth_open(ep->keys, pkt, (size_t)n, &out->hdr, body, sizeof(body), &blen,
			   &ep->stats.auth);
	if (rc < 0) {
		net_addr_format(&out->from, peer, sizeof(peer));
		log_debug("net: refused datagram of %zd bytes from %s (authentication)", n, peer);
		return -EBADMSG;
	}
	rc = auth_replay_check(ep->replay, &out->hdr, clock_wall_ms(), ep->max_skew_ms,
			       &ep->stats.auth);
	if (rc < 0) {
		net_addr_format(&out->from, peer, sizeof(peer));
		log_debug("net: refused %s from %s: %s", wire_type_name(out->hdr.type), peer,
			  rc == -ETIME ? "timestamp outside the freshness bound"
			  : rc == -ESTALE ? "old incarnation" : "replayed");
		return -EBADMSG;
	}
	rc = wire_decode(out->hdr.type, body, blen, &out->msg);
	if (rc < 0) {
		ep->stats.decode_errors++;
		net_addr_format(&out->from, peer, sizeof(peer));
		log_warnx("net: malformed %s body from %s (%zu bytes), dropped",
			  wire_type_name(out->hdr.type), peer, blen);
		return -EBADMSG;
	}
	out->msg.type = out->hdr.type;
	return 0;
}
