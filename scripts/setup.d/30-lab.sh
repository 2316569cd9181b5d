# The one-machine lab's traffic tools: socat serves "whoami" (answers with the peer's address) on the
# lab's internet and in pods; ping is iputils-ping. Sourced by scripts/setup.sh ($ROOT, log).
lab_debs=()
command -v socat >/dev/null 2>&1 || lab_debs+=(socat)
command -v ping >/dev/null 2>&1 || lab_debs+=(iputils-ping)
if [ ${#lab_debs[@]} -gt 0 ]; then
  log "apt-get install ${lab_debs[*]} (lab)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lab_debs[@]}" >/dev/null
fi
unset lab_debs
