# The real Kubernetes components the cluster lab (`tidepoolctl lab up --kubernetes`) and the Kubernetes
# tests (test/e2e/k8s-*.test.ts) run: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kubectl v1.37.2, etcd v3.6.16, helm v3.22.0 and crictl v1.37.0, built from the Go module proxy by
# scripts/k8s/build.sh into /var/cache/tidepool/k8s/v1.37.2/bin (outside the repo, keyed by version; the
# stamp .complete is written last). The first build on a 2-core machine took 59 min here (loaded; ~26 min idle)
# (kube-apiserver pays for most of it); afterwards this step takes well under a second.
if [ ! -f /var/cache/tidepool/k8s/v1.37.2/.complete ]; then
  log "building the Kubernetes v1.37.2 binaries from the Go module proxy (first time: about 26-60 min)"
  bash "$ROOT/scripts/k8s/build.sh"
fi
