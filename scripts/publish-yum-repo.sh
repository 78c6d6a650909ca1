#!/usr/bin/env bash
# Publish RPMs into a yum repository that CentOS 7's yum 3.4.3 reads, atomically.
#
#   scripts/publish-yum-repo.sh REPO_DIR RPM... [--sign-key ID] [--keep N] [--base-url URL]
#
# Layout written under REPO_DIR:
#   el7/x86_64                 symlink to the current snapshot (.x86_64.XXXXXX): RPMs + repodata/
#                              (repodata/ also keeps the files the previous repomd.xml named)
#   el7/.x86_64.XXXXXX/        snapshots; a new one is built aside and swapped in by one rename
#   RPM-GPG-KEY-proxy-rpm      the public key (with --sign-key)
#   istio-proxy.repo           the yum .repo file for clients
#
# Every RPM must pass `proxy-rpm verify` (PROXY_RPM names the binary; default: proxy-rpm on
# PATH). With --sign-key, every new RPM must carry a signature by that key (checked when
# rpmkeys exists), and repodata/repomd.xml is signed (repomd.xml.asc). The passphrase, if the
# key has one and no agent holds it, is read from PROXY_RPM_SIGN_PASSPHRASE.
#
# createrepo_c comes from PATH, else from the PyPI wheel in a private virtualenv
# (PUBLISH_VENV, default ~/.cache/proxy-rpm/createrepo-c-venv).
#
# stdout: the path of the written istio-proxy.repo. Diagnostics go to stderr.
set -euo pipefail
# ${a[@]+"${a[@]}"} below: bash 4.2 (CentOS 7) calls an empty array unbound under set -u.

readonly KEY_FILE=RPM-GPG-KEY-proxy-rpm
readonly REPO_FILE=istio-proxy.repo
readonly CREATEREPO_C_WHEEL="createrepo-c==${CREATEREPO_C_VERSION:-1.2.5}"

say() { printf 'publish-yum-repo: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

repo_dir=""
rpms=()
sign_key=""
keep=""
base_url=""
need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }
while (($#)); do
	case $1 in
	--sign-key) need_value "$@"; sign_key=$2; shift 2 ;;
	--sign-key=*) sign_key=${1#*=}; shift ;;
	--keep) need_value "$@"; keep=$2; shift 2 ;;
	--keep=*) keep=${1#*=}; shift ;;
	--base-url) need_value "$@"; base_url=$2; shift 2 ;;
	--base-url=*) base_url=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*)
		if [[ -z $repo_dir ]]; then repo_dir=$1; else rpms+=("$1"); fi
		shift
		;;
	esac
done
for arg in "$@"; do
	if [[ -z $repo_dir ]]; then repo_dir=$arg; else rpms+=("$arg"); fi
done

[[ -n $repo_dir ]] || die "usage: publish-yum-repo.sh REPO_DIR RPM... [--sign-key ID] [--keep N] [--base-url URL]"
if [[ -n $keep && ! $keep =~ ^[1-9][0-9]*$ ]]; then
	die "--keep $keep: give a number of versions, 1 or more"
fi
declare -A seen=()
for rpm in ${rpms[@]+"${rpms[@]}"}; do
	[[ -f $rpm ]] || die "$rpm: no such file"
	[[ $rpm == *.rpm ]] || die "$rpm: not an .rpm file"
	name=$(basename -- "$rpm")
	[[ -z ${seen[$name]:-} ]] || die "$rpm: two RPMs named $name given"
	seen[$name]=1
done

proxy_rpm=${PROXY_RPM:-proxy-rpm}
command -v "$proxy_rpm" >/dev/null ||
	die "$proxy_rpm not found: put proxy-rpm on PATH or set PROXY_RPM (every RPM is checked with \`proxy-rpm verify\`)"

mkdir -p -- "$repo_dir/el7"
repo_dir=$(cd -- "$repo_dir" && pwd -P)
current_link=$repo_dir/el7/x86_64

