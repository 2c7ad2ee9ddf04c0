#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fsx.h"  /* built as fsx.c + fsx.h by the test */
static int R(int x) { return x < 0 ? -errno : x; }
int fx_write(const char *path, const char *mode, const char *text) {
    FILE *f = fopen(path, mode);
    if (!f) return -errno;
    size_t n = fwrite(text, 1, strlen(text), f);
    if (fclose(f) != 0) return -errno;
    return (int)n;
}
int fx_read(const char *path, char *buf, int n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -errno;
    size_t got = fread(buf, 1, (size_t)n, f);
    int err = ferror(f) ? -errno : 0;
    fclose(f);
    return err ? err : (int)got;
}
long fx_size(const char *path) { struct stat st; return stat(path, &st) < 0 ? -errno : (long)st.st_size; }
long fx_lsize(const char *path) { struct stat st; return lstat(path, &st) < 0 ? -errno : (S_ISLNK(st.st_mode) ? -1000 : (long)st.st_size); }
int fx_entries(const char *dir, char *names, int n) {
    DIR *d = opendir(dir);
    if (!d) return -errno;
    int count = 0; struct dirent *e; names[0] = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((int)(strlen(names) + strlen(e->d_name) + 2) < n) { strcat(names, e->d_name); strcat(names, "/"); }
        count++;
    }
    closedir(d);
    return count;
}
int fx_mkdir(const char *path) { return R(mkdir(path, 0755)); }
int fx_rmdir(const char *path) { return R(rmdir(path)); }
int fx_unlink(const char *path) { return R(unlink(path)); }
int fx_rename(const char *from, const char *to) { return R(rename(from, to)); }
int fx_link(const char *from, const char *to) { return R(link(from, to)); }
int fx_symlink(const char *target, const char *path) { return R(symlink(target, path)); }
int fx_access(const char *path, int mode) { return R(access(path, mode)); }
int fx_truncate(const char *path, long length) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return -errno;
    int r = ftruncate(fd, length);
    int e = errno;
    close(fd);
    return r < 0 ? -e : 0;
}
int fx_open(const char *path, int flags) {
    int fd = open(path, flags, 0644);
    if (fd < 0) return -errno;
    close(fd);
    return 0;
}
long fx_seek_end(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -errno;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}
int fx_chdir(const char *path) { return R(chdir(path)); }
int fx_getcwd(char *buf, int n) { return getcwd(buf, (size_t)n) ? (int)strlen(buf) : -errno; }
int fx_rw_cycle(const char *path) {
    /* open/write/lseek/read/close with raw fds */
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -errno;
    if (write(fd, "0123456789", 10) != 10) return -errno;
    if (lseek(fd, 3, SEEK_SET) != 3) return -errno;
    char b[4] = {0};
    if (read(fd, b, 3) != 3) return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    close(fd);
    return (b[0] - '0') * 100 + (b[1] - '0') * 10 + (b[2] - '0') + (int)st.st_size * 1000;
}
