/*
 * role_exec: the start of a role process the parent executed afresh
 * (ravend -R NAME ...): load the configuration, confine, run. The argument
 * and descriptor conventions are described in role_exec.c; roles.c is the
 * other side.
 */
#ifndef RAVEN_ROLE_EXEC_H
#define RAVEN_ROLE_EXEC_H

/* Become the role argv names; never returns. */
void role_exec_main(int argc, char **argv) __attribute__((noreturn));

#endif
