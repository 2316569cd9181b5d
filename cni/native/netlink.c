// The plugin's ADD datapath over rtnetlink, in process: the same operations as the `ip -batch` lines of
// cni/datapath (veth.ts, addr.ts, route.ts, neigh.ts, rule.ts), without the two `ip` processes an ADD
// otherwise costs (fork + exec + iproute2's start, ~4 ms of CPU each). A Node-API addon, loaded by
// cni/sys/netlink.ts when it is present and loads; everything else keeps using iproute2.
//
// apply(netns, ops, force): runs `ops` (objects built by native.ts) in the network namespace at path
// `netns` (null: the caller's), stopping at the first failure unless `force`. For a namespace, the calling
// thread enters it (setns) for the duration of the call and returns to its own before returning; if it
// cannot return, the process aborts rather than run on in the wrong namespace. Returns one string per op
// run: "" for success, else the message iproute2 would print ("RTNETLINK answers: File exists",
// "Cannot find device \"x\"").
#define _GNU_SOURCE
#include <net/if.h> // before the linux/ headers, which would define IFF_* a second time
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <node_api.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#define BUF 4096

struct req {
  struct nlmsghdr *h;
  char buf[BUF];
};

static void req_init(struct req *r, int type, int flags, const void *hdr, size_t hdrlen) {
  memset(r->buf, 0, sizeof r->buf);
  r->h = (struct nlmsghdr *)r->buf;
  r->h->nlmsg_len = NLMSG_LENGTH(hdrlen);
  r->h->nlmsg_type = type;
  r->h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  memcpy(NLMSG_DATA(r->h), hdr, hdrlen);
}

