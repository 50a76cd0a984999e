/*
 * Daemonizing (-d). The parent of the fork stays until the master reports
 * through a pipe that setup worked (exit 0) or failed (exit 1).
 */
#ifndef CORDIS_DAEMON_H
#define CORDIS_DAEMON_H

#include <stdbool.h>

/* Forks; the parent exits with the master's verdict. In the child, *ready_fd
 * is the pipe to report on. CORDIS_OK or CORDIS_ERROR. */
int  daemon_start(int *ready_fd);
/* Lets go of the terminal's stderr (kept open during setup so errors reach
 * it) before any worker can inherit it; nothing when ready_fd < 0. */
void daemon_quiet_stderr(int ready_fd);
/* Tells the waiting parent how setup went; nothing when *ready_fd < 0. */
void daemon_ready(int *ready_fd, bool ok);

#endif /* CORDIS_DAEMON_H */
