#!/usr/bin/env bash
# Deletes all but the newest executable per name (name-HASH, no extension) in TARGET/debug/deps.
T=${1:?target dir}
cd "$T/debug/deps" || exit 1
find . -maxdepth 1 -type f -executable ! -name '*.*' -printf '%T@ %s %f\n' | sort -rn | awk '{n=$3; sub(/-[0-9a-f]+$/,"",n); if (seen[n]++) {print $3; freed+=$2}} END {printf "freed %.1f GB\n", freed/1e9 > "/dev/stderr"}' | xargs -r rm -f
