/* fileio.h - reading a whole file with limits, and writing files so that a
 * reader never sees half of one.
 *
 * Reading: fileio_read takes a regular file only (a folder, /dev/zero or a
 * pipe is an error, not a hang) up to a size cap the caller names; errors
 * name the file, what it is meant to be and the cap.
 *
 * Writing one file: the bytes go to a temp file in the same folder
 * (".NAME.tmp-XXXXXX"), which is flushed, fsync'ed and renamed over NAME. A
 * failure at any step removes the temp file and leaves an earlier NAME as it
 * was. FileioFile splits this in two (close, then commit) so a command with
 * several outputs can finish all of them before any appears.
 *
 * Writing a folder of files: FileioDir builds the output in a temp sibling
 * folder (".NAME.tmp-XXXXXX") and moves it into place on commit. A missing
 * NAME is created by one rename. An existing NAME that holds only files the
 * output owns (the `owned` name globs) is swapped atomically with the new
 * folder and the old files removed. An existing NAME that holds anything
 * else keeps those files: the new files are renamed over their namesakes one
 * by one, owned files the new output lacks are removed. Abort removes the
 * temp folder; NAME is untouched until commit.
 *
 * Files are created with mode 0666 and folders 0777, less the umask (0644 and
 * 0755 under the usual 022), like any file the user makes: outputs are
 * meant to be shared. Every error carries strerror(errno). Not here: what goes in the files.
 */
#ifndef IPUSIM_FILEIO_H
#define IPUSIM_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "base/err.h"

/* The cap for config-like text (scenario, arch JSON, config.json). */
#define FILEIO_CONFIG_MAX_BYTES (1u << 20)

/* Reads path (a regular file of at most max_bytes) into *text, NUL
 * terminated, length in *len (len may be NULL). what names the file's role
 * in errors ("scenario", "arch file"). 0, or -1 with *text NULL. */
int fileio_read(const char *path, const char *what, size_t max_bytes, char **text, size_t *len, IpuErr *e);

/* mkdir -p: 0, or -1 naming the folder that could not be made. */
int fileio_mkdirs(const char *dir, IpuErr *e);

/* Writes len bytes to path atomically. */
int fileio_write(const char *path, const void *data, size_t len, IpuErr *e);

typedef struct FileioFile {
    FILE *f;    /* write here between open and close */
    char *path; /* the target */
    char *tmp;  /* the temp file; NULL when idle */
} FileioFile;

/* Creates the temp file beside path; af->f is ready for writing. */
int fileio_file_open(FileioFile *af, const char *path, IpuErr *e);
/* Flushes, fsyncs and closes the temp file (write errors surface here). */
int fileio_file_close(FileioFile *af, IpuErr *e);
/* Closes if still open, then renames the temp file over the target. */
int fileio_file_commit(FileioFile *af, IpuErr *e);
/* open + write len bytes + close: the file is complete and synced, waiting
 * for fileio_file_commit (or abort). */
int fileio_file_stage(FileioFile *af, const char *path, const void *data, size_t len, IpuErr *e);
/* Removes the temp file; safe on a zeroed, committed or aborted FileioFile. */
void fileio_file_abort(FileioFile *af);

typedef struct FileioDir {
    char *path; /* the target folder */
    char *tmp;  /* the folder to write into until commit; NULL when idle */
} FileioDir;

/* What fileio_dir_begin checks first, without writing: path names a folder
 * of its own (not "", ".", ".." or "/") that exists or is missing. */
int fileio_dir_check(const char *path, IpuErr *e);
/* fileio_dir_check, then makes path's parents and creates the temp sibling. */
int fileio_dir_begin(FileioDir *d, const char *path, IpuErr *e);
/* Moves the temp folder into place (see above); owned: NULL-terminated name
 * globs (fnmatch) of the files this output writes, or NULL. */
int fileio_dir_commit(FileioDir *d, const char *const *owned, IpuErr *e);
/* Removes the temp folder and what is in it; safe when idle. */
void fileio_dir_abort(FileioDir *d);

#endif
