// The plugin's addon is one library built from netlink.c (rtnetlink, and the module's entry point) and unix.c
// (blocking Unix socket calls for the daemon's gRPC).
#pragma once
#include <node_api.h>

void register_unix(napi_env env, napi_value exports);
