/* The pod sandbox's only process (containerd's sandbox_image in the CRI tests and the cluster lab): waits for a signal, exits on INT/TERM.
 * Built static (gcc -static) so the image needs nothing else. */
#include <signal.h>
#include <unistd.h>

static void done(int sig) { _exit(sig == SIGTERM || sig == SIGINT ? 0 : 1); }

int main(void) {
  signal(SIGINT, done);
  signal(SIGTERM, done);
  for (;;) pause();
  return 0;
}
