#!/usr/bin/env bash
# Benchmark of `proxy-rpm package` (not a test): packages one large real x86_64 ELF with
#   proxy-rpm package (xz level 2, all cores),
#   Debian's rpmbuild with %_binary_payload w2T.xzdio and w2.xzdio (same files, no stripping),
#   xz -2 -T0 and xz -2 -T1 on the same bytes,
# interleaved over several rounds, and prints medians, ratios and peak RSS.
# Targets (2 cores): proxy-rpm <= 1.1 x `xz -2 -T0`, <= 1.0 x rpmbuild w2T.xzdio,
# peak RSS <= 150 MB and not growing with the input (compare the small-input line).
#
# Usage: scripts/bench-package.sh [ELF] [ROUNDS]
#   ELF defaults to the largest x86_64 ELF executable of 100 MB or more found in usual places.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${2:-3}
elf=${1:-}
if [ -z "$elf" ]; then
  elf=$(find /usr/bin /usr/local/bin /usr/lib /opt -xdev -type f -size +100M -perm -u+x 2>/dev/null |
    while read -r f; do
      file -b "$f" | grep -q '^ELF 64-bit LSB.*x86-64' && printf '%s %s\n' "$(stat -c %s "$f")" "$f"
    done | sort -n | tail -1 | cut -d' ' -f2-)
fi
if [ -z "$elf" ] || [ ! -f "$elf" ]; then
  echo "bench-package: no x86_64 ELF of 100 MB or more found; pass one: $0 /path/to/envoy" >&2
  exit 2
fi
for tool in rpmbuild xz /usr/bin/time file; do
  command -v "$tool" >/dev/null || { echo "bench-package: $tool is missing (scripts/test.sh installs it)" >&2; exit 2; }
done

cargo build --release --quiet
bin=$PWD/target/release/proxy-rpm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'ISTIO_BENCH=1\n' > "$work/sidecar.env"
printf '{"bench": true}\n' > "$work/bootstrap.json"
mkdir -p "$work/out"

cat > "$work/bench.spec" <<EOF
Name: istio-proxy
Version: 1.6.14
Release: 1.el7
Summary: benchmark
License: ASL 2.0
%description
benchmark
%install
mkdir -p %{buildroot}/usr/local/bin %{buildroot}/var/lib/istio/envoy
cp $elf %{buildroot}/usr/local/bin/envoy
chmod 0755 %{buildroot}/usr/local/bin/envoy
cp $work/sidecar.env %{buildroot}/var/lib/istio/envoy/sidecar.env
cp $work/bootstrap.json %{buildroot}/var/lib/istio/envoy/envoy_bootstrap_tmpl.json
%files
%dir /var/lib/istio
%dir /var/lib/istio/envoy
/usr/local/bin/envoy
%config(noreplace) /var/lib/istio/envoy/sidecar.env
/var/lib/istio/envoy/envoy_bootstrap_tmpl.json
EOF

# measure NAME COMMAND...: append "seconds kilobytes" to $work/NAME.
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time.$name" "$@" >/dev/null 2>"$work/err.$name" || {
    echo "bench-package: $name failed:" >&2; cat "$work/err.$name" >&2; exit 1; }
  cat "$work/time.$name" >> "$work/$name"
}

ours() {
  rm -f "$work"/out/*.rpm
  measure "$1" "$bin" -q package --version 1.6.14 --envoy "$2" --allow-newer-glibc \
    --sidecar-env "$work/sidecar.env" --bootstrap "$work/bootstrap.json" --out "$work/out"
}

rpmbuild_with() {
  rm -rf "$work/rpmbuild"
  measure "$1" rpmbuild -bb --quiet --define "_topdir $work/rpmbuild" \
    --define '__os_install_post %{nil}' --define 'debug_package %{nil}' \
    --define '_build_id_links none' --define "_binary_payload $2" "$work/bench.spec"
}

echo "input: $elf ($(stat -c %s "$elf") bytes), $rounds rounds, $(nproc) cores" >&2
for round in $(seq "$rounds"); do
  echo "round $round/$rounds" >&2
  ours proxy-rpm "$elf"
  rpmbuild_with rpmbuild-w2T w2T.xzdio
  rpmbuild_with rpmbuild-w2 w2.xzdio
  measure xz-T0 xz -2 -T0 -c -k "$elf"
  measure xz-T1 xz -2 -T1 -c -k "$elf"
done
small=$(command -v busybox || echo "$bin")
ours proxy-rpm-small "$small"

mb() { awk -v k="$(col "$1" 2)" 'BEGIN {printf "%.1f", k / 1024}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$2" '{print $c}' "$work/$1" | median; }

printf '\n%-18s %10s %12s\n' "tool" "median s" "peak RSS MB"
for name in proxy-rpm rpmbuild-w2T rpmbuild-w2 xz-T0 xz-T1 proxy-rpm-small; do
  printf '%-18s %10.2f %12.1f\n' "$name" "$(col "$name" 1)" "$(mb "$name")"
done
ratio() { awk -v a="$(col "$1" 1)" -v b="$(col "$2" 1)" 'BEGIN {printf "%.3f", a / b}'; }
echo
echo "proxy-rpm / xz -2 -T0        = $(ratio proxy-rpm xz-T0)   (target <= 1.1)"
echo "proxy-rpm / rpmbuild w2T     = $(ratio proxy-rpm rpmbuild-w2T)   (target <= 1.0)"
echo "proxy-rpm / rpmbuild w2      = $(ratio proxy-rpm rpmbuild-w2)"
echo "proxy-rpm / xz -2 -T1        = $(ratio proxy-rpm xz-T1)"
echo "peak RSS proxy-rpm           = $(mb proxy-rpm) MB (target <= 150; on a small input: $(mb proxy-rpm-small) MB)"
