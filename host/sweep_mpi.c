/* sweep_mpi.c - the MPI transport of a sweep (see sweep_mpi.h). */
#include "host/sweep_mpi.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "host/cli.h"
#include "host/sweep_exec.h"

#define ROW_TAG 11

static int mpi_bcast(void *ctx, void *buf, size_t n)
{
    (void)ctx;
    return MPI_Bcast(buf, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

static int mpi_send_row(void *ctx, const SweepRow *r)
{
    (void)ctx;
    return MPI_Send(r, (int)sizeof *r, MPI_BYTE, 0, ROW_TAG, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

static int mpi_recv_row(void *ctx, SweepRow *r, int block)
{
    (void)ctx;
    MPI_Status st;
    if (!block) {
        int flag = 0;
        if (MPI_Iprobe(MPI_ANY_SOURCE, ROW_TAG, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS)
            return -1;
        if (!flag)
            return 0;
    }
    return MPI_Recv(r, (int)sizeof *r, MPI_BYTE, MPI_ANY_SOURCE, ROW_TAG, MPI_COMM_WORLD, &st) == MPI_SUCCESS ? 1 : -1;
}

static int mpi_agree(void *ctx, int ok)
{
    (void)ctx;
    int all = 0;
    return MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) == MPI_SUCCESS ? all : -1;
}

static void mpi_abort(void *ctx, int code)
{
    (void)ctx;
    MPI_Abort(MPI_COMM_WORLD, code);
}

/* A launcher's rank variable: Open MPI's mpirun, PMIx (srun --mpi=pmix), PMI-1/2, MPICH's Hydra. */
static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int cli_sweep_mpi(int argc, char **argv)
{
    if (!launched_by_mpi())
        return cli_sweep(argc, argv);
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "ipusim sweep: MPI_Init_thread failed\n");
        return 1;
    }
    if (provided < MPI_THREAD_SERIALIZED) {
        fprintf(stderr, "ipusim sweep: this MPI gives no MPI_THREAD_SERIALIZED (level %d)\n", provided);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    SweepTransport t = {0, 1, NULL, mpi_bcast, mpi_send_row, mpi_recv_row, mpi_agree, mpi_abort};
    MPI_Comm_rank(MPI_COMM_WORLD, &t.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t.size);
    int status = cli_sweep_with(argc, argv, t.size > 1 ? &t : NULL);
    MPI_Finalize();
    return status;
}
