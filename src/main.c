/*
 * cordis: command line.
 *
 *   cordis [-c FILE] [-d]         run (foreground unless -d)
 *   cordis -t [-c FILE]           check the config file and exit
 *   cordis -s SIGNAL [-c FILE]    signal the running master: reload, quit,
 *                                 stop, reopen
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "master.h"
#include "proctitle.h"
#include "signals.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: cordis [-c FILE] [-d] [-t] [-s SIGNAL] [-v] [-h]\n"
            "\n"
            "  -c FILE    config file (default %s)\n"
            "  -d         run in the background\n"
            "  -t         check the config file and exit\n"
            "  -s SIGNAL  send SIGNAL to the running master: reload, quit, stop, reopen\n"
            "  -v         print the version and exit\n"
            "  -h         print this help and exit\n",
            CORDIS_DEFAULT_CONF);
}

int
main(int argc, char **argv)
{
    struct master_options opts;
    const char *signal_name = NULL;
    char err[1024], *text = NULL, *conf_path;
    struct conf *conf;
    size_t size;
    bool test = false;
    int opt, rc;

    memset(&opts, 0, sizeof(opts));
    conf_path = strdup(CORDIS_DEFAULT_CONF);
    while ((opt = getopt(argc, argv, "c:dts:vh")) != -1) {
        switch (opt) {
        case 'c':
            free(conf_path);
            conf_path = strdup(optarg);
            break;
        case 'd':
            opts.daemonize = true;
            break;
        case 't':
            test = true;
            break;
        case 's':
            signal_name = optarg;
            break;
        case 'v':
            printf("cordis %s\n", PACKAGE_VERSION);
            free(conf_path);
            return 0;
        case 'h':
            usage(stdout);
            free(conf_path);
            return 0;
        default:
            usage(stderr);
            free(conf_path);
            return 1;
        }
    }
    if (optind < argc || conf_path == NULL) {
        usage(stderr);
        free(conf_path);
        return 1;
    }

    if (conf_read_file(conf_path, &text, &size, err, sizeof(err)) != CORDIS_OK
        || conf_load_text(conf_path, text, size, &conf, err, sizeof(err)) != CORDIS_OK) {
        fprintf(stderr, "cordis: %s\n", err);
        if (test) {
            fprintf(stderr, "cordis: configuration file %s test failed\n", conf_path);
        }
        free(text);
        free(conf_path);
        return 1;
    }
    if (test) {
        printf("cordis: configuration file %s test is successful\n", conf_path);
        conf_free(conf);
        free(text);
        free(conf_path);
        return 0;
    }
    if (signal_name != NULL) {
        rc = signal_send(conf->pid_file, signal_name);
        conf_free(conf);
        free(text);
        free(conf_path);
        return rc;
    }

    opts.conf_path = conf_path;
    opts.argv0 = strdup(argv[0]);
    /* Kept before the process title overwrites argv: a binary upgrade
     * runs the file now at this path with the same arguments. */
    opts.exe = realpath("/proc/self/exe", NULL);
    opts.argv = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 0; opts.argv != NULL && i < argc; i++) {
        opts.argv[i] = strdup(argv[i]);
    }
    proctitle_init(argc, argv);
    rc = master_run(&opts, conf, text, size);
    free(text);
    free((char *)opts.argv0);
    free((char *)opts.exe);
    for (int i = 0; opts.argv != NULL && opts.argv[i] != NULL; i++) {
        free(opts.argv[i]);
    }
    free(opts.argv);
    free(conf_path);
    return rc;
}
