/* The floor for every toolstack command: fork + exec + wait of a trivial program, timed in a C loop; one line per iteration, in ms. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	char *end;
	long n;
	if (argc != 3) {
		fprintf(stderr, "usage: %s ITERATIONS PROGRAM\n", argv[0]);
		return 2;
	}
	errno = 0;
	n = strtol(argv[1], &end, 10);
	if (errno || *end || n < 1 || n > 100000) {
		fprintf(stderr, "ITERATIONS must be a whole number from 1 to 100000\n");
		return 2;
	}
	for (long i = 0; i < n; i++) {
		int status;
		double t0 = now_ms();
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "fork: %s\n", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			char *child_argv[] = { argv[2], NULL };
			execv(argv[2], child_argv);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0) {
			fprintf(stderr, "waitpid: %s\n", strerror(errno));
			return 1;
		}
		double t1 = now_ms();
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "%s did not exit with 0 (status %d)\n", argv[2], status);
			return 1;
		}
		printf("%.4f\n", t1 - t0);
	}
	return 0;
}
