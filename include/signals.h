/*
 * The signals cordis answers, in one table: it installs the master's
 * handlers, maps `cordis -s NAME` to a signal, and names them in the log.
 *
 *   HUP   reload      QUIT  graceful stop     TERM, INT  fast stop
 *   USR1  reopen logs USR2  binary upgrade    CHLD       reap workers
 */
#ifndef CORDIS_SIGNALS_H
#define CORDIS_SIGNALS_H

enum signal_action {
    SIGNAL_RELOAD,
    SIGNAL_QUIT,
    SIGNAL_STOP,
    SIGNAL_REOPEN,
    SIGNAL_UPGRADE,
};

struct signal_def {
    int                 signo;    /* SIGHUP, ... */
    const char         *name;     /* "HUP" */
    const char         *command;  /* `cordis -s` word; NULL = none */
    enum signal_action  action;
};

extern const struct signal_def signal_table[];
extern const unsigned signal_table_size;

/* Finds the entry for a `cordis -s` word ("reload"); NULL when unknown. */
const struct signal_def *signal_by_command(const char *command);

/*
 * Sends the signal for `command` to the master whose pid is in pid_file.
 * Prints what went wrong to stderr; returns a process exit status.
 */
int signal_send(const char *pid_file, const char *command);

#endif /* CORDIS_SIGNALS_H */
