/* replay.c - runs a fuzz harness without libFuzzer: every file in the
 * folders given (the seed corpus and the regression inputs of one harness)
 * goes through LLVMFuzzerTestOneInput once. Built in the normal build and run
 * by ctest, so every reproducer ever found stays a regression test. Fails when
 * a folder is missing or no input was found (a test that cannot fail is a
 * defect); a broken invariant aborts inside the harness. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FOLDER...  (each file goes through the harness once)\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct dirent **ents;
        int n = scandir(argv[i], &ents, NULL, by_name);
        if (n < 0) {
            fprintf(stderr, "replay: cannot read folder %s\n", argv[i]);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], ents[k]->d_name);
            char *data;
            size_t len;
            IpuErr e;
            if (ents[k]->d_name[0] != '.' && fileio_read(path, "input", 1u << 24, &data, &len, &e) == 0) {
                fprintf(stderr, "replay: %s\n", path);
                LLVMFuzzerTestOneInput((const uint8_t *)data, len);
                free(data);
                inputs++;
            }
            free(ents[k]);
        }
        free(ents);
    }
    printf("replay: %d inputs, every invariant held\n", inputs);
    return inputs ? 0 : 1;
}
