/* dns_util: name checks, reverse names and MX ordering (see dns_util.h). */
#include "dns_util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int dns_name_valid(const char *name)
{
	size_t label = 0, wire = 1;
	const char *s = name;
	if (*s == 0 || strcmp(s, ".") == 0)
		return 0;
	while (*s) {
		unsigned char c = (unsigned char)*s;
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			s++;
			continue;
		}
		if (c == '\\') {
			s++;
			if (isdigit((unsigned char)s[0])) {
				if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
					return 0;
				int v = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
				if (v > 255)
					return 0;
				s += 3;
			} else if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f) {
				s++;
			} else {
				return 0;
			}
		} else if (c >= 0x20 && c < 0x7f) {
			s++;
		} else {
			return 0;
		}
		if (label == 0)
			wire++; /* the length octet */
		if (++label > 63 || ++wire > 255)
			return 0;
	}
	return 1;
}

int dns_hostname_valid(const char *name)
{
	size_t len = strlen(name), label = 0;
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			if (label == 0 || label > 63 || name[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && !(c == '-' && label > 0))
			return 0;
		label++;
	}
	return 1;
}

int dns_name_quote(const char *text, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		int r;
		if (c == '\\')
			r = buf_append(out, "\\\\", 2);
		else if (c > 0x20 && c < 0x7f)
			r = buf_append_byte(out, c);
		else
			r = buf_printf(out, "\\%03u", c);
		if (r == -1)
			return -1;
	}
	return 0;
}

int dns_name_unquote(const char *name, char *out, size_t outlen)
{
	size_t o = 0;
	for (const char *s = name; *s; o++) {
		int c = (unsigned char)*s++;
		if (c == '\\') {
			if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
			    isdigit((unsigned char)s[2])) {
				c = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
				s += 3;
				if (c > 255)
					return -1;
			} else if (*s) {
				c = (unsigned char)*s++;
			} else {
				return -1;
			}
		}
		if (c == 0 || o + 1 >= outlen) /* a NUL would cut the name short */
			return -1;
		out[o] = (char)c;
	}
	if (outlen == 0)
		return -1;
	out[o] = 0;
	return 0;
}

int dns_reverse_name(int af, const void *addr, const char *zone, char *out, size_t outlen)
{
	const uint8_t *a = addr;
	size_t o = 0;
	int n;
	if (af == AF_INET) {
		n = snprintf(out, outlen, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0],
		             zone ? zone : "in-addr.arpa");
		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	if (af != AF_INET6)
		return -1;
	static const char hex[] = "0123456789abcdef";
	if (outlen < 64 + 1)
		return -1;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[a[i] & 15];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	n = snprintf(out + o, outlen - o, "%s", zone ? zone : "ip6.arpa");
	return n < 0 || (size_t)n >= outlen - o ? -1 : 0;
}

void dns_mx_sort(struct dns_rr *rr, size_t n, uint32_t (*rnd)(void *arg), void *arg)
{
	/* MX records first, in their order; insertion sort by preference is
	 * stable and n is small (an answer holds at most DNS_MAX_RR). */
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (rr[i].type != DNS_T_MX)
			continue;
		struct dns_rr t = rr[i];
		memmove(&rr[m + 1], &rr[m], (i - m) * sizeof(*rr));
		rr[m++] = t;
	}
	for (size_t i = 1; i < m; i++) {
		struct dns_rr t = rr[i];
		size_t j = i;
		for (; j > 0 && rr[j - 1].u.mx.pref > t.u.mx.pref; j--)
			rr[j] = rr[j - 1];
		rr[j] = t;
	}
	/* Fisher-Yates inside each run of equal preference. */
	for (size_t start = 0; start < m;) {
		size_t end = start + 1;
		while (end < m && rr[end].u.mx.pref == rr[start].u.mx.pref)
			end++;
		for (size_t i = end - 1; i > start; i--) {
			size_t j = start + (size_t)(rnd(arg) % (uint32_t)(i - start + 1));
			struct dns_rr t = rr[i];
			rr[i] = rr[j];
			rr[j] = t;
		}
		start = end;
	}
}