static struct rtattr *attr(struct req *r, int type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->h->nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->h->nlmsg_len = NLMSG_ALIGN(r->h->nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static struct rtattr *nest(struct req *r, int type) { return attr(r, type, NULL, 0); }
static void nest_end(struct req *r, struct rtattr *a) { a->rta_len = (char *)r->h + r->h->nlmsg_len - (char *)a; }
static void attr_u32(struct req *r, int type, uint32_t v) { attr(r, type, &v, 4); }
static void attr_str(struct req *r, int type, const char *s) { attr(r, type, s, strlen(s) + 1); }

/** Sends one request and reads its ACK: 0 or -errno. */
static int talk(int fd, struct req *r) {
  static uint32_t seq;
  r->h->nlmsg_seq = ++seq;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, r->h, r->h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
  char buf[BUF];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != r->h->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

static int parse_mac(const char *s, unsigned char mac[6]) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -EINVAL;
  for (int i = 0; i < 6; i++) mac[i] = (unsigned char)v[i];
  return 0;
}

static int parse_ip(const char *s, struct in_addr *a) { return inet_pton(AF_INET, s, a) == 1 ? 0 : -EINVAL; }

// ---- reading the op objects ------------------------------------------------------------------------------

struct op {
  char kind[16], name[IFNAMSIZ + 1], peer[IFNAMSIZ + 1], mac[32], peer_mac[32], peer_netns[256], ip[48],
      gw[48];
  uint32_t mtu, prefix, table, priority;
  int replace, link_scope, is_src, up;
  int peer_fd; // peer_netns opened before entering the namespace the ops run in
};

static void get_str(napi_env env, napi_value o, const char *key, char *out, size_t len) {
  napi_value v;
  bool has = false;
  out[0] = 0;
  if (napi_has_named_property(env, o, key, &has) != napi_ok || !has) return;
  napi_get_named_property(env, o, key, &v);
  size_t n;
  napi_get_value_string_utf8(env, v, out, len, &n);
}

static uint32_t get_u32(napi_env env, napi_value o, const char *key) {
  napi_value v;
  bool has = false;
  uint32_t r = 0;
  if (napi_has_named_property(env, o, key, &has) != napi_ok || !has) return 0;
  napi_get_named_property(env, o, key, &v);
  napi_get_value_uint32(env, v, &r);
  return r;
}

static void read_op(napi_env env, napi_value o, struct op *op) {
  memset(op, 0, sizeof *op);
  get_str(env, o, "op", op->kind, sizeof op->kind);
  get_str(env, o, "name", op->name, sizeof op->name);
  get_str(env, o, "peer", op->peer, sizeof op->peer);
  get_str(env, o, "mac", op->mac, sizeof op->mac);
  get_str(env, o, "peerMac", op->peer_mac, sizeof op->peer_mac);
  get_str(env, o, "peerNetns", op->peer_netns, sizeof op->peer_netns);
  get_str(env, o, "ip", op->ip, sizeof op->ip);
  get_str(env, o, "gw", op->gw, sizeof op->gw);
  op->mtu = get_u32(env, o, "mtu");
  op->prefix = get_u32(env, o, "prefix");
  op->table = get_u32(env, o, "table");
  op->priority = get_u32(env, o, "priority");
  op->replace = get_u32(env, o, "replace") != 0;
  op->link_scope = get_u32(env, o, "linkScope") != 0;
  op->is_src = get_u32(env, o, "fromSource") != 0;
  op->up = get_u32(env, o, "up") != 0;
  op->peer_fd = -1;
}

// ---- the operations --------------------------------------------------------------------------------------

static int link_index(const char *name, char *msg, size_t len) {
  unsigned idx = if_nametoindex(name);
  if (!idx) snprintf(msg, len, "Cannot find device \"%s\"", name);
  return (int)idx;
}

static int veth_add(int fd, struct op *op) {
  unsigned char mac[6], peer_mac[6];
  if (parse_mac(op->mac, mac) || parse_mac(op->peer_mac, peer_mac)) return -EINVAL;
  if (op->peer_fd < 0) return -EBADF;
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  if (op->up) ifi.ifi_flags = ifi.ifi_change = IFF_UP; // this end created up; the peer stays down
  req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  attr_str(&r, IFLA_IFNAME, op->name);
  attr(&r, IFLA_ADDRESS, mac, 6);
  attr_u32(&r, IFLA_MTU, op->mtu);
  struct rtattr *info = nest(&r, IFLA_LINKINFO);
  attr_str(&r, IFLA_INFO_KIND, "veth");
  struct rtattr *data = nest(&r, IFLA_INFO_DATA);
  struct rtattr *peer = nest(&r, VETH_INFO_PEER);
  struct ifinfomsg pifi = {.ifi_family = AF_UNSPEC};
  r.h->nlmsg_len = NLMSG_ALIGN(r.h->nlmsg_len);
  memcpy(r.buf + r.h->nlmsg_len, &pifi, sizeof pifi);
  r.h->nlmsg_len += sizeof pifi;
  attr_str(&r, IFLA_IFNAME, op->peer);
  attr(&r, IFLA_ADDRESS, peer_mac, 6);
  attr_u32(&r, IFLA_MTU, op->mtu);
  attr_u32(&r, IFLA_NET_NS_FD, (uint32_t)op->peer_fd);
  nest_end(&r, peer);
  nest_end(&r, data);
  nest_end(&r, info);
  return talk(fd, &r);
}

static int link_set(int fd, struct op *op, char *msg, size_t len) {
  int idx = link_index(op->name, msg, len);
  if (!idx) return -ENODEV;
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = idx};
  if (!op->peer[0]) ifi.ifi_flags = ifi.ifi_change = IFF_UP; // up; with a new name: a rename
  req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  if (op->peer[0]) attr_str(&r, IFLA_IFNAME, op->peer);
  return talk(fd, &r);
}

static int link_del(int fd, struct op *op, char *msg, size_t len) {
  int idx = link_index(op->name, msg, len);
  if (!idx) return -ENODEV;
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = idx};
  req_init(&r, RTM_DELLINK, 0, &ifi, sizeof ifi);
  return talk(fd, &r);
}

