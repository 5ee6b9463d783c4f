/* The hostile RUN's toolbox: makes the syscalls an attacker would, and prints what the kernel
 * answered as `name=ok` or `name=E<errno>`. Built static by the tests (busybox has no keyctl,
 * unshare(2) or clone3), copied into the image and run by RUN steps. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <arpa/inet.h>

static void report(const char *name, long rc) {
    if (rc < 0) {
        printf("%s=E%d\n", name, errno);
    } else {
        printf("%s=ok\n", name);
    }
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *what = argv[i];
        errno = 0;
        if (!strcmp(what, "add_key")) {
            /* KEY_SPEC_SESSION_KEYRING = -3 */
            report(what, syscall(SYS_add_key, "user", "strata-probe", "x", 1, -3));
        } else if (!strcmp(what, "keyctl")) {
            /* KEYCTL_GET_KEYRING_ID = 0 of the session keyring */
            report(what, syscall(SYS_keyctl, 0, -3, 0));
        } else if (!strcmp(what, "unshare")) {
            report(what, unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP));
        } else if (!strcmp(what, "clone_newns")) {
            /* fork with a namespace flag: the argument filter must refuse it */
            long rc = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
            if (rc == 0) _exit(0);
            report(what, rc);
        } else if (!strcmp(what, "clone3")) {
            report(what, syscall(SYS_clone3, NULL, 0));
        } else if (!strcmp(what, "mount")) {
            report(what, mount("cgroup", "/tmp", "cgroup", 0, "memory"));
        } else if (!strcmp(what, "personality_linux")) {
            report(what, personality(PER_LINUX));
        } else if (!strcmp(what, "personality_norandom")) {
            report(what, personality(ADDR_NO_RANDOMIZE));
        } else if (!strcmp(what, "vsock")) {
            report(what, socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
        } else if (!strcmp(what, "packet")) {
            report(what, socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
        } else if (!strcmp(what, "fork")) {
            pid_t pid = fork();
            if (pid == 0) _exit(0);
            report(what, pid);
        } else {
            printf("%s=unknown\n", what);
        }
    }
    return 0;
}
