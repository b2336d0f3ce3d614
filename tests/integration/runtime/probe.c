// SPDX-License-Identifier: Apache-2.0
// Static probe run inside test containers: tries syscalls the default seccomp
// profile must refuse and prints "name errno" (0 = allowed) for each.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char* name, long rc) {
    printf("%s %d\n", name, rc < 0 ? errno : 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    report("unshare_user", unshare(CLONE_NEWUSER));
    report("mount_tmpfs", mount("none", "/mnt", "tmpfs", 0, NULL));
    report("keyctl", syscall(SYS_keyctl, 0, -1, 0));
    report("add_key", syscall(SYS_add_key, "user", "berth", "x", 1, -2));
    char params[120];
    memset(params, 0, sizeof(params));
    report("io_uring_setup", syscall(425, 1, params));
    report("socket_alg", socket(38, SOCK_SEQPACKET, 0));
    report("socket_vsock", socket(40, SOCK_STREAM, 0));
    report("socket_inet", socket(AF_INET, SOCK_STREAM, 0));
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        _exit(0);
    }
    report("clone_newuser", pid);
    if (pid > 0) {
        waitpid((pid_t)pid, NULL, 0);
    }
    struct clone_args ca;
    memset(&ca, 0, sizeof(ca));
    ca.exit_signal = SIGCHLD;
    long c3 = syscall(SYS_clone3, &ca, sizeof(ca));
    if (c3 == 0) {
        _exit(0);
    }
    report("clone3", c3);
    report("pivot_root", syscall(SYS_pivot_root, "/", "/"));
    report("swapon", syscall(SYS_swapon, "/bin/busybox", 0));
    report("userfaultfd", syscall(SYS_userfaultfd, 0));
    return 0;
}
