/*
 * libhalmpi.so: the thin C shim between package dist and MPI (MPICH's ABI:
 * libmpich.so.12, which Intel MPI, MVAPICH and Cray MPICH share). Package dist
 * opens it with dlopen at run time, so that a plain `go build` needs no MPI;
 * `make mpi` builds it with mpicc (scripts/install-mpi.sh installs MPICH).
 *
 * Every collective runs as MPI's non-blocking form (MPI_Iallreduce, ...)
 * completed by polling MPI_Test until it finishes, its deadline passes
 * (HALMPI_TIMEOUT) or the caller cancels it (HALMPI_CANCELED). Either of
 * the last two leaves the collective in flight with no way to take it back,
 * so the caller must then end the job with halmpi_abort. MPI errors come
 * back as MPI error codes (the communicator uses MPI_ERRORS_RETURN);
 * halmpi_error_string spells them.
 */
#include <mpi.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define HALMPI_ABI 1

enum {
	HALMPI_TIMEOUT = -1,
	HALMPI_CANCELED = -2,
	HALMPI_TOOBIG = -3,
	HALMPI_NOTINIT = -4,
};

static MPI_Comm comm = MPI_COMM_NULL;
static int comm_size = 1;
static int we_initialized = 0;
/* The generation of the collective the caller cancelled (see halmpi_cancel). */
static atomic_long cancel_gen = -1;

int halmpi_abi(void) { return HALMPI_ABI; }

/* halmpi_init initializes MPI (MPI_Init_thread asking for
 * MPI_THREAD_SERIALIZED: Go calls in from whichever thread runs the
 * goroutine, one call at a time) unless the program did already, and
 * duplicates MPI_COMM_WORLD with MPI_ERRORS_RETURN. provided is the thread
 * level MPI grants; version is MPI_Get_library_version's text. */
int halmpi_init(int *rank, int *size, int *provided, char *version, int versionlen) {
	int inited = 0, finalized = 0, rc;
	MPI_Finalized(&finalized);
	if (finalized)
		return HALMPI_NOTINIT;
	MPI_Initialized(&inited);
	if (!inited) {
		rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
		if (rc != MPI_SUCCESS)
			return rc;
		we_initialized = 1;
	} else {
		MPI_Query_thread(provided);
	}
	if (comm == MPI_COMM_NULL) {
		MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
		if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm)) != MPI_SUCCESS)
			return rc;
		MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
	}
	MPI_Comm_rank(comm, rank);
	MPI_Comm_size(comm, size);
	comm_size = *size;
	if (version && versionlen >= MPI_MAX_LIBRARY_VERSION_STRING) {
		int n = 0;
		MPI_Get_library_version(version, &n);
	}
	return MPI_SUCCESS;
}

/* halmpi_finalize frees the communicator and finalizes MPI if halmpi_init
 * initialized it. */
int halmpi_finalize(void) {
	if (comm != MPI_COMM_NULL)
		MPI_Comm_free(&comm);
	if (we_initialized) {
		we_initialized = 0;
		return MPI_Finalize();
	}
	return MPI_SUCCESS;
}

void halmpi_error_string(int code, char *buf, int len) {
	char s[MPI_MAX_ERROR_STRING];
	int n = 0;
	if (MPI_Error_string(code, s, &n) != MPI_SUCCESS)
		snprintf(s, sizeof s, "MPI error %d", code);
	snprintf(buf, len, "%s", s);
}

/* halmpi_abort ends the whole job: MPI_Abort on MPI_COMM_WORLD, which makes
 * the launcher kill every rank. */
void halmpi_abort(int code) {
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, code);
}

/* halmpi_cancel makes the collective of generation gen, if it is still
 * waiting, return HALMPI_CANCELED. Callable from any thread. */
void halmpi_cancel(long gen) { atomic_store(&cancel_gen, gen); }

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* wait_req polls req until it completes, timeout seconds pass (timeout <= 0:
 * no limit) or generation gen is cancelled. MPICH progresses non-blocking
 * collectives only inside MPI calls, so it spins on MPI_Test for the first
 * millisecond, then yields the processor between polls, and sleeps 50 us
 * between them only after 100 ms, so that a rank waiting long for a peer
 * does not starve the others of a shared machine. */
