#!/bin/sh
# The builder image's toolchain self-check (proxy-rpm). Is everything Envoy's build and
# pilot-agent's build call on PATH, at the version they need? Prints one line per missing or wrong tool and exits 1, or one
# "toolchain ok" line and exits 0. The image build runs it as its last step, and
# `proxy-rpm image --image X` runs it in X, both through the image's entry point (devtoolset-7
# and rh-git218 enabled). POSIX sh and shell builtins only: it also runs under busybox sh.
#
# Why each tool:
# - gcc/g++ 7, binutils, libatomic (devtoolset-7), clang 9.0.0: Istio's own builder,
#   istio/istio@1.6.14:tools/packaging/rpm/Dockerfile.build. clang++ must compile against
#   devtoolset-7's libstdc++ (clang takes the newest GCC it finds; CentOS 7's own is 4.8.5).
# - cmake >= 3, ninja: envoy_cmake_external; make, autoconf, automake, libtool, m4: configure_make
#   (envoy@c4e61373:bazel/foreign_cc/BUILD, bazel/README.md).
# - python 2.7 as `python`: luajit/moonjit's build.py starts `#!/usr/bin/env python`
#   (envoy@c4e61373:bazel/foreign_cc/luajit.patch); python2: host tools run with
#   --host_force_python=PY2 (istio/proxy@1ef6cb53:envoy.bazelrc).
# - git >= 2.18 (rh-git218), patch, perl, unzip, curl, which: Istio's package list and
#   istio-proxy.spec's BuildRequires; bazel and bazelisk: .bazelversion names Bazel 2.2.0.
# - go 1.14.x: pilot-agent, as Istio 1.6's build image built it (istio/tools@1.6.14:
#   docker/build-tools/Dockerfile, golang:1.14.12; istio/istio@1.6.14:go.mod asks for 1.13).
#
# Arguments name extra tools a release line's builder variant adds (profiles/releases.toml,
# `needs`), e.g. `toolchain-check.sh python3 gn` for Istio 1.7's Envoy:
# - python3 >= 3.6: Envoy's pip3_import repositories run `python3` (CentOS 7's is 3.6).
# - gn: wee8 runs the `gn` on PATH on CentOS 7 (istio/envoy@9b1ab21d); `gn --version` must run,
#   which a gn linked against a glibc newer than 2.17 does not.
# Any other name must be an executable on PATH.

set -f
nl='
'
problems=0

missing() {
  printf 'missing %s: expected %s\n' "$1" "$2"
  problems=$((problems + 1))
}

wrong() {
  printf 'wrong %s: found %s, expected %s\n' "$1" "$2" "$3"
  problems=$((problems + 1))
}

# Is $1 an executable file in a PATH directory? Not `command -v`: builtins and busybox applets
# answer that, but make and Bazel exec programs from PATH.
on_path() {
  saved_ifs=$IFS
  IFS=:
  for dir in $PATH; do
    if [ -n "$dir" ] && [ -f "$dir/$1" ] && [ -x "$dir/$1" ]; then
      IFS=$saved_ifs
      return 0
    fi
  done
  IFS=$saved_ifs
  return 1
}

# The first line a command prints (stdout and stderr together).
first_line() {
  out=$("$@" 2>&1) || true
  printf '%s' "${out%%"$nl"*}"
}

# The word after "version" in $1, else its first word starting with a digit.
version_in() {
  after='' found=''
  for word in $1; do
    if [ -n "$after" ]; then
      found=$word
      break
    fi
    if [ "$word" = version ]; then after=1; fi
  done
  if [ -z "$found" ]; then
    for word in $1; do
      case $word in [0-9]*) found=$word; break ;; esac
    done
  fi
  printf '%s' "$found"
}

# at_least VERSION MAJOR MINOR: is VERSION at least MAJOR.MINOR?
at_least() {
  major=${1%%.*}
  case $1 in
    *.*) minor=${1#*.}; minor=${minor%%.*} ;;
    *) minor=0 ;;
  esac
  minor=${minor:-0}
  case $major$minor in ''|*[!0-9]*) return 1 ;; esac
  [ "$major" -gt "$2" ] || { [ "$major" -eq "$2" ] && [ "$minor" -ge "$3" ]; }
}

# version_at_least TOOL MAJOR MINOR EXPECTED [MISSING]: is TOOL on PATH, and does
# `TOOL --version` name at least MAJOR.MINOR? Sets $found to that version, or prints one line
# saying what is wrong (EXPECTED) or missing (MISSING, by default "TOOL EXPECTED").
version_at_least() {
  found=''
  if ! on_path "$1"; then
    missing "$1" "${5:-$1 $4}"
    return
  fi
  v=$(version_in "$(first_line "$1" --version)")
  if at_least "$v" "$2" "$3"; then
    found=$v
  else
    wrong "$1" "${v:-no version}" "$4"
  fi
}

