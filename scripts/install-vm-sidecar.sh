#!/usr/bin/env bash
# Install the Istio sidecar on a CentOS 7 VM from a repository published by
# scripts/publish-yum-repo.sh (istio-sidecar, which pulls its istio-proxy), give it the mesh's
# cluster.env and certificates, start it, and check the result.
#
#   scripts/install-vm-sidecar.sh --repo-url URL [--version VERSION] [--key-fingerprint FPR]
#                                 [--cluster-env FILE] [--certs DIR] [--start] [--dry-run]
#
#   --repo-url URL          where the repository is served (the publish script's --base-url)
#   --version VERSION       install this Istio version of both packages (default: the newest)
#   --key-fingerprint FPR   refuse the repository key unless it has this fingerprint
#                           (otherwise it is trusted on first use, and its fingerprint printed)
#   --cluster-env FILE      install FILE as /var/lib/istio/envoy/cluster.env (ISTIO_SERVICE_CIDR,
#                           ISTIO_INBOUND_PORTS, ISTIO_NAMESPACE…, read by istio-start.sh)
#   --certs DIR             install DIR/root-cert.pem, cert-chain.pem and key.pem into /etc/certs,
#                           owned by istio-proxy (key.pem mode 0600), for pilot-agent
#   --start                 enable istio.service and start it (restart it when files changed),
#                           then require it to be active
#   --dry-run               print the commands instead of running them
#
# Steps: check the given files (before anything is changed); fetch RPM-GPG-KEY-proxy-rpm into
# /etc/pki/rpm-gpg and `rpm --import` it; write /etc/yum.repos.d/istio-proxy.repo (gpgcheck=1,
# repo_gpgcheck=1); `yum install -y istio-proxy istio-sidecar`; write the given files (each
# through a temporary file and a rename); with --start, `systemctl enable` and `start` (or
# `restart`) istio.service; then check: `rpm -V istio-proxy istio-sidecar` (only local edits
# of config files are tolerated), `envoy --version`, `pilot-agent version`, and the unit's
# state (`systemctl is-active`; required to be active with --start). stdout: the installed
# packages, one a line.
#
# Environment, for other hosts and for tests: YUM (default yum; dnf works), YUM_OPTS (extra
# words for it), RPM (default rpm), INSTALL_ROOT (install into this root: yum --installroot,
# rpm --root, and systemctl, envoy, pilot-agent and getent run in it with chroot), REPOS_DIR
# and KEY_DIR (default INSTALL_ROOT/etc/yum.repos.d and INSTALL_ROOT/etc/pki/rpm-gpg).
set -euo pipefail
# ${a[@]+"${a[@]}"} below: bash 4.2 (CentOS 7) calls an empty array unbound under set -u.

readonly KEY_NAME=RPM-GPG-KEY-proxy-rpm
readonly REPO_ID=istio-proxy
readonly PACKAGES=(istio-proxy istio-sidecar)
readonly UNIT=istio.service
readonly USER_NAME=istio-proxy
# Where Istio 1.6 reads them: istio-start.sh sources /var/lib/istio/envoy/cluster.env and
# points pilot-agent at /etc/certs (PROV_CERT, OUTPUT_CERTS)
# (istio/istio@1.6.14:tools/packaging/common/istio-start.sh); the VM guide installs
# root-cert.pem, cert-chain.pem and key.pem there
# (istio/istio.io@01287b3b:content/en/docs/setup/install/virtual-machine/index.md).
readonly CLUSTER_ENV=/var/lib/istio/envoy/cluster.env
readonly CERTS_DIR=/etc/certs
readonly CERT_FILES=(root-cert.pem cert-chain.pem key.pem)

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
cluster_env=""
certs=""
start=""
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
	--cluster-env) need_value "$@"; cluster_env=$2; shift 2 ;;
	--cluster-env=*) cluster_env=${1#*=}; shift ;;
	--certs) need_value "$@"; certs=$2; shift 2 ;;
	--certs=*) certs=${1#*=}; shift ;;
	--start) start=1; shift ;;
	--dry-run) dry_run=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unexpected argument $1 (see --help)" ;;
	esac
