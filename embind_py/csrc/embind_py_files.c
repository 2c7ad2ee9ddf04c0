/* Linked by embind-py into every standalone wasm it builds: sends the C library's file
 * system calls to the embind-py runtime (the `env` imports embind_py_fs_*, which the build
 * lets through with a JS library naming them), which answers them
 * inside the folders an instance grants (preopens) and with ENOENT/EROFS elsewhere.
 *
 * Emscripten's standalone libc stubs these calls inside the wasm (`__syscall_open`,
 * `__syscall_openat` and `__syscall_fstat64` answer EPERM/ENOSYS; `fcntl`/`ioctl` reach
 * stubs returning ENOSYS, `link` one returning EMLINK), so they are defined here; the other file syscalls stay `env`
 * imports the runtime answers directly. struct stat and struct dirent change layout across
 * Emscripten versions: the tables below, built by the compiler that builds the library,
 * tell the runtime where each field is.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* AT_EMPTY_PATH, O_TMPFILE, st_atim, whatever -std= the library uses */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

int embind_py_fs_openat(int dirfd, const char *path, int flags, int mode);
int embind_py_fs_stat(int dirfd, const char *path, int flags, void *buf, const int *layout);
int embind_py_fs_getdents(int fd, void *buf, int count, const int *layout);
int embind_py_fs_fcntl(int fd, int cmd, int arg);
int embind_py_fs_ioctl(int fd, int request);
int embind_py_fs_linkat(int olddirfd, const char *old, int newdirfd, const char *new_, int flags);

#define EMBIND_FIELD(s, f) (int)offsetof(struct s, f), (int)sizeof(((struct s *)0)->f)

/* size, then (offset, size) of: dev ino mode nlink uid gid rdev size blksize blocks
 * atime.sec atime.nsec mtime.sec mtime.nsec ctime.sec ctime.nsec */
static const int embind_py_stat_layout[] = {
    (int)sizeof(struct stat),
    EMBIND_FIELD(stat, st_dev), EMBIND_FIELD(stat, st_ino), EMBIND_FIELD(stat, st_mode),
    EMBIND_FIELD(stat, st_nlink), EMBIND_FIELD(stat, st_uid), EMBIND_FIELD(stat, st_gid),
    EMBIND_FIELD(stat, st_rdev), EMBIND_FIELD(stat, st_size), EMBIND_FIELD(stat, st_blksize),
    EMBIND_FIELD(stat, st_blocks),
    EMBIND_FIELD(stat, st_atim.tv_sec), EMBIND_FIELD(stat, st_atim.tv_nsec),
    EMBIND_FIELD(stat, st_mtim.tv_sec), EMBIND_FIELD(stat, st_mtim.tv_nsec),
    EMBIND_FIELD(stat, st_ctim.tv_sec), EMBIND_FIELD(stat, st_ctim.tv_nsec),
};

/* size, then (offset, size) of: d_ino d_off d_reclen d_type d_name */
static const int embind_py_dirent_layout[] = {
    (int)sizeof(struct dirent),
    EMBIND_FIELD(dirent, d_ino), EMBIND_FIELD(dirent, d_off), EMBIND_FIELD(dirent, d_reclen),
    EMBIND_FIELD(dirent, d_type), EMBIND_FIELD(dirent, d_name),
};

/* The mode argument is there only with O_CREAT or O_TMPFILE (as musl's open reads it). */
#define EMBIND_MODE(flags, last, mode)                                      \
    do {                                                                    \
        if (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE) {    \
            va_list ap;                                                     \
            va_start(ap, last);                                             \
            mode = va_arg(ap, int);                                         \
            va_end(ap);                                                     \
        }                                                                   \
    } while (0)

/* emcc 3.1.6's libc calls __syscall_open; later versions __syscall_openat. */
long __syscall_open(long path, long flags, ...) {
    int mode = 0;
    EMBIND_MODE(flags, flags, mode);
    return embind_py_fs_openat(AT_FDCWD, (const char *)path, (int)flags, mode);
}

long __syscall_openat(long dirfd, long path, long flags, ...) {
    int mode = 0;
    EMBIND_MODE(flags, flags, mode);
    return embind_py_fs_openat((int)dirfd, (const char *)path, (int)flags, mode);
}

long __syscall_stat64(long path, long buf) {
    return embind_py_fs_stat(AT_FDCWD, (const char *)path, 0, (void *)buf, embind_py_stat_layout);
}

long __syscall_lstat64(long path, long buf) {
    return embind_py_fs_stat(AT_FDCWD, (const char *)path, AT_SYMLINK_NOFOLLOW, (void *)buf,
                             embind_py_stat_layout);
}

long __syscall_fstat64(long fd, long buf) {
    return embind_py_fs_stat((int)fd, "", AT_EMPTY_PATH, (void *)buf, embind_py_stat_layout);
}

/* emcc 3.1.6 names it fstatat64, later versions newfstatat. */
long __syscall_fstatat64(long dirfd, long path, long buf, long flags) {
    return embind_py_fs_stat((int)dirfd, (const char *)path, (int)flags, (void *)buf, embind_py_stat_layout);
}

long __syscall_newfstatat(long dirfd, long path, long buf, long flags) {
    return embind_py_fs_stat((int)dirfd, (const char *)path, (int)flags, (void *)buf, embind_py_stat_layout);
}

long __syscall_getdents64(long fd, long dirp, long count) {
    return embind_py_fs_getdents((int)fd, (void *)dirp, (int)count, embind_py_dirent_layout);
}

static int embind_py_ret(int r) {
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return r;
}

/* The libc's own fcntl() and ioctl() reach syscall stubs that always fail. There is no
 * file locking (as under Emscripten's JS file system): a lock is always granted. */
int fcntl(int fd, int cmd, ...) {
    long arg = 0;
    if (cmd != F_GETFL && cmd != F_GETFD && cmd != F_GETOWN) {
        va_list ap;
        va_start(ap, cmd);
        arg = va_arg(ap, long);
        va_end(ap);
    }
    if (cmd == F_GETLK || cmd == F_SETLK || cmd == F_SETLKW) {
        int r = embind_py_fs_fcntl(fd, F_GETFD, 0); /* EBADF for a bad fd */
        if (r < 0)
            return embind_py_ret(r);
        if (cmd == F_GETLK) ((struct flock *)arg)->l_type = F_UNLCK;
        return 0;
    }
    return embind_py_ret(embind_py_fs_fcntl(fd, cmd, (int)arg));
}

/* emcc 3.1.6's libc answers link() with EMLINK itself ("no hardlinks for us"). */
int link(const char *existing, const char *new_) {
    return embind_py_ret(embind_py_fs_linkat(AT_FDCWD, existing, AT_FDCWD, new_, 0));
}

int ioctl(int fd, int request, ...) {
    return embind_py_ret(embind_py_fs_ioctl(fd, request));
}