static int wait_req(MPI_Request *req, double timeout, long gen) {
	double start = now(), t;
	unsigned long polls = 0;
	for (;;) {
		int flag = 0, rc = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
		if (rc != MPI_SUCCESS)
			return rc;
		if (flag)
			return MPI_SUCCESS;
		if ((++polls & 31) != 0)
			continue;
		if (atomic_load(&cancel_gen) == gen)
			return HALMPI_CANCELED;
		t = now() - start;
		if (timeout > 0 && t > timeout)
			return HALMPI_TIMEOUT;
		if (t > 0.1) {
			struct timespec ts = {0, 50000};
			nanosleep(&ts, NULL);
		} else if (t > 0.001) {
			sched_yield();
		}
	}
}

static void scale(float *x, int64_t n, int by) {
	float f = (float)by;
	for (int64_t i = 0; i < n; i++)
		x[i] /= f;
}

#define CHECK_COMM()                   \
	if (comm == MPI_COMM_NULL)     \
		return HALMPI_NOTINIT; \
	if (n < 0 || n > INT32_MAX)    \
		return HALMPI_TOOBIG;

/* halmpi_agree gathers every rank's descriptor of 4 int64 into all
 * (size*4), so that the caller can check that all ranks entered the same
 * collective with the same sizes before it starts. */
int halmpi_agree(const int64_t *desc, int64_t *all, double timeout, long gen) {
	MPI_Request req;
	int64_t n = 0;
	CHECK_COMM();
	int rc = MPI_Iallgather(desc, 4, MPI_INT64_T, all, 4, MPI_INT64_T, comm, &req);
	return rc != MPI_SUCCESS ? rc : wait_req(&req, timeout, gen);
}

int halmpi_allreduce(float *buf, int64_t n, int avg, double timeout, long gen) {
	MPI_Request req;
	CHECK_COMM();
	int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, comm, &req);
	if (rc == MPI_SUCCESS)
		rc = wait_req(&req, timeout, gen);
	if (rc == MPI_SUCCESS && avg)
		scale(buf, n, comm_size);
	return rc;
}

int halmpi_bcast(float *buf, int64_t n, int root, double timeout, long gen) {
	MPI_Request req;
	CHECK_COMM();
	int rc = MPI_Ibcast(buf, (int)n, MPI_FLOAT, root, comm, &req);
	return rc != MPI_SUCCESS ? rc : wait_req(&req, timeout, gen);
}

int halmpi_allgather(const float *send, float *recv, int64_t n, double timeout, long gen) {
	MPI_Request req;
	CHECK_COMM();
	int rc = MPI_Iallgather(send, (int)n, MPI_FLOAT, recv, (int)n, MPI_FLOAT, comm, &req);
	return rc != MPI_SUCCESS ? rc : wait_req(&req, timeout, gen);
}

/* n is the number of values each rank receives. */
int halmpi_reduce_scatter(const float *send, float *recv, int64_t n, int avg, double timeout, long gen) {
	MPI_Request req;
	CHECK_COMM();
	int rc = MPI_Ireduce_scatter_block(send, recv, (int)n, MPI_FLOAT, MPI_SUM, comm, &req);
	if (rc == MPI_SUCCESS)
		rc = wait_req(&req, timeout, gen);
	if (rc == MPI_SUCCESS && avg)
		scale(recv, n, comm_size);
	return rc;
}

int halmpi_barrier(double timeout, long gen) {
	MPI_Request req;
	int64_t n = 0;
	CHECK_COMM();
	int rc = MPI_Ibarrier(comm, &req);
	return rc != MPI_SUCCESS ? rc : wait_req(&req, timeout, gen);
}

/* halmpi_bench_allreduce is the reference of the all-reduce benchmark: iters
 * blocking MPI_Allreduce calls (sum, in place) on n floats after warm-up
 * calls and a barrier, timed with MPI_Wtime; *seconds is the time per call. */
int halmpi_bench_allreduce(float *buf, int64_t n, int iters, double *seconds) {
	CHECK_COMM();
	int rc;
	for (int i = 0; i < 3; i++)
		if ((rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, comm)) != MPI_SUCCESS)
			return rc;
	if ((rc = MPI_Barrier(comm)) != MPI_SUCCESS)
		return rc;
	double t0 = MPI_Wtime();
	for (int i = 0; i < iters; i++)
		if ((rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, comm)) != MPI_SUCCESS)
			return rc;
	*seconds = (MPI_Wtime() - t0) / iters;
	return MPI_SUCCESS;
}
