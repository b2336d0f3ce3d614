// SPDX-License-Identifier: Apache-2.0
// berth-init: the init run as PID 1 with `run --init` (bound read-only at
// /sbin/docker-init, as Docker does with its tini). It starts the command as
// its child, forwards every catchable signal to it, reaps every zombie that is
// reparented to it, and exits with the child's status (128+signal when the
// child was killed). Static and libc-only so that it runs in any image.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
    int first = 1;
    if (first < argc && strcmp(argv[first], "--") == 0) {
        ++first;
    }
    if (first >= argc) {
        fprintf(stderr, "berth-init: no command given\n");
        return 125;
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);

    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "berth-init: fork: %s\n", strerror(errno));
        return 125;
    }
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        // The command gets its own process group so that a forwarded signal
        // also reaches its children, as tini's -g does for SIGINT from a tty.
        setpgid(0, 0);
        execvp(argv[first], argv + first);
        int err = errno;
        fprintf(stderr, "berth-init: exec %s: %s\n", argv[first], strerror(err));
        _exit(err == ENOENT ? 127 : 126);
    }
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) {
            continue;
        }
        if (sig != SIGCHLD) {
            kill(child, sig);
            continue;
        }
        for (;;) {
            int status = 0;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0) {
                break;
            }
            if (pid == child) {
                // Reap what is left, then leave with the child's status.
                while (waitpid(-1, NULL, WNOHANG) > 0) {
                }
                if (WIFEXITED(status)) {
                    return WEXITSTATUS(status);
                }
                return 128 + WTERMSIG(status);
            }
        }
    }
}
