/*
 * The master process: owns the config, the listening sockets, the shared
 * memory and (later) the admin server; forks, reaps and respawns workers;
 * turns signals into reloads and stops. It never touches client traffic.
 */
#ifndef CORDIS_MASTER_H
#define CORDIS_MASTER_H

#include <stdbool.h>

struct conf;

struct master_options {
    const char *conf_path;   /* -c */
    bool        daemonize;   /* -d */
    const char *argv0;       /* for the process title */
};

/*
 * Runs the master until it stops. conf is the already loaded and validated
 * config (the master takes ownership); text is the file's content as loaded.
 * Returns the process exit status.
 */
int master_run(const struct master_options *opts, struct conf *conf,
               const char *text, size_t size);

#endif /* CORDIS_MASTER_H */