static int addr_add(int fd, struct op *op, char *msg, size_t len) {
  struct in_addr a;
  if (parse_ip(op->ip, &a)) return -EINVAL;
  int idx = link_index(op->name, msg, len);
  if (!idx) return -ENODEV;
  struct req r;
  struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = op->prefix, .ifa_index = idx};
  req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  attr(&r, IFA_LOCAL, &a, 4);
  attr(&r, IFA_ADDRESS, &a, 4);
  return talk(fd, &r);
}

static int route_add(int fd, struct op *op, char *msg, size_t len) {
  struct in_addr dst = {0}, gw;
  if (op->prefix && parse_ip(op->ip, &dst)) return -EINVAL;
  if (op->gw[0] && parse_ip(op->gw, &gw)) return -EINVAL;
  int idx = link_index(op->name, msg, len);
  if (!idx) return -ENODEV;
  struct req r;
  uint32_t table = op->table ? op->table : RT_TABLE_MAIN;
  struct rtmsg rtm = {
      .rtm_family = AF_INET,
      .rtm_dst_len = op->prefix,
      .rtm_table = table < 256 ? table : RT_TABLE_UNSPEC,
      .rtm_protocol = RTPROT_BOOT,
      .rtm_scope = op->link_scope ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
      .rtm_type = RTN_UNICAST,
  };
  req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | (op->replace ? NLM_F_REPLACE : NLM_F_EXCL), &rtm, sizeof rtm);
  if (table >= 256) attr_u32(&r, RTA_TABLE, table);
  if (op->prefix) attr(&r, RTA_DST, &dst, 4);
  if (op->gw[0]) attr(&r, RTA_GATEWAY, &gw, 4);
  attr_u32(&r, RTA_OIF, (uint32_t)idx);
  return talk(fd, &r);
}

static int neigh_add(int fd, struct op *op, char *msg, size_t len) {
  struct in_addr a;
  unsigned char mac[6];
  if (parse_ip(op->ip, &a) || parse_mac(op->mac, mac)) return -EINVAL;
  int idx = link_index(op->name, msg, len);
  if (!idx) return -ENODEV;
  struct req r;
  struct ndmsg nd = {.ndm_family = AF_INET, .ndm_ifindex = idx, .ndm_state = NUD_PERMANENT};
  req_init(&r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, &nd, sizeof nd);
  attr(&r, NDA_DST, &a, 4);
  attr(&r, NDA_LLADDR, mac, 6);
  return talk(fd, &r);
}

static int rule(int fd, struct op *op, int add) {
  struct in_addr a;
  if (parse_ip(op->ip, &a)) return -EINVAL;
  struct req r;
  struct fib_rule_hdr frh = {.family = AF_INET};
  if (op->is_src)
    frh.src_len = 32;
  else
    frh.dst_len = 32;
  if (add) {
    frh.action = FR_ACT_TO_TBL;
    frh.table = op->table < 256 ? op->table : RT_TABLE_UNSPEC;
  }
  req_init(&r, add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE | NLM_F_EXCL : 0, &frh, sizeof frh);
  attr_u32(&r, FRA_PRIORITY, op->priority);
  attr(&r, op->is_src ? FRA_SRC : FRA_DST, &a, 4);
  if (add && op->table >= 256) attr_u32(&r, FRA_TABLE, op->table);
  return talk(fd, &r);
}

