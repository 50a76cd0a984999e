/*
 * The signal table and `cordis -s`.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cordis.h"
#include "signals.h"

const struct signal_def signal_table[] = {
    { SIGHUP,  "HUP",  "reload",  SIGNAL_RELOAD },
    { SIGQUIT, "QUIT", "quit",    SIGNAL_QUIT },
    { SIGTERM, "TERM", "stop",    SIGNAL_STOP },
    { SIGINT,  "INT",  NULL,      SIGNAL_STOP },
    { SIGUSR1, "USR1", "reopen",  SIGNAL_REOPEN },
    { SIGUSR2, "USR2", "upgrade", SIGNAL_UPGRADE },
};

const unsigned signal_table_size = CORDIS_ARRAY_SIZE(signal_table);

const struct signal_def *
signal_by_command(const char *command)
{
    for (unsigned i = 0; i < signal_table_size; i++) {
        if (signal_table[i].command != NULL
            && strcmp(signal_table[i].command, command) == 0) {
            return &signal_table[i];
        }
    }
    return NULL;
}

int
signal_send(const char *pid_file, const char *command)
{
    const struct signal_def *sig = signal_by_command(command);
    char buf[32], *end;
    FILE *f;
    long pid;

    if (sig == NULL) {
        fprintf(stderr, "cordis: unknown signal \"%s\" (use reload, quit, stop, reopen or upgrade)\n",
                command);
        return 1;
    }
    if (pid_file == NULL || pid_file[0] == '\0') {
        fprintf(stderr, "cordis: the config sets no pid_file, cannot find the master\n");
        return 1;
    }
    f = fopen(pid_file, "r");
    if (f == NULL) {
        fprintf(stderr, "cordis: open(\"%s\") failed (%d: %s)\n", pid_file, errno,
                strerror(errno));
        return 1;
    }
    if (fgets(buf, sizeof(buf), f) == NULL) {
        fclose(f);
        fprintf(stderr, "cordis: %s is empty\n", pid_file);
        return 1;
    }
    fclose(f);
    errno = 0;
    pid = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || pid <= 1) {
        fprintf(stderr, "cordis: %s does not hold a pid\n", pid_file);
        return 1;
    }
    if (kill((pid_t)pid, sig->signo) < 0) {
        fprintf(stderr, "cordis: kill(%ld, SIG%s) failed (%d: %s)\n", pid, sig->name,
                errno, strerror(errno));
        return 1;
    }
    return 0;
}
