/*
 * Runs a command and writes its peak resident set size in KiB to a file.
 *
 * Usage: rss_exec RESULT_FILE COMMAND [ARG...]
 *
 * The kernel carries ru_maxrss across execve, and a forked child starts with
 * its parent's resident pages, so a command started straight from the Python
 * harness would report at least the harness's own RSS. This small program
 * forks the command from its own small address space, so the figure it
 * writes is the command's. It exits with the command's exit status (128 plus
 * the signal number when a signal ended it).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rss_exec RESULT_FILE COMMAND [ARG...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("rss_exec: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("rss_exec: execvp");
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0) {
        perror("rss_exec: wait4");
        return 2;
    }
    FILE *f = fopen(argv[1], "w");
    if (f == NULL) {
        perror("rss_exec: cannot open the result file");
        return 2;
    }
    fprintf(f, "%ld\n", usage.ru_maxrss);
    if (fclose(f) != 0) {
        perror("rss_exec: cannot write the result file");
        return 2;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
