/*
 * libFuzzer target: the client engine's LMTP mode (RFC 2033), driven as
 * fuzz_client.c drives SMTP sessions (same input format and invariants,
 * plus LMTP's own: see there).
 */
#define FUZZ_CLIENT_LMTP 1
#include "fuzz_client.c"
