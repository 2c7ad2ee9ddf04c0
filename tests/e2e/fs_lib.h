/* C file API probes: each returns >= 0 on success, -errno on failure. */
int fx_write(const char *path, const char *mode, const char *text);
int fx_read(const char *path, char *buf, int n);
long fx_size(const char *path);
long fx_lsize(const char *path);
int fx_entries(const char *dir, char *names, int n);
int fx_mkdir(const char *path);
int fx_rmdir(const char *path);
int fx_unlink(const char *path);
int fx_rename(const char *from, const char *to);
int fx_link(const char *from, const char *to);
int fx_symlink(const char *target, const char *path);
int fx_access(const char *path, int mode);
int fx_truncate(const char *path, long length);
int fx_open(const char *path, int flags);
long fx_seek_end(const char *path);
int fx_chdir(const char *path);
int fx_getcwd(char *buf, int n);
int fx_rw_cycle(const char *path);
