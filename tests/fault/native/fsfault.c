// LD_PRELOAD shim for fault tests: file system calls on paths containing a trigger fail the
// way a sick NFS mount fails. FSFAULT_READ_EIO=substr makes reads of matching files fail with
// EIO, FSFAULT_READ_ESTALE=substr with ESTALE, FSFAULT_OPEN_EACCES=substr makes opening them
// fail with EACCES. Nothing else is touched.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FD 65536
static int fd_errno[MAX_FD];

static int matches(const char *path, const char *var) {
  const char *want = getenv(var);
  return want && *want && path && strstr(path, want);
}

static int open_fault(const char *path) {
  if (matches(path, "FSFAULT_OPEN_EACCES")) return EACCES;
  return 0;
}

static void remember(int fd, const char *path) {
  if (fd < 0 || fd >= MAX_FD) return;
  fd_errno[fd] = matches(path, "FSFAULT_READ_EIO") ? EIO : matches(path, "FSFAULT_READ_ESTALE") ? ESTALE : 0;
}

#define OPEN_WRAPPER(name, ...)                                                   \
  int name(__VA_ARGS__) {                                                           \
    static int (*real)() = NULL;                                                    \
    if (!real) real = dlsym(RTLD_NEXT, #name);                                      \
    mode_t mode = 0;                                                                \
    if (flags & O_CREAT) {                                                          \
      va_list ap;                                                                   \
      va_start(ap, flags);                                                          \
      mode = va_arg(ap, mode_t);                                                    \
      va_end(ap);                                                                   \
    }                                                                               \
    int e = open_fault(path);                                                       \
    if (e) {                                                                        \
      errno = e;                                                                    \
      return -1;                                                                    \
    }                                                                               \
    int fd = CALL;                                                                  \
    remember(fd, path);                                                             \
    return fd;                                                                      \
  }

#define CALL real(path, flags, mode)
OPEN_WRAPPER(open, const char *path, int flags, ...)
OPEN_WRAPPER(open64, const char *path, int flags, ...)
#undef CALL
#define CALL real(dirfd, path, flags, mode)
OPEN_WRAPPER(openat, int dirfd, const char *path, int flags, ...)
OPEN_WRAPPER(openat64, int dirfd, const char *path, int flags, ...)
#undef CALL

static int read_fault(int fd) {
  if (fd >= 0 && fd < MAX_FD && fd_errno[fd]) {
    errno = fd_errno[fd];
    return 1;
  }
  return 0;
}

ssize_t read(int fd, void *buf, size_t n) {
  static ssize_t (*real)(int, void *, size_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "read");
  if (read_fault(fd)) return -1;
  return real(fd, buf, n);
}

ssize_t pread64(int fd, void *buf, size_t n, off_t off) {
  static ssize_t (*real)(int, void *, size_t, off_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "pread64");
  if (read_fault(fd)) return -1;
  return real(fd, buf, n, off);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off) {
  static ssize_t (*real)(int, void *, size_t, off_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "pread");
  if (read_fault(fd)) return -1;
  return real(fd, buf, n, off);
}

ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t off) {
  static ssize_t (*real)(int, const struct iovec *, int, off_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "preadv64");
  if (read_fault(fd)) return -1;
  return real(fd, iov, cnt, off);
}

ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off) {
  static ssize_t (*real)(int, const struct iovec *, int, off_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "preadv");
  if (read_fault(fd)) return -1;
  return real(fd, iov, cnt, off);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt) {
  static ssize_t (*real)(int, const struct iovec *, int) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "readv");
  if (read_fault(fd)) return -1;
  return real(fd, iov, cnt);
}
