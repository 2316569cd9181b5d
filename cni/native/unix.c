// Blocking calls on a Unix stream socket, for the plugin's gRPC exchange with the daemon: connect, write,
// read with a timeout, close. The plugin is a fresh process per pod that makes one or two calls; done with
// these, a call never enters Node's event loop (no pipe handle, no timer, no turns of the loop), which costs
// an ADD about 1 ms of CPU less than the asynchronous socket. Part of the plugin's addon (netlink.c registers
// these functions). Every failure is thrown as an Error whose `code` is the errno name (ENOENT,
// ECONNREFUSED, EACCES, EPIPE...); a timeout is not a failure (read returns null, connect ETIMEDOUT).
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "addon.h"

static napi_value fail(napi_env env, int err, const char *what) {
  const char *name = strerrorname_np(err);
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name ? name : "EIO", msg);
  return NULL;
}

static int32_t arg_i32(napi_env env, napi_value v) {
  int32_t r = -1;
  napi_get_value_int32(env, v, &r);
  return r;
}

/** Fills argv[0..n) (undefined where the caller passed less) and returns the first as a file descriptor. */
static int fd_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc < n ? -1 : arg_i32(env, argv[0]);
}

/** connect(path, timeoutMs) -> fd. A listener whose backlog is full is waited for, up to the timeout. */
static napi_value unix_connect(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t n = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], sa.sun_path, sizeof sa.sun_path, &n) != napi_ok)
    return fail(env, EINVAL, "connect");
  if (n >= sizeof sa.sun_path - 1) return fail(env, ENAMETOOLONG, "connect");
  int32_t ms = arg_i32(env, argv[1]);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, errno, "socket");
  // A blocking connect waits for room in the listener's backlog for at most SO_SNDTIMEO.
  struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int r;
  do r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    int err = errno == EAGAIN ? ETIMEDOUT : errno;
    close(fd);
    return fail(env, err, "connect");
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

/** write(fd, buffer): writes all of it (the socket is blocking; requests are a few hundred bytes). */
static napi_value unix_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd = fd_args(env, info, 2, argv);
  void *data = NULL;
  size_t len = 0;
  if (fd < 0 || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return fail(env, EINVAL, "write");
  for (size_t off = 0; off < len;) {
    ssize_t w = send(fd, (char *)data + off, len - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(env, errno == EAGAIN ? ETIMEDOUT : errno, "write");
    }
    off += (size_t)w;
  }
  return NULL;
}

/** read(fd, timeoutMs) -> Buffer with what arrived, an empty Buffer when the peer closed, null when nothing
 * arrived in time (the caller keeps its own deadline and may read again). */
static napi_value unix_read(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd = fd_args(env, info, 2, argv);
  if (fd < 0) return fail(env, EINVAL, "read");
  int32_t ms = arg_i32(env, argv[1]);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r;
  do r = poll(&p, 1, ms < 0 ? 0 : ms);
  while (r < 0 && errno == EINTR);
  if (r < 0) return fail(env, errno, "poll");
  napi_value out;
  if (r == 0) {
    napi_get_null(env, &out);
    return out;
  }
  char buf[16384];
  ssize_t n;
  do n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN) return fail(env, errno, "read");
    napi_get_null(env, &out); // woken without data: nothing yet (an empty Buffer would mean "closed")
    return out;
  }
  napi_create_buffer_copy(env, (size_t)n, buf, NULL, &out);
  return out;
}

static napi_value unix_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd = fd_args(env, info, 1, argv);
  if (fd >= 0) close(fd);
  return NULL;
}

void register_unix(napi_env env, napi_value exports) {
  const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"unixConnect", unix_connect},
      {"unixWrite", unix_write},
      {"unixRead", unix_read},
      {"unixClose", unix_close},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
}
