#pragma once
/// extern "C" declarations of the BLACS / PBLAS / ScaLAPACK / TOOLS routines Prism calls.
/// The only place that names that ABI (Fortran symbols with trailing underscore, all arguments by pointer).

#include <mpi.h>

extern "C" {
// BLACS, C interface
void Cblacs_pinfo(int *mypnum, int *nprocs);
void Cblacs_get(int icontxt, int what, int *val);
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *icontxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int icontxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int icontxt);

// TOOLS (1-based global indices, as in Fortran)
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
int indxg2p_(const int *indxglob, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
int indxg2l_(const int *indxglob, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
int indxl2g_(const int *indxloc, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
void descinit_(int *desc,
               const int *m,
               const int *n,
               const int *mb,
               const int *nb,
               const int *irsrc,
               const int *icsrc,
               const int *ictxt,
               const int *lld,
               int *info);

// PBLAS / ScaLAPACK
double pdlange_(const char *norm,
                const int *m,
                const int *n,
                const double *a,
                const int *ia,
                const int *ja,
                const int *desca,
                double *work);
float pslange_(const char *norm,
               const int *m,
               const int *n,
               const float *a,
               const int *ia,
               const int *ja,
               const int *desca,
               float *work);
void pdgemm_(const char *transa,
             const char *transb,
             const int *m,
             const int *n,
             const int *k,
             const double *alpha,
             const double *a,
             const int *ia,
             const int *ja,
             const int *desca,
             const double *b,
             const int *ib,
             const int *jb,
             const int *descb,
             const double *beta,
             double *c,
             const int *ic,
             const int *jc,
             const int *descc);
void psgemm_(const char *transa,
             const char *transb,
             const int *m,
             const int *n,
             const int *k,
             const float *alpha,
             const float *a,
             const int *ia,
             const int *ja,
             const int *desca,
             const float *b,
             const int *ib,
             const int *jb,
             const int *descb,
             const float *beta,
             float *c,
             const int *ic,
             const int *jc,
             const int *descc);
}
