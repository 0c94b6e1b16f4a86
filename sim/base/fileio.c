/* fileio.c - bounded whole-file reads and atomic file and folder writes (see fileio.h). */
#define _GNU_SOURCE /* renameat2 */
#include "base/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int fileio_read(const char *path, const char *what, size_t max_bytes, char **text, size_t *len, IpuErr *e)
{
    *text = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO must not block the open */
    if (fd < 0)
        return ipu_err(e, "%s '%s': cannot open: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int er = errno;
        close(fd);
        return ipu_err(e, "%s '%s': cannot stat: %s", what, path, strerror(er));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ipu_err(e, "%s '%s': not a regular file (this must be a regular file of at most %zu bytes)", what,
                       path, max_bytes);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return ipu_err(e, "%s '%s': %lld bytes, more than the limit of %zu bytes", what, path,
                       (long long)st.st_size, max_bytes);
    }
    /* Read up to the cap + 1 so a file that grows after the fstat is still caught. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return ipu_err(e, "%s '%s': out of memory for %zu bytes", what, path, cap);
    }
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes) {
                free(buf);
                close(fd);
                return ipu_err(e, "%s '%s': more than the limit of %zu bytes", what, path, max_bytes);
            }
            size_t ncap = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                close(fd);
                return ipu_err(e, "%s '%s': out of memory", what, path);
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int er = errno;
            free(buf);
            close(fd);
            return ipu_err(e, "%s '%s': read error: %s", what, path, strerror(er));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max_bytes) {
        free(buf);
        return ipu_err(e, "%s '%s': more than the limit of %zu bytes", what, path, max_bytes);
    }
    buf[n] = '\0';
    *text = buf;
    if (len)
        *len = n;
    return 0;
}

int fileio_mkdirs(const char *dir, IpuErr *e)
{
    char *p = strdup(dir);
    if (!p)
        return ipu_err(e, "folder '%s': out of memory", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0777) && errno != EEXIST) {
            int er = errno;
            ipu_err(e, "folder '%s': cannot create directory '%s': %s", dir, p, strerror(er));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rv = 0;
    if (mkdir(p, 0777) && errno != EEXIST)
        rv = ipu_err(e, "folder '%s': cannot create directory: %s", dir, strerror(errno));
    else {
        struct stat st;
        if (stat(p, &st) || !S_ISDIR(st.st_mode))
            rv = ipu_err(e, "folder '%s': exists and is not a folder", dir);
    }
    free(p);
    return rv;
}

/* "dir/name" -> "dir/.name.tmp-XXXXXX" (the X's replaced by make_temp). */
static char *temp_sibling(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    size_t n = strlen(path) + 16;
    char *t = malloc(n);
    if (t)
        snprintf(t, n, "%.*s.%s.tmp-XXXXXX", (int)dlen, path, path + dlen);
    return t;
}

/* Creates tmpl (ending in XXXXXX) as a new file open for writing (its fd
 * returned) or, with dir, a new folder (0 returned); -1 with errno. Unlike
 * mkstemp / mkdtemp (0600 / 0700), the mode is 0666 / 0777 less the umask,
 * as for any file the user creates: outputs are meant to be shared. The
 * name only has to be unused; O_EXCL / mkdir make the claim atomic. */
static int make_temp(char *tmpl, int dir)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char *x = tmpl + strlen(tmpl) - 6;
    for (int attempt = 0; attempt < 1000; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* time, process, thread (a stack address) and attempt: a name in use is simply tried again */
        uint64_t v = ((uint64_t)ts.tv_nsec << 24) ^ ((uint64_t)getpid() << 44) ^ (uint64_t)ts.tv_sec ^
                     (uint64_t)(uintptr_t)&ts ^ ((uint64_t)attempt << 8);
        v *= 0x9E3779B97F4A7C15ull; /* spread the bits over the six characters */
        for (int i = 0; i < 6; i++, v /= 62)
            x[i] = alnum[v % 62];
        if (dir) {
            if (mkdir(tmpl, 0777) == 0)
                return 0;
        } else {
            int fd = open(tmpl, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (fd >= 0)
                return fd;
        }
        if (errno != EEXIST)
            return -1;
    }
    errno = EEXIST;
    return -1;
}

/* fsync of the folder holding path, so a rename survives a crash; best effort. */
static void sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int fileio_file_open(FileioFile *af, const char *path, IpuErr *e)
{
    memset(af, 0, sizeof *af);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return ipu_err(e, "'%s': not a file name", path);
    af->path = strdup(path);
    af->tmp = temp_sibling(path);
    if (!af->path || !af->tmp) {
        fileio_file_abort(af);
        return ipu_err(e, "'%s': out of memory", path);
    }
    int fd = make_temp(af->tmp, 0);
    if (fd < 0) {
        int er = errno;
        free(af->tmp);
        af->tmp = NULL;
        fileio_file_abort(af);
        return ipu_err(e, "'%s': cannot create a temp file beside it: %s", path, strerror(er));
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int er = errno;
        close(fd);
        fileio_file_abort(af);
        return ipu_err(e, "'%s': %s", path, strerror(er));
    }
    return 0;
}

int fileio_file_close(FileioFile *af, IpuErr *e)
{
    if (!af->f)
        return 0;
    FILE *f = af->f;
    af->f = NULL;
    errno = 0;
    int bad = fflush(f) != 0 || ferror(f);
    int er = errno;
    if (!bad && fsync(fileno(f)) != 0) {
        bad = 1;
        er = errno;
    }
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        er = errno;
    }
    if (bad) {
        ipu_err(e, "'%s': write error: %s", af->path, er ? strerror(er) : "unknown stdio error");
        fileio_file_abort(af);
        return -1;
    }
    return 0;
}

