/* sweep_mpi.h - `ipusim sweep` over MPI ranks: built into the ipusim
 * program only (not the libraries), when CMake finds MPI (IPUSIM_MPI).
 *
 * Launched by mpirun or srun (the launcher's environment names a rank), it
 * starts MPI (threads serialized: the sweep's threads take turns under one
 * lock), makes the transport of host/sweep_exec.h over MPI_COMM_WORLD (rows
 * travel as bytes: every rank runs the same build) and runs cli_sweep_with;
 * started any other way it is cli_sweep, without MPI.
 */
#ifndef IPUSIM_SWEEP_MPI_H
#define IPUSIM_SWEEP_MPI_H

int cli_sweep_mpi(int argc, char **argv);

#endif