done
[[ -n $repo_url ]] || die "usage: install-vm-sidecar.sh --repo-url URL (see --help)"
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
# yum 3.4.3 skips a name it cannot find and exits 0 unless told not to (dnf fails anyway).
if [[ ${yum[0]##*/} == yum ]]; then
	yum_opts+=(--setopt=skip_missing_names_on_install=0)
fi

# --- the given files, checked before anything is changed -----------------------------------
# A value of cluster.env as the shell sees it when it is a plain word: quotes removed.
env_value() {
	local value
	value=$(sed -n -E "s/^[[:space:]]*(export[[:space:]]+)?$1=//p" "$2" | tail -n 1)
	value=${value%\"}
	value=${value#\"}
	value=${value%\'}
	value=${value#\'}
	printf '%s' "$value"
}
# Formats from istio-iptables' flags, which istio-start.sh feeds from these variables: a comma
# separated list, or "*" for all (istio/istio@1.6.14:tools/istio-iptables/pkg/cmd/root.go).
check_cluster_env() {
	local file=$1 n=0 line value
	local blank='^[[:space:]]*(#.*)?$'
	local assignment='^[[:space:]]*(export[[:space:]]+)?[A-Za-z_][A-Za-z0-9_]*='
	local cidrs='^(\*|[0-9A-Fa-f.:]+/[0-9]+(,[0-9A-Fa-f.:]+/[0-9]+)*)?$'
	local ports='^(\*|[0-9]+(,[0-9]+)*)?$'
	[[ -f $file && -r $file ]] || die "--cluster-env $file: no such readable file"
	while IFS= read -r line || [[ -n $line ]]; do
		n=$((n + 1))
		[[ $line =~ $blank || $line =~ $assignment ]] ||
			die "--cluster-env $file: line $n is not NAME=VALUE: $line"
	done <"$file"
	bash -n "$file" 2>/dev/null ||
		die "--cluster-env $file: not valid shell (istio-start.sh sources it): $(bash -n "$file" 2>&1 | head -n 1)"
	if ! grep -q -E '^[[:space:]]*(export[[:space:]]+)?ISTIO_SERVICE_CIDR=' "$file"; then
		say "warning: --cluster-env $file sets no ISTIO_SERVICE_CIDR: no outbound traffic will go through the sidecar"
	fi
	# Values that expand something are left to the shell.
	value=$(env_value ISTIO_SERVICE_CIDR "$file")
	[[ $value == *'$'* || $value =~ $cidrs ]] ||
		die "--cluster-env $file: ISTIO_SERVICE_CIDR=$value is not a comma-separated list of CIDRs or * (a missing line break?)"
	value=$(env_value ISTIO_INBOUND_PORTS "$file")
	[[ $value == *'$'* || $value =~ $ports ]] ||
		die "--cluster-env $file: ISTIO_INBOUND_PORTS=$value is not a comma-separated list of ports or *"
}
check_certs() {
	local dir=$1 name
	[[ -d $dir ]] || die "--certs $dir: no such directory (it must hold ${CERT_FILES[*]})"
	for name in "${CERT_FILES[@]}"; do
		[[ -f $dir/$name && -r $dir/$name ]] ||
			die "--certs $dir: $name is missing (copy it from the mesh's VM files, as the Istio 1.6 VM guide says)"
	done
	grep -q -- '^-----BEGIN CERTIFICATE-----' "$dir/root-cert.pem" ||
		die "--certs $dir: root-cert.pem holds no PEM certificate"
	grep -q -- '^-----BEGIN CERTIFICATE-----' "$dir/cert-chain.pem" ||
		die "--certs $dir: cert-chain.pem holds no PEM certificate"
	grep -q -E -- '^-----BEGIN (RSA |EC )?PRIVATE KEY-----' "$dir/key.pem" ||
		die "--certs $dir: key.pem holds no unencrypted PEM private key"
	if ! command -v openssl >/dev/null; then
		say "warning: openssl not found: not checking that key.pem matches cert-chain.pem"
		return 0
	fi
	local cert_pub key_pub
	cert_pub=$(openssl x509 -noout -pubkey -in "$dir/cert-chain.pem" 2>/dev/null) ||
		die "--certs $dir: openssl cannot read cert-chain.pem"
	key_pub=$(openssl pkey -pubout -in "$dir/key.pem" 2>/dev/null) ||
		die "--certs $dir: openssl cannot read key.pem"
	[[ $cert_pub == "$key_pub" ]] ||
		die "--certs $dir: key.pem is not the key of cert-chain.pem's first certificate: give the pair the mesh issued together"
	openssl x509 -noout -checkend 0 -in "$dir/cert-chain.pem" >/dev/null ||
		die "--certs $dir: cert-chain.pem has expired: issue a new one"
}
if [[ -n $cluster_env ]]; then check_cluster_env "$cluster_env"; fi
if [[ -n $certs ]]; then check_certs "${certs%/}"; fi

if [[ -z $dry_run && -z $root && $EUID -ne 0 ]]; then
	die "run as root (it installs packages and writes to /etc)"
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
# Prefix for a program of the system being installed: in INSTALL_ROOT, run through chroot.
sys=()
[[ -z $root ]] || sys=(chroot "$root")
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
pending=()      # temporary files not yet renamed into place
pending_dest=() # and where each goes
cleanup() {
	rm -rf -- "$work"
	local tmp
	for tmp in ${pending[@]+"${pending[@]}"}; do
		rm -f -- "$tmp"
	done
}
trap cleanup EXIT

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
run_to_stderr "${rpm[@]}" ${root_args[@]+"${root_args[@]}"} --import "$key_path" ||
	die "rpm --import $key_path failed (see above)"

# --- the .repo file ------------------------------------------------------------------------------
# shellcheck disable=SC2016 # $basearch is for yum, not for us
write_file "$repos_dir/$REPO_ID.repo" <<EOF
[$REPO_ID]
name=istio-proxy (Envoy for Istio VMs) for CentOS 7 - \$basearch
baseurl=$repo_url/el7/\$basearch/
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=file://$key_path
metadata_expire=1h
EOF

# --- install: istio-sidecar requires its istio-proxy exactly; both named, so both are upgraded ---
targets=()
for package in "${PACKAGES[@]}"; do
	targets+=("$package${version:+-$version}")
done
run_to_stderr "${yum[@]}" ${yum_root_args[@]+"${yum_root_args[@]}"} ${yum_opts[@]+"${yum_opts[@]}"} \
	-y install "${targets[@]}" ||
	die "yum install ${targets[*]} failed (see above): check --repo-url and --version"
installed=()
if [[ -z $dry_run ]]; then
	for target in "${targets[@]}"; do
		nevra=$("${rpm[@]}" ${root_args[@]+"${root_args[@]}"} -q "$target" 2>/dev/null) ||
			die "$target is not installed after yum install: is it published at $repo_url? (yum does not downgrade a newer one)"
		installed+=("$nevra")
	done
fi

# --- the mesh's files: each into a temporary file beside it, renamed once all are ready ----------
changed=""
# stage SOURCE DEST MODE OWNER: prepare DEST's replacement (nothing if it is already so).
stage() {
	local source=$1 dest=$2 mode=$3 owner=$4 path=$root$2 tmp
	if [[ -n $dry_run ]]; then
		printf '+ write %q from %q (owner %s, mode %s)\n' "$dest" "$source" "$owner" "$mode"
		changed=1
		return
	fi
	[[ -d ${path%/*} ]] ||
		die "${dest%/*} does not exist: the istio-sidecar package makes it; reinstall it (yum reinstall istio-sidecar)"
	if [[ -f $path ]] && cmp -s -- "$source" "$path" &&
		[[ $(stat -c '%u:%g %a' -- "$path") == "$owner ${mode#0}" ]]; then
		say "$dest is already up to date"
		return
	fi
	# Beside DEST: the rename is atomic, and the file gets its directory's SELinux label.
	tmp=$(mktemp "${path%/*}/.${path##*/}.XXXXXX") # mode 0600 from the start
	pending+=("$tmp")
	pending_dest+=("$path")
	cat -- "$source" >"$tmp"
	chown -- "$owner" "$tmp"
	chmod -- "$mode" "$tmp"
}
commit() {
	local i
	for i in ${pending[@]+"${!pending[@]}"}; do
		mv -f -- "${pending[i]}" "${pending_dest[i]}"
		say "wrote ${pending_dest[i]#"$root"}"
		changed=1
	done
	pending=()
	pending_dest=()
}
if [[ -n $cluster_env || -n $certs ]]; then
	owner="$USER_NAME:$USER_NAME"
	if [[ -z $dry_run ]]; then
		# Numeric ids from the system being installed (INSTALL_ROOT's, not this host's).
		account=$(${sys[@]+"${sys[@]}"} getent passwd "$USER_NAME") ||
			die "no user $USER_NAME: the istio-sidecar package's %pre makes it; reinstall it (yum reinstall istio-sidecar)"
		owner=$(awk -F: '{print $3 ":" $4}' <<<"$account")
	fi
	# root's: istio-start.sh sources it as root, so istio-proxy must not be able to change it
	# (the guide's `chown -R istio-proxy /var/lib/istio/envoy` would also take istio-proxy's
	# packaged sidecar.env away from root, which `rpm -V` reports).
	if [[ -n $cluster_env ]]; then stage "$cluster_env" "$CLUSTER_ENV" 0644 0:0; fi
	# istio-proxy's: pilot-agent, running as istio-proxy, rewrites all three in place when it
	# renews them (istio/istio@1.6.14:security/pkg/nodeagent/util/util.go, OutputKeyCertToDir).
	if [[ -n $certs ]]; then
		for name in "${CERT_FILES[@]}"; do
			mode=0644
			[[ $name != key.pem ]] || mode=0600
			stage "${certs%/}/$name" "$CERTS_DIR/$name" "$mode" "$owner"
		done
	fi
	commit
fi

# --- start -----------------------------------------------------------------------------------------
if [[ -n $start ]]; then
	action=start
	[[ -z $changed ]] || action=restart # new files are read at start only
	run_to_stderr ${sys[@]+"${sys[@]}"} systemctl enable "$UNIT" ||
		die "systemctl enable $UNIT failed (see above)"
	run_to_stderr ${sys[@]+"${sys[@]}"} systemctl "$action" "$UNIT" ||
		die "systemctl $action $UNIT failed: see journalctl -u $UNIT"
fi

# --- check -----------------------------------------------------------------------------------------
if [[ -n $dry_run ]]; then
	run "${rpm[@]}" ${root_args[@]+"${root_args[@]}"} -V "${PACKAGES[@]}"
	run ${sys[@]+"${sys[@]}"} /usr/local/bin/envoy --version
	run ${sys[@]+"${sys[@]}"} /usr/local/bin/pilot-agent version
	run ${sys[@]+"${sys[@]}"} systemctl is-active "$UNIT"
	exit 0
fi
say "installed ${installed[*]}"
status=0
report=$("${rpm[@]}" ${root_args[@]+"${root_args[@]}"} -V "${PACKAGES[@]}") || status=$?
problems=$(grep -v -E '^[.?SM5DLUGTP]{9}\s+c\s' <<<"$report" || true)
if [[ -n $report ]]; then
	printf '%s\n' "$report" >&2
fi
if [[ -n $problems ]]; then
	die "rpm -V ${PACKAGES[*]} found changed or missing files (see above): reinstall with yum reinstall ${PACKAGES[*]}"
elif ((status != 0)) && [[ -z $report ]]; then
	die "rpm -V ${PACKAGES[*]} failed (exit $status)"
elif [[ -n $report ]]; then
	say "only locally edited config files differ from the packages (kept by upgrades)"
fi
# check_runs PROGRAM ARGS...: it runs and prints a version.
check_runs() {
	local out name=${1##*/}
	out=$(${sys[@]+"${sys[@]}"} "$@" 2>&1) ||
		die "$name ${*:2} failed: it does not run on this host: $(head -n 1 <<<"$out")"
	grep -qi 'version' <<<"$out" || die "$name ${*:2} printed no version: $(head -n 1 <<<"$out")"
	say "$name runs: $(head -n 1 <<<"$out")"
}
check_runs /usr/local/bin/envoy --version
check_runs /usr/local/bin/pilot-agent version
state=$(${sys[@]+"${sys[@]}"} systemctl is-active "$UNIT" 2>/dev/null) || true
state=${state:-unknown}
if [[ -n $start && $state != active ]]; then
	die "$UNIT is $state after systemctl $action: see journalctl -u $UNIT and /var/log/istio/istio.err.log"
elif [[ -n $start ]]; then
	say "$UNIT is active"
else
	say "$UNIT is $state (--start, or systemctl enable $UNIT && systemctl start $UNIT, starts it)"
fi
printf '%s\n' "${installed[@]}"
