/* cli/main.c - `cloudflow COMMAND ...`: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"collect", cmd_collect, "receive NetFlow/IPFIX/sFlow over UDP and store the flows"},
    {"query", cmd_query, "filter, list and summarise stored flows (nfdump conventions)"},
    {"send", cmd_send, "simulate an exporter: send generated flows to a collector"},
    {"import", cmd_import, "decode the export packets of a pcap file into the store"},
    {"stats", cmd_stats, "print the statistics of a collector (DATADIR/stats.tsv)"},
    {"counters", cmd_counters, "print sFlow interface counters as time series of rates"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: cloudflow COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`cloudflow COMMAND --help` describes a command's options.\n"
                 "`cloudflow --version` prints the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CF_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("cloudflow %s\n", CF_VERSION);
        return CF_EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CF_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cloudflow: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CF_EXIT_USAGE;
}
