#!/bin/sh
# What `make bench` needs beyond `make install`, from Debian's packages when it
# can (root, apt): clangd for the C rows, socat for the relay floor, sshd for the
# SSH rows, ripgrep and git for the search rows. Without them those rows say they were skipped, and why.
need=""
command -v clangd >/dev/null 2>&1 || need="$need clangd"
command -v socat >/dev/null 2>&1 || need="$need socat"
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v rg >/dev/null 2>&1 || need="$need ripgrep"
command -v git >/dev/null 2>&1 || need="$need git"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $need >/dev/null && exit 0
fi
echo "bench: not installed:$need (the rows that need them will say so)" >&2
