#!/usr/bin/env bash
# Install the istio-proxy sidecar on a CentOS 7 VM from a repository published by
# scripts/publish-yum-repo.sh, and check the result.
#
#   scripts/install-vm-sidecar.sh --repo-url URL [--version VERSION] [--key-fingerprint FPR]
#                                 [--dry-run]
#
#   --repo-url URL          where the repository is served (the publish script's --base-url)
#   --version VERSION       install this istio-proxy version (default: the newest)
#   --key-fingerprint FPR   refuse the repository key unless it has this fingerprint
#                           (otherwise it is trusted on first use, and its fingerprint printed)
#   --dry-run               print the commands instead of running them
#
# Steps: fetch RPM-GPG-KEY-proxy-rpm into /etc/pki/rpm-gpg and `rpm --import` it; write
# /etc/yum.repos.d/istio-proxy.repo (gpgcheck=1, repo_gpgcheck=1); `yum install -y istio-proxy`;
# then `rpm -V istio-proxy` (only local edits of config files are tolerated) and
# `envoy --version`.
#
# Environment, for other hosts and for tests: YUM (default yum; dnf works), YUM_OPTS (extra
# words for it), RPM (default rpm), INSTALL_ROOT (install into this root: yum --installroot,
# rpm --root), REPOS_DIR and KEY_DIR (default INSTALL_ROOT/etc/yum.repos.d and
# INSTALL_ROOT/etc/pki/rpm-gpg).
set -euo pipefail
# ${a[@]+"${a[@]}"} below: bash 4.2 (CentOS 7) calls an empty array unbound under set -u.

readonly KEY_NAME=RPM-GPG-KEY-proxy-rpm
readonly PACKAGE=istio-proxy

say() { printf 'install-vm-sidecar: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}
usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

repo_url=""
version=""
fingerprint=""
dry_run=""
need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }
while (($#)); do
	case $1 in
	--repo-url) need_value "$@"; repo_url=$2; shift 2 ;;
	--repo-url=*) repo_url=${1#*=}; shift ;;
	--version) need_value "$@"; version=$2; shift 2 ;;
	--version=*) version=${1#*=}; shift ;;
	--key-fingerprint) need_value "$@"; fingerprint=$2; shift 2 ;;
	--key-fingerprint=*) fingerprint=${1#*=}; shift ;;
	--dry-run) dry_run=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unexpected argument $1 (see --help)" ;;
	esac
done
[[ -n $repo_url ]] || die "usage: install-vm-sidecar.sh --repo-url URL"
repo_url=${repo_url%/}
fingerprint=${fingerprint// /}
fingerprint=${fingerprint^^}

root=${INSTALL_ROOT:-}
root=${root%/}
repos_dir=${REPOS_DIR:-$root/etc/yum.repos.d}
key_dir=${KEY_DIR:-$root/etc/pki/rpm-gpg}
read -r -a yum <<<"${YUM:-yum}"
read -r -a yum_opts <<<"${YUM_OPTS:-}"
read -r -a rpm <<<"${RPM:-rpm}"
root_args=()
yum_root_args=()
if [[ -n $root ]]; then
	root_args=(--root "$root")
	yum_root_args=(--installroot "$root")
fi

if [[ -z $dry_run && -z $root && $EUID -ne 0 ]]; then
	die "run as root (it installs a package and writes to /etc)"
fi

# Run a command, or print it shell-quoted with --dry-run.
run() {
	if [[ -n $dry_run ]]; then
		printf '+'
		printf ' %q' "$@"
		printf '\n'
	else
		"$@"
	fi
}
# The same, with the command's output sent to stderr (stdout carries only the result).
run_to_stderr() {
	if [[ -n $dry_run ]]; then
		run "$@"
	else
		"$@" >&2
	fi
}
# Write stdin to a file atomically, or print it with --dry-run.
write_file() {
	local path=$1
	if [[ -n $dry_run ]]; then
		printf '+ write %q:\n' "$path"
		sed 's/^/|/'
	else
		mkdir -p -- "$(dirname -- "$path")"
		cat >"$path.tmp.$$"
		chmod 0644 "$path.tmp.$$"
		mv -f -- "$path.tmp.$$" "$path"
	fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/install-vm-sidecar.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# --- the repository key --------------------------------------------------------------------------
key_url=$repo_url/$KEY_NAME
key_path=$key_dir/$KEY_NAME
if [[ -n $dry_run ]]; then
	run curl -fsSL --retry 3 -o "$key_path" "$key_url"
else
	say "fetching $key_url"
	curl -fsSL --retry 3 -o "$work/key.asc" "$key_url" || die "cannot fetch $key_url"
	grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$work/key.asc" ||
		die "$key_url is not an ASCII-armored OpenPGP public key"
	mkdir -m 0700 "$work/gnupg"
	actual=$(gpg --batch --homedir "$work/gnupg" --with-colons --with-fingerprint \
		"$work/key.asc" 2>/dev/null | awk -F: '/^fpr:/ {print $10; exit}')
	[[ -n $actual ]] || die "$key_url: cannot read the key's fingerprint"
	if [[ -n $fingerprint && $actual != "$fingerprint" ]]; then
		die "$key_url has fingerprint $actual, not the expected $fingerprint: not trusting it"
	elif [[ -z $fingerprint ]]; then
		say "trusting the repository key $actual on first use (pin it with --key-fingerprint)"
	fi
	write_file "$key_path" <"$work/key.asc"
fi
run_to_stderr "${rpm[@]}" ${root_args[@]+"${root_args[@]}"} --import "$key_path"

# --- the .repo file ------------------------------------------------------------------------------
# shellcheck disable=SC2016 # $basearch is for yum, not for us
write_file "$repos_dir/$PACKAGE.repo" <<EOF
[$PACKAGE]
name=istio-proxy (Envoy for Istio VMs) for CentOS 7 - \$basearch
baseurl=$repo_url/el7/\$basearch/
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=file://$key_path
metadata_expire=1h
EOF

# --- install ------------------------------------------------------------------------------------
target=$PACKAGE
[[ -z $version ]] || target=$PACKAGE-$version
run_to_stderr "${yum[@]}" ${yum_root_args[@]+"${yum_root_args[@]}"} ${yum_opts[@]+"${yum_opts[@]}"} -y install "$target"

# --- check -----------------------------------------------------------------------------------------
if [[ -n $dry_run ]]; then
	run "${rpm[@]}" ${root_args[@]+"${root_args[@]}"} -V "$PACKAGE"
	run "$root/usr/local/bin/envoy" --version
	exit 0
fi
installed=$("${rpm[@]}" ${root_args[@]+"${root_args[@]}"} -q "$PACKAGE")
say "installed $installed"
status=0
report=$("${rpm[@]}" ${root_args[@]+"${root_args[@]}"} -V "$PACKAGE") || status=$?
problems=$(grep -v -E '^[.?SM5DLUGTP]{9}\s+c\s' <<<"$report" || true)
if [[ -n $report ]]; then
	printf '%s\n' "$report" >&2
fi
if [[ -n $problems ]]; then
	die "rpm -V $PACKAGE found changed or missing files (see above)"
elif ((status != 0)) && [[ -z $report ]]; then
	die "rpm -V $PACKAGE failed (exit $status)"
elif [[ -n $report ]]; then
	say "only locally edited config files differ from the package (kept by the upgrade)"
fi
version_out=$("$root/usr/local/bin/envoy" --version) ||
	die "envoy --version failed: the binary does not run on this host"
grep -qi 'version' <<<"$version_out" || die "envoy --version printed no version: $version_out"
say "envoy runs: $version_out"
printf '%s\n' "$installed"