# One publisher at a time; a killed one releases the lock with its file descriptor.
exec 9>"$repo_dir/.publish.lock"
flock -w "${PUBLISH_LOCK_TIMEOUT:-600}" 9 || die "another publish holds $repo_dir/.publish.lock"

work=$(mktemp -d "${TMPDIR:-/tmp}/publish-yum-repo.XXXXXX")
staging=""
published=""
cleanup() {
	rm -rf -- "$work"
	if [[ -n $staging && -z $published ]]; then
		rm -rf -- "$staging"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- every new RPM must pass `proxy-rpm verify` ---------------------------------------------
rejected=()
for rpm in ${rpms[@]+"${rpms[@]}"}; do
	say "verifying $rpm"
	if ! "$proxy_rpm" verify "$rpm" >&2; then
		rejected+=("$rpm")
	fi
done
((${#rejected[@]} == 0)) || die "proxy-rpm verify rejected: ${rejected[*]}; nothing was published"

# --- the signing key ---------------------------------------------------------------------------
key_fpr=""
gpg_passphrase_args=()
if [[ -n ${PROXY_RPM_SIGN_PASSPHRASE:-} ]]; then
	gpg_passphrase_args=(--pinentry-mode loopback --passphrase-fd 3)
fi
# An armored detached signature of $1 in $2 by the primary key ("FPR!": gpg would otherwise
# prefer a signing subkey, maybe of a kind EL7's gpg 2.0 cannot check); the passphrase goes
# through a file descriptor, never the command line.
sign_detached() {
	gpg --batch --yes ${gpg_passphrase_args[@]+"${gpg_passphrase_args[@]}"} --local-user "$key_fpr!" --armor \
		--detach-sign --output "$2" "$1" 3<<<"${PROXY_RPM_SIGN_PASSPHRASE:-}"
}
if [[ -n $sign_key ]]; then
	listing=$(gpg --batch --with-colons --list-secret-keys -- "$sign_key" 2>/dev/null) ||
		die "--sign-key $sign_key: no such secret key in gpg's keyring (GNUPGHOME=${GNUPGHOME:-~/.gnupg})"
	[[ $(grep -c '^sec:' <<<"$listing") == 1 ]] ||
		die "--sign-key $sign_key: matches more than one secret key; give its fingerprint"
	algo=$(awk -F: '/^sec:/ {print $4; exit}' <<<"$listing")
	key_fpr=$(awk -F: '/^fpr:/ {print $10; exit}' <<<"$listing")
	# 1 RSA, 17 DSA: what CentOS 7's rpm 4.11 and gpg 2.0 verify.
	[[ $algo == 1 || $algo == 17 ]] ||
		die "--sign-key $sign_key: its primary key is not RSA or DSA (algorithm $algo); CentOS 7 cannot verify EdDSA/ECDSA signatures"
	gpg --batch --armor --export -- "$key_fpr" >"$work/key.asc"
	[[ -s $work/key.asc ]] || die "--sign-key $sign_key: could not export its public key"
	# Find out now, before any work, whether gpg can sign (passphrase, agent).
	echo probe >"$work/probe"
	sign_detached "$work/probe" "$work/probe.asc" ||
		die "gpg cannot sign with $sign_key: if the key has a passphrase, put it in PROXY_RPM_SIGN_PASSPHRASE or let gpg-agent cache it"

	# A gpgcheck=1 client refuses an RPM not signed by this key: refuse it here instead.
	if command -v rpmkeys >/dev/null; then
		mkdir "$work/rpmdb"
		rpmkeys --dbpath "$work/rpmdb" --import "$work/key.asc"
		short_id=${key_fpr: -8}
		unsigned=()
		for rpm in ${rpms[@]+"${rpms[@]}"}; do
			checked=$(rpmkeys --dbpath "$work/rpmdb" -Kv -- "$rpm" 2>&1) || true
			if ! grep -qi "signature, key id ${short_id,,}: OK" <<<"$checked"; then
				unsigned+=("$rpm")
			fi
		done
		((${#unsigned[@]} == 0)) ||
			die "not signed by $sign_key: ${unsigned[*]}; sign them with \`proxy-rpm sign FILE --key SECRET.asc\`"
	else
		say "warning: rpmkeys not found: not checking that the RPMs are signed by $sign_key"
	fi
fi

# --- createrepo_c: from PATH, else the PyPI wheel in a private virtualenv ---------------------
find_createrepo() {
	if command -v createrepo_c >/dev/null; then
		command -v createrepo_c
		return
	fi
	local venv=${PUBLISH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/proxy-rpm/createrepo-c-venv}
	if [[ ! -e $venv/.complete ]]; then
		say "createrepo_c is not on PATH: installing $CREATEREPO_C_WHEEL into $venv"
		rm -rf -- "$venv"
		mkdir -p -- "$(dirname -- "$venv")"
		python3 -m venv "$venv" >&2 ||
			die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
		"$venv/bin/pip" install --quiet --disable-pip-version-check "$CREATEREPO_C_WHEEL" >&2 ||
			die "pip install $CREATEREPO_C_WHEEL failed"
		touch "$venv/.complete"
	fi
	printf '%s\n' "$venv/bin/createrepo_c"
}
createrepo=$(find_createrepo)

# --- the current snapshot, and leftovers of killed runs -----------------------------------------
current=""
if [[ -L $current_link ]]; then
	current=$(readlink -- "$current_link")
	[[ $current == /* ]] || current=$repo_dir/el7/$current
	[[ -d $current ]] || die "$current_link points to a missing $current"
elif [[ -d $current_link ]]; then
	current=$current_link # a plain directory from before: migrated below
fi
for dir in "$repo_dir"/el7/.x86_64.*; do
	[[ (-e $dir || -L $dir) && $dir != "$current" ]] || continue
	say "removing $dir, left by an interrupted publish"
	rm -rf -- "$dir"
done

# --- build the new snapshot aside ------------------------------------------------------------------
staging=$(mktemp -d "$repo_dir/el7/.x86_64.XXXXXX")
chmod 0755 "$staging"
changed=""
if [[ -n $current ]]; then
	for old in "$current"/*.rpm; do
		[[ -e $old ]] || continue
		ln -- "$old" "$staging/" 2>/dev/null || cp -p -- "$old" "$staging/"
	done
else
	changed=1
fi
for rpm in ${rpms[@]+"${rpms[@]}"}; do
	name=$(basename -- "$rpm")
	if [[ -e $staging/$name ]] && cmp -s -- "$rpm" "$staging/$name"; then
		say "$name: already published"
		continue
	fi
	rm -f -- "$staging/$name"
	cp -- "$rpm" "$staging/$name"
	chmod 0644 "$staging/$name"
	changed=1
done

# name and version-release of an RPM: from its header when rpm exists, else from the file name
# (NAME-VERSION-RELEASE.ARCH.rpm, as rpmbuild and proxy-rpm name them).
rpm_name_evr() {
	if command -v rpm >/dev/null; then
		rpm -qp --nosignature --nodigest --qf '%{NAME} %{VERSION}-%{RELEASE}\n' -- "$1" 2>/dev/null
	else
		local base=${1##*/}
		base=${base%.rpm}
		base=${base%.*}
		local release=${base##*-}
		base=${base%-*}
		printf '%s %s-%s\n' "${base%-*}" "${base##*-}" "$release"
	fi
}
if [[ -n $keep ]]; then
	for rpm in "$staging"/*.rpm; do
		[[ -e $rpm ]] || continue
		read -r name evr < <(rpm_name_evr "$rpm")
		printf '%s\t%s\t%s\n' "$name" "$evr" "${rpm##*/}"
	done >"$work/versions"
	while read -r name; do
		# newest last (sort -V), drop all but the last $keep
		while IFS=$'\t' read -r _ evr file; do
			say "--keep $keep: removing $name $evr ($file)"
			[[ -z ${seen[$file]:-} ]] ||
				say "warning: $file was given to publish but is older than the $keep kept"
			rm -f -- "${staging:?}/$file"
			changed=1
		done < <(awk -F'\t' -v n="$name" '$1 == n' "$work/versions" |
			sort -t$'\t' -k2,2V | head -n "-$keep")
	done < <(cut -f1 "$work/versions" | sort -u)
fi

signature_current() {
	[[ -n $current && -f $current/repodata/repomd.xml.asc ]] || return 1
	gpg --batch --dearmor <"$work/key.asc" >"$work/key.gpg"
	gpgv --keyring "$work/key.gpg" "$current/repodata/repomd.xml.asc" \
		"$current/repodata/repomd.xml" 2>/dev/null
}
write_key() {
	[[ -n $key_fpr ]] || return 0
	cp -- "$work/key.asc" "$repo_dir/.$KEY_FILE.tmp"
	chmod 0644 "$repo_dir/.$KEY_FILE.tmp"
	mv -f -- "$repo_dir/.$KEY_FILE.tmp" "$repo_dir/$KEY_FILE"
}
write_repo_file() {
	local url=${base_url:-file://$repo_dir}
	url=${url%/}
	local repo_gpgcheck=1 gpgkey="gpgkey=$url/$KEY_FILE"
	if [[ -z $key_fpr ]]; then
		repo_gpgcheck=0 # no --sign-key: the metadata is not signed
		[[ -f $repo_dir/$KEY_FILE ]] || gpgkey="# gpgkey: publish with --sign-key to export one"
	fi
	cat >"$repo_dir/.$REPO_FILE.tmp" <<-EOF
		[istio-proxy]
		name=istio-proxy (Envoy for Istio VMs) for CentOS 7 - \$basearch
		baseurl=$url/el7/\$basearch/
		enabled=1
		gpgcheck=1
		repo_gpgcheck=$repo_gpgcheck
		$gpgkey
		metadata_expire=1h
	EOF
	chmod 0644 "$repo_dir/.$REPO_FILE.tmp"
	mv -f -- "$repo_dir/.$REPO_FILE.tmp" "$repo_dir/$REPO_FILE"
	printf '%s\n' "$repo_dir/$REPO_FILE"
}

if [[ -z $changed && -L $current_link && -f $current/repodata/repomd.xml ]] &&
	{ [[ -z $key_fpr ]] || signature_current; }; then
	say "nothing changed: $current_link is already current"
	rm -rf -- "$staging"
	staging=""
	write_key
	write_repo_file
	exit 0
fi

# The names of the repodata/ files a repomd.xml lists, one a line: NAME of each
# <location href="repodata/NAME"/>, attributes in any order, either quote, a tag split over lines.
# Skipped: a location with xml:base (the file is elsewhere; createrepo_c's own retention skips
# those too) and any href other than repodata/ and a plain file name.
repomd_files() {
	local href name
	tr '\n\r\t' '   ' <"$1" | { grep -o '<location [^>]*>' || true; } | { grep -v 'xml:base *=' || true; } |
		sed -n -e "s/.* href *= *\"\([^\"]*\)\".*/\1/p" -e t -e "s/.* href *= *'\([^']*\)'.*/\1/p" |
		sed -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&quot;/"/g' -e "s/&apos;/'/g" -e 's/&amp;/\&/g' |
		while IFS= read -r href; do
			name=${href#repodata/}
			[[ $href == repodata/?* && $name != */* && $name != . && $name != .. ]] || continue
			printf '%s\n' "$name"
		done
}

# --- metadata: what EL7's yum 3.4.3 reads: gzip XML, sqlite databases, sha256 -------------------
# createrepo_c --update reads the old repomd.xml and the metadata it names from the output
# directory: copy just those, not the history of older generations.
if [[ -f $current/repodata/repomd.xml ]]; then
	mkdir "$staging/repodata"
	cp -p -- "$current/repodata/repomd.xml" "$staging/repodata/"
	while IFS= read -r old; do
		if [[ -f $current/repodata/$old ]]; then
			cp -p -- "$current/repodata/$old" "$staging/repodata/"
		fi
	done < <(repomd_files "$current/repodata/repomd.xml")
fi
say "running createrepo_c"
"$createrepo" --update --general-compress-type=gz --database --checksum=sha256 \
	--quiet "$staging" >&2

# repodata/ keeps exactly two generations: what the new repomd.xml names, what the previous one
# named (a client that read it just before the swap still finds those), repomd.xml, and below its
# signature and key. createrepo_c carries over every old file the old repomd.xml does not name
# (createrepo_c@332fad59231de20262f4d9f967cf59c12b234716:src/helpers.c,
# cr_old_metadata_retention), so the rest is removed here.
declare -A keep_md=([repomd.xml]=1)
new_files=0
while IFS= read -r name; do
	[[ -f $staging/repodata/$name ]] ||
		die "createrepo_c wrote a repomd.xml naming repodata/$name, which it did not write; nothing was published"
	keep_md[$name]=1
	new_files=$((new_files + 1))
done < <(repomd_files "$staging/repodata/repomd.xml")
((new_files > 0)) ||
	die "no repodata/ file found named in the repomd.xml createrepo_c wrote; nothing was published"
if [[ -f $current/repodata/repomd.xml ]]; then
	while IFS= read -r old; do
		keep_md[$old]=1
		[[ ! -e $staging/repodata/$old ]] || continue
		if [[ -f $current/repodata/$old ]]; then
			ln -- "$current/repodata/$old" "$staging/repodata/$old" 2>/dev/null ||
				cp -p -- "$current/repodata/$old" "$staging/repodata/$old"
		else
			say "warning: $current/repodata/$old, named by the previous repomd.xml, is missing"
		fi
	done < <(repomd_files "$current/repodata/repomd.xml")
fi
for path in "$staging/repodata"/* "$staging/repodata"/.[!.]* "$staging/repodata"/..?*; do
	[[ -e $path || -L $path ]] || continue
	name=${path##*/}
	[[ -n ${keep_md[$name]:-} ]] || rm -rf -- "$path"
done
if [[ -n $key_fpr ]]; then
	say "signing repodata/repomd.xml with $key_fpr"
	sign_detached "$staging/repodata/repomd.xml" "$staging/repodata/repomd.xml.asc"
	cp -- "$work/key.asc" "$staging/repodata/repomd.xml.key"
	gpg --batch --dearmor <"$work/key.asc" >"$work/key.gpg"
	gpgv --keyring "$work/key.gpg" "$staging/repodata/repomd.xml.asc" \
		"$staging/repodata/repomd.xml" 2>/dev/null ||
		die "the new repomd.xml.asc does not verify with the exported key"
fi
chmod -R a+rX "$staging"

# Test hook: stop here, with the new snapshot complete but not yet published, until a line is
# written to the fifo (or the test kills us).
if [[ -n ${PUBLISH_TEST_PAUSE_FIFO:-} ]]; then
	say "paused before publishing (PUBLISH_TEST_PAUSE_FIFO)"
	read -r _ <"$PUBLISH_TEST_PAUSE_FIFO"
fi

# --- publish: the key first (the new signature must verify once visible), then one rename -------
write_key
if [[ -d $current_link && ! -L $current_link ]]; then
	say "moving the plain directory $current_link aside (first publish with snapshots)"
	mv -- "$current_link" "$repo_dir/el7/.x86_64.previous"
	current=$repo_dir/el7/.x86_64.previous
fi
ln -s -- "${staging##*/}" "$repo_dir/el7/.x86_64.link.$$"
mv -T -- "$repo_dir/el7/.x86_64.link.$$" "$current_link"
published=1
say "published $(find "$staging" -maxdepth 1 -name '*.rpm' | wc -l) RPMs in $current_link -> ${staging##*/}"
if [[ -n $current ]]; then
	rm -rf -- "$current"
fi
write_repo_file