int fileio_file_commit(FileioFile *af, IpuErr *e)
{
    if (!af->tmp)
        return ipu_err(e, "'%s': nothing to commit", af->path ? af->path : "?");
    if (fileio_file_close(af, e))
        return -1;
    if (rename(af->tmp, af->path) != 0) {
        int er = errno;
        ipu_err(e, "'%s': cannot rename the temp file into place: %s", af->path, strerror(er));
        fileio_file_abort(af);
        return -1;
    }
    sync_parent(af->path);
    free(af->tmp);
    af->tmp = NULL;
    free(af->path);
    af->path = NULL;
    return 0;
}

void fileio_file_abort(FileioFile *af)
{
    if (af->f)
        fclose(af->f);
    af->f = NULL;
    if (af->tmp)
        unlink(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
    free(af->path);
    af->path = NULL;
}

int fileio_file_stage(FileioFile *af, const char *path, const void *data, size_t len, IpuErr *e)
{
    if (fileio_file_open(af, path, e))
        return -1;
    if (len && fwrite(data, 1, len, af->f) != len) {
        int er = errno;
        fileio_file_abort(af);
        return ipu_err(e, "'%s': write error: %s", path, strerror(er));
    }
    return fileio_file_close(af, e);
}

int fileio_write(const char *path, const void *data, size_t len, IpuErr *e)
{
    FileioFile af;
    return fileio_file_stage(&af, path, data, len, e) ? -1 : fileio_file_commit(&af, e);
}

/* ---- folders ---- */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Removes the files of dir (one level: outputs hold no subfolders) and dir. */
static void remove_flat(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        for (struct dirent *de; (de = readdir(d));) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char *p = join(dir, de->d_name);
            if (p)
                unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int is_owned(const char *name, const char *const *owned)
{
    for (const char *const *g = owned; g && *g; g++)
        if (fnmatch(*g, name, 0) == 0)
            return 1;
    return 0;
}

static int has_entry(const char *dir, const char *name)
{
    char *p = join(dir, name);
    struct stat st;
    int yes = p && lstat(p, &st) == 0;
    free(p);
    return yes;
}

/* Length of path without trailing slashes, or 0 with an error when it names
 * no folder of its own. */
static size_t dir_name_len(const char *path, IpuErr *e)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') /* "out/" names the folder out */
        n--;
    const char *base = NULL;
    for (size_t i = n; i > 0 && !base; i--)
        if (path[i - 1] == '/')
            base = path + i;
    base = base ? base : path;
    if (!n || base == path + n || (base[0] == '.' && (n - (size_t)(base - path) == 1 ||
                                                     (base[1] == '.' && n - (size_t)(base - path) == 2)))) {
        ipu_err(e, "folder '%s': name a folder of its own, not '.', '..' or '/'", path);
        return 0;
    }
    return n;
}

int fileio_dir_check(const char *path, IpuErr *e)
{
    if (!dir_name_len(path, e))
        return -1;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
        return ipu_err(e, "folder '%s': exists and is not a folder", path);
    return 0;
}

int fileio_dir_begin(FileioDir *d, const char *path, IpuErr *e)
{
    memset(d, 0, sizeof *d);
    size_t n = dir_name_len(path, e);
    if (!n)
        return -1;
    d->path = strndup(path, n);
    if (!d->path)
        return ipu_err(e, "folder '%s': out of memory", path);
    struct stat st;
    if (stat(d->path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        fileio_dir_abort(d);
        return ipu_err(e, "folder '%s': exists and is not a folder", path);
    }
    const char *slash = strrchr(d->path, '/');
    if (slash && slash != d->path) {
        char *parent = strndup(d->path, (size_t)(slash - d->path));
        int rv = parent ? fileio_mkdirs(parent, e) : ipu_err(e, "folder '%s': out of memory", path);
        free(parent);
        if (rv) {
            fileio_dir_abort(d);
            return -1;
        }
    }
    d->tmp = temp_sibling(d->path);
    if (!d->tmp || make_temp(d->tmp, 1) != 0) {
        int er = errno;
        free(d->tmp);
        d->tmp = NULL;
        fileio_dir_abort(d);
        return ipu_err(e, "folder '%s': cannot create a temp folder beside it: %s", path, strerror(er));
    }
    return 0;
}

/* Every entry of dir is a regular file matching owned. */
static int only_owned(const char *dir, const char *const *owned)
{
    DIR *dd = opendir(dir);
    if (!dd)
        return 0;
    int ok = 1;
    for (struct dirent *de; ok && (de = readdir(dd));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *p = join(dir, de->d_name);
        struct stat st;
        ok = p && lstat(p, &st) == 0 && S_ISREG(st.st_mode) && is_owned(de->d_name, owned);
        free(p);
    }
    closedir(dd);
    return ok;
}

/* Removes the owned files of d->path the new output lacks, then renames
 * each file of d->tmp over its namesake in d->path. */
static int merge_into(FileioDir *d, const char *const *owned, IpuErr *e)
{
    DIR *dd = owned ? opendir(d->path) : NULL;
    for (struct dirent *de; dd && (de = readdir(dd));) {
        if (!is_owned(de->d_name, owned) || has_entry(d->tmp, de->d_name))
            continue;
        char *p = join(d->path, de->d_name);
        struct stat st;
        if (p && lstat(p, &st) == 0 && S_ISREG(st.st_mode))
            unlink(p); /* a stale file of an earlier output (a shard, a plot) */
        free(p);
    }
    if (dd)
        closedir(dd);
    dd = opendir(d->tmp);
    if (!dd)
        return ipu_err(e, "folder '%s': cannot read the temp folder: %s", d->path, strerror(errno));
    int rv = 0;
    for (struct dirent *de; !rv && (de = readdir(dd));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *from = join(d->tmp, de->d_name), *to = join(d->path, de->d_name);
        if (!from || !to)
            rv = ipu_err(e, "folder '%s': out of memory", d->path);
        else if (rename(from, to) != 0)
            rv = ipu_err(e, "'%s': cannot rename into place: %s", to, strerror(errno));
        free(from);
        free(to);
    }
    closedir(dd);
    return rv;
}

int fileio_dir_commit(FileioDir *d, const char *const *owned, IpuErr *e)
{
    if (!d->tmp)
        return ipu_err(e, "folder '%s': nothing to commit", d->path ? d->path : "?");
    int rv = 0;
    struct stat st, lst;
    if (lstat(d->path, &lst) != 0) {
        if (rename(d->tmp, d->path) != 0)
            rv = ipu_err(e, "folder '%s': cannot rename the temp folder into place: %s", d->path, strerror(errno));
    } else if (stat(d->path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rv = ipu_err(e, "folder '%s': exists and is not a folder", d->path);
    } else if (S_ISLNK(lst.st_mode)) { /* a link to a folder: fill the folder, keep the link */
        rv = merge_into(d, owned, e);
    } else if (owned && only_owned(d->path, owned) &&
               renameat2(AT_FDCWD, d->tmp, AT_FDCWD, d->path, RENAME_EXCHANGE) == 0) {
        remove_flat(d->tmp); /* the old output, now at the temp name */
    } else {
        rv = merge_into(d, owned, e);
    }
    if (rv) {
        fileio_dir_abort(d);
        return -1;
    }
    sync_parent(d->path);
    remove_flat(d->tmp); /* empty after a merge; gone after a rename */
    free(d->tmp);
    d->tmp = NULL;
    free(d->path);
    d->path = NULL;
    return 0;
}

void fileio_dir_abort(FileioDir *d)
{
    if (d->tmp)
        remove_flat(d->tmp);
    free(d->tmp);
    d->tmp = NULL;
    free(d->path);
    d->path = NULL;
}