static int run_op(int fd, struct op *op, char *msg, size_t len) {
  msg[0] = 0;
  if (!strcmp(op->kind, "vethAdd")) return veth_add(fd, op);
  if (!strcmp(op->kind, "linkSet")) return link_set(fd, op, msg, len);
  if (!strcmp(op->kind, "linkDel")) return link_del(fd, op, msg, len);
  if (!strcmp(op->kind, "addrAdd")) return addr_add(fd, op, msg, len);
  if (!strcmp(op->kind, "routeAdd")) return route_add(fd, op, msg, len);
  if (!strcmp(op->kind, "neighAdd")) return neigh_add(fd, op, msg, len);
  if (!strcmp(op->kind, "ruleAdd")) return rule(fd, op, 1);
  if (!strcmp(op->kind, "ruleDel")) return rule(fd, op, 0);
  snprintf(msg, len, "unknown operation \"%s\"", op->kind);
  return -EINVAL;
}

// ---- the entry point -------------------------------------------------------------------------------------

static napi_value throw_error(napi_env env, const char *what) {
  napi_throw_error(env, NULL, what);
  return NULL;
}

static napi_value apply(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_error(env, "apply(netns, ops, force)");
  char netns[4096] = "";
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t == napi_string) {
    size_t n;
    napi_get_value_string_utf8(env, argv[0], netns, sizeof netns, &n);
  }
  bool force = false;
  napi_get_value_bool(env, argv[2], &force);
  uint32_t count = 0;
  napi_get_array_length(env, argv[1], &count);
  if (count > 64) return throw_error(env, "at most 64 operations per call");
  // Everything read, and every namespace path opened, before this thread changes namespace: a path such as
  // /proc/<pid>/ns/net names the namespace of the process's main thread, this one.
  struct op ops[64];
  for (uint32_t i = 0; i < count; i++) {
    napi_value o;
    napi_get_element(env, argv[1], i, &o);
    read_op(env, o, &ops[i]);
    if (ops[i].peer_netns[0]) ops[i].peer_fd = open(ops[i].peer_netns, O_RDONLY | O_CLOEXEC);
  }

  int own = -1;
  if (netns[0]) {
    int target = open(netns, O_RDONLY | O_CLOEXEC);
    own = target < 0 ? -1 : open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (target < 0 || own < 0 || setns(target, CLONE_NEWNET) < 0) {
      char m[4200];
      snprintf(m, sizeof m, "%s \"%s\": %s", target < 0 ? "Cannot open network namespace" : "setting the network namespace", netns, strerror(errno));
      if (target >= 0) close(target);
      if (own >= 0) close(own);
      for (uint32_t i = 0; i < count; i++)
        if (ops[i].peer_fd >= 0) close(ops[i].peer_fd);
      return throw_error(env, m);
    }
    close(target);
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  napi_value results;
  napi_create_array(env, &results);
  if (fd >= 0) {
    struct sockaddr_nl local = {.nl_family = AF_NETLINK};
    bind(fd, (struct sockaddr *)&local, sizeof local);
    for (uint32_t i = 0; i < count; i++) {
      char msg[256];
      int rc = run_op(fd, &ops[i], msg, sizeof msg);
      char text[300] = "";
      if (rc < 0) snprintf(text, sizeof text, "%s", msg[0] ? msg : "");
      if (rc < 0 && !msg[0]) snprintf(text, sizeof text, "RTNETLINK answers: %s", strerror(-rc));
      napi_value s;
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &s);
      napi_set_element(env, results, i, s);
      if (rc < 0 && !force) break;
    }
    close(fd);
  }
  for (uint32_t i = 0; i < count; i++)
    if (ops[i].peer_fd >= 0) close(ops[i].peer_fd);
  int socket_errno = fd < 0 ? errno : 0;
  if (own >= 0) {
    // Back to the thread's own namespace; running on in the pod's would be worse than stopping.
    if (setns(own, CLONE_NEWNET) < 0) abort();
    close(own);
  }
  if (socket_errno) {
    char m[128];
    snprintf(m, sizeof m, "cannot open rtnetlink: %s", strerror(socket_errno));
    return throw_error(env, m);
  }
  return results;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "apply", NAPI_AUTO_LENGTH, apply, NULL, &fn);
  napi_set_named_property(env, exports, "apply", fn);
  return exports;
}
