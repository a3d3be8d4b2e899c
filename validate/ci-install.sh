#!/usr/bin/env bash
# Installs what the validation lab needs on Debian 12 and prints versions:
# QEMU (qemu-system-x86, for qemu-system-x86_64), a kernel for the lab's
# guests (linux-image-amd64, which puts vmlinuz in /boot), iproute2 (ip
# and tc, for --shaping netns) and openssh-server (sshd, for the remote-hosts
# tests). Source it or run
# it from .ci/run before the lab's tests and suites; it needs root (or sudo)
# and the Debian package mirror, nothing else.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need+=(linux-image-amd64)
# ip and tc, for the lab's network shaping (--shaping netns: namespaces,
# veth, tbf).
{ command -v ip && command -v tc; } >/dev/null 2>&1 || need+=(iproute2)
# sshd, for the remote-hosts tests (a throwaway sshd on loopback; no system
# service needed).
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
if [ "${#need[@]}" -gt 0 ]; then
	echo "validate/ci-install.sh: installing ${need[*]}"
	$SUDO apt-get update -q
	# initramfs-tools hooks of the kernel package are not needed by the lab
	# (it builds its own initramfs), but they are harmless.
	$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

echo "qemu: $(qemu-system-x86_64 --version | head -n 1)"
echo "kernel: $(ls /boot/vmlinuz-* | sort | tail -n 1)"
echo "iproute2: $(ip -V)"
echo "sshd: $(/usr/sbin/sshd -V 2>&1 | head -n 1 || true)"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then echo "accel: kvm"; else echo "accel: tcg (no usable /dev/kvm)"; fi
if [ -d /dev/shm ]; then echo "/dev/shm: $(df -h /dev/shm | awk 'NR==2 {print $4}') free"; fi
