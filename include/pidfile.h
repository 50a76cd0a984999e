/*
 * The master's pid file, read by `cordis -s` and by init systems.
 */
#ifndef CORDIS_PIDFILE_H
#define CORDIS_PIDFILE_H

/* Writes our pid to path (via a temporary file and rename, so a reader
 * never sees half a pid). "" = no pid file. CORDIS_OK or CORDIS_ERROR. */
int  pidfile_write(const char *path);
/* Removes path when it names this process (a newer master may own it). */
void pidfile_remove_own(const char *path);

#endif /* CORDIS_PIDFILE_H */
