/*
 * cli/commands.h - the subcommands of the `cloudflow` program.
 *
 * main() looks the first argument up in a table and calls the command with
 * argc/argv starting at the command name (argv[0] is "collect", ...), so each
 * command parses its own options with getopt_long.  Each returns the process
 * exit status: 0 success, 2 usage or input error, 1 any other failure.
 * Commands use only the public headers of the libraries (src/<module>/<name>.h).
 */
#ifndef CF_CLI_COMMANDS_H
#define CF_CLI_COMMANDS_H

enum { CF_EXIT_OK = 0, CF_EXIT_FAIL = 1, CF_EXIT_USAGE = 2 };

int cmd_collect(int argc, char **argv); /* cmd_collect.c: the collector */
int cmd_query(int argc, char **argv);   /* cmd_query.c: nfdump-style queries */
int cmd_send(int argc, char **argv);    /* cmd_send.c: simulated exporter */
int cmd_import(int argc, char **argv);  /* cmd_import.c: pcap -> store */
int cmd_stats(int argc, char **argv);   /* cmd_stats.c: collector statistics */
int cmd_counters(int argc, char **argv); /* cmd_counters.c: sFlow interface counter rates */

#endif
