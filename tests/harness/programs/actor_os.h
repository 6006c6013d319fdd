/* The actor's actions that only some systems have (actor_linux.c, actor_macos.c). */
#pragma once

/* Performs ACTION=VALUE if it is one of the OS's own actions (mq, shm-raw) and returns 1, else
 * returns 0. On failure, or where the OS lacks the action, the actor exits 100 saying why. */
int actor_os_action(const char *action, const char *value);

/* Prints "actor: WHAT ARG: strerror(errno)" and exits 100 (actor.c). */
void actor_fail(const char *what, const char *arg);