gcc_version='' clang_version='' cmake_version='' python_version='' git_version='' go_version=''

for tool in gcc g++; do
  if ! on_path $tool; then
    missing $tool "devtoolset-7's $tool 7.x (devtoolset-7-gcc, devtoolset-7-gcc-c++)"
    continue
  fi
  v=$($tool -dumpversion 2>/dev/null) || true
  case $v in
    7|7.*) gcc_version=$v ;;
    *) wrong $tool "${v:-no version}" "7.x from devtoolset-7 (is /opt/rh/devtoolset-7/enable sourced?)" ;;
  esac
done

if [ -n "$gcc_version" ]; then
  atomic=$(gcc -print-file-name=libatomic.so 2>/dev/null) || true
  case $atomic in
    /*) [ -e "$atomic" ] || missing libatomic "devtoolset-7-libatomic-devel" ;;
    *) missing libatomic "devtoolset-7-libatomic-devel" ;;
  esac
fi

if on_path clang; then
  clang_version=$(version_in "$(first_line clang --version)")
  if [ "$clang_version" != 9.0.0 ]; then
    wrong clang "${clang_version:-no version}" "9.0.0 (LLVM 9.0.0 in /opt/llvm/bin)"
  fi
else
  missing clang "clang 9.0.0 (LLVM 9.0.0 in /opt/llvm/bin)"
fi

if on_path clang++; then
  # _GLIBCXX_RELEASE is the GCC major version of the libstdc++ in use (GCC 7 and later).
  release=$(printf '#include <cstddef>\n_GLIBCXX_RELEASE\n' | clang++ -x c++ -E -P - 2>/dev/null) || true
  release=${release##*"$nl"}
  if [ "$release" != 7 ]; then
    wrong clang++ "libstdc++ release ${release:-unknown}" "devtoolset-7's libstdc++ (release 7)"
  fi
else
  missing clang++ "clang++ 9.0.0 (LLVM 9.0.0 in /opt/llvm/bin)"
fi

version_at_least cmake 3 0 "3.x (EPEL's cmake3, linked as cmake)"
cmake_version=$found

if ! on_path ninja; then missing ninja "ninja (EPEL's ninja-build, linked as ninja)"; fi

for tool in python python2; do
  if ! on_path $tool; then
    missing $tool "Python 2.7 (CentOS 7's python)"
    continue
  fi
  v=$(version_in "$(first_line $tool --version)")
  case $v in
    2.7|2.7.*) python_version=$v ;;
    *) wrong $tool "${v:-no version}" "2.7 (CentOS 7's python)" ;;
  esac
done

version_at_least git 2 18 "2.18 or later (rh-git218, enabled by the entry point)"
git_version=$found

if on_path go; then
  # `go version go1.14.15 linux/amd64`: the word after "version", without its "go".
  v=$(version_in "$(first_line go version)")
  v=${v#go}
  case $v in
    1.14|1.14.*) go_version=$v ;;
    *) wrong go "${v:-no version}" "1.14.x (Go in /usr/local/go/bin)" ;;
  esac
else
  missing go "Go 1.14.x (/usr/local/go/bin)"
fi

for tool in make autoconf automake libtool m4 patch perl unzip curl which bazel bazelisk; do
  if ! on_path $tool; then
    case $tool in
      bazel) missing bazel "bazelisk installed as bazel (/usr/local/bin/bazel)" ;;
      bazelisk) missing bazelisk "bazelisk 1.10.1 (/usr/local/bin/bazelisk)" ;;
      *) missing $tool "$tool on PATH (yum install $tool)" ;;
    esac
  fi
done

# The extra tools; what each one reports is added to the summary line.
extras=''
for tool in "$@"; do
  case $tool in
    python3)
      version_at_least python3 3 6 "3.6 or later (CentOS 7's python3)" \
        "Python 3.6 or later (CentOS 7's python3)"
      if [ -n "$found" ]; then extras="$extras, python3 $found"; fi
      ;;
    gn)
      if on_path gn; then
        if out=$(gn --version 2>&1); then
          extras="$extras, gn ${out%%"$nl"*}"
        else
          wrong gn "\`gn --version\` failing (${out%%"$nl"*})" \
            "a gn that runs on glibc 2.17 (built from source in the image)"
        fi
      else
        missing gn "gn built for glibc 2.17 on PATH (the centos7-python3-gn image has it)"
      fi
      ;;
    *)
      if on_path "$tool"; then
        extras="$extras, $tool"
      else
        missing "$tool" "$tool on PATH"
      fi
      ;;
  esac
done

if [ "$problems" -gt 0 ]; then
  exit 1
fi
printf 'toolchain ok: gcc %s, clang %s, cmake %s, python %s, git %s, go %s%s\n' \
  "$gcc_version" "$clang_version" "$cmake_version" "$python_version" "$git_version" "$go_version" \
  "$extras"
