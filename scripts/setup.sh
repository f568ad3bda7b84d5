#!/usr/bin/env bash
# Installs what the project needs on a fresh machine of this kind (Debian, Swift toolchain
# already in /opt/swift). Safe to run again: it installs only what is missing.
set -euo pipefail
# Debian packages the build, tests and tools use: python3 runs the reference model;
# libjemalloc-dev (and pkg-config, which finds it) is the executable's allocator.
packages=(python3 libjemalloc-dev pkg-config)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}"
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }
