// LD_PRELOAD shim for fault tests: file system calls on paths containing a trigger fail the
// way a sick NFS mount fails. FSFAULT_READ_EIO=substr makes reads of matching files fail with
// EIO, FSFAULT_READ_ESTALE=substr with ESTALE, FSFAULT_OPEN_EACCES=substr makes opening them
// fail with EACCES, FSFAULT_OPEN_ENOENT=substr with ENOENT (deleted after it was listed),
// FSFAULT_WRITE_ENOSPC=substr makes writes to matching files fail with ENOSPC (a full disk). FSFAULT_LATENCY_US=n with FSFAULT_LATENCY_PATH=substr makes every open,
// read and close of matching files take n µs longer, in the calling thread, as a distant NFS
// server's round trip does; FSFAULT_STATS=file receives, at exit, the most of those round
// trips that were in flight at once. Nothing else is touched.
//
// libuv closes files with syscall(SYS_close), past this close(), so a descriptor's marks can
// outlive its file: every mark is checked against the file's device and inode before use,
// or a socket that later gets the same number would fail or stall as if it were the file.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_FD 65536
static int fd_errno[MAX_FD];
static int fd_write_errno[MAX_FD];
static char fd_slow[MAX_FD];
static dev_t fd_dev[MAX_FD];
static ino_t fd_ino[MAX_FD];

static int in_flight, most_in_flight;

static void round_trip(void) {
  const char *us = getenv("FSFAULT_LATENCY_US");
  long n = us ? atol(us) : 0;
  if (n <= 0) return;
  int now = __atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
  int most = __atomic_load_n(&most_in_flight, __ATOMIC_SEQ_CST);
  while (now > most && !__atomic_compare_exchange_n(&most_in_flight, &most, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  struct timespec t = {n / 1000000, (n % 1000000) * 1000};
  int saved = errno;
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
  errno = saved;
  __atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
}

__attribute__((destructor)) static void write_stats(void) {
  const char *path = getenv("FSFAULT_STATS");
  if (!path || !*path) return;
  FILE *f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "{\"most_in_flight\":%d}\n", __atomic_load_n(&most_in_flight, __ATOMIC_SEQ_CST));
  fclose(f);
}

static int matches(const char *path, const char *var) {
  const char *want = getenv(var);
  return want && *want && path && strstr(path, want);
}

static int open_fault(const char *path) {
  if (matches(path, "FSFAULT_LATENCY_PATH")) round_trip();
  if (matches(path, "FSFAULT_OPEN_EACCES")) return EACCES;
  if (matches(path, "FSFAULT_OPEN_ENOENT")) return ENOENT;
  return 0;
}

static void remember(int fd, const char *path) {
  if (fd < 0 || fd >= MAX_FD) return;
  fd_errno[fd] = matches(path, "FSFAULT_READ_EIO") ? EIO : matches(path, "FSFAULT_READ_ESTALE") ? ESTALE : 0;
  fd_slow[fd] = matches(path, "FSFAULT_LATENCY_PATH");
  fd_write_errno[fd] = matches(path, "FSFAULT_WRITE_ENOSPC") ? ENOSPC : 0;
  struct stat st;
  if ((fd_errno[fd] || fd_slow[fd] || fd_write_errno[fd]) && fstat(fd, &st) == 0) {
    fd_dev[fd] = st.st_dev;
    fd_ino[fd] = st.st_ino;
  }
}

// Whether fd carries marks and still refers to the file they were set for; clears stale marks.
static int marked(int fd) {
  if (fd < 0 || fd >= MAX_FD || (!fd_errno[fd] && !fd_slow[fd] && !fd_write_errno[fd])) return 0;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_dev == fd_dev[fd] && st.st_ino == fd_ino[fd]) return 1;
  fd_errno[fd] = 0;
  fd_slow[fd] = 0;
  fd_write_errno[fd] = 0;
  return 0;
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
  if (!marked(fd)) return 0;
  if (fd_slow[fd]) round_trip();
  if (fd_errno[fd]) {
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

static int write_fault(int fd) {
  if (!marked(fd) || !fd_write_errno[fd]) return 0;
  errno = fd_write_errno[fd];
  return 1;
}

ssize_t write(int fd, const void *buf, size_t n) {
  static ssize_t (*real)(int, const void *, size_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "write");
  if (write_fault(fd)) return -1;
  return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  static ssize_t (*real)(int, const void *, size_t, off_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "pwrite");
  if (write_fault(fd)) return -1;
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
  static ssize_t (*real)(int, const void *, size_t, off_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "pwrite64");
  if (write_fault(fd)) return -1;
  return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  static ssize_t (*real)(int, const struct iovec *, int) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "writev");
  if (write_fault(fd)) return -1;
  return real(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
  static ssize_t (*real)(int, const struct iovec *, int, off_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "pwritev");
  if (write_fault(fd)) return -1;
  return real(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) {
  static ssize_t (*real)(int, const struct iovec *, int, off_t) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "pwritev64");
  if (write_fault(fd)) return -1;
  return real(fd, iov, cnt, off);
}

int close(int fd) {
  static int (*real)(int) = NULL;
  if (!real) real = dlsym(RTLD_NEXT, "close");
  if (marked(fd)) {
    int slow = fd_slow[fd];
    fd_slow[fd] = 0;
    fd_errno[fd] = 0;
    fd_write_errno[fd] = 0;
    if (slow) round_trip();
  }
  return real(fd);
}
