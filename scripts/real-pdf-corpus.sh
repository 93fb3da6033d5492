#!/usr/bin/env bash
# Builds the real-PDF benchmark corpus from Debian documentation packages:
# downloads each package (`apt-get download`, nothing is installed), unpacks it
# with `dpkg-deb -x` into a temporary directory, and copies every PDF it ships
# (gzipped ones unpacked) into DIR, named <package>__<path with / as _>.
# Prints one line per package: name, version, PDFs, MB. Licences: BENCHMARKS.md.
#
# usage: scripts/real-pdf-corpus.sh DIR      (DIR is emptied first)
# The PDFs are not committed: they are tens of MB and under their own licences.
set -euo pipefail
out=${1:?usage: scripts/real-pdf-corpus.sh DIR}

# Package and the version the benchmark was run with (Debian 12 "bookworm").
packages=(
  r-doc-pdf=4.2.2.20221110-2
  octave-doc=7.3.0-2
  gnuplot-doc=5.4.4+dfsg1-2
  asymptote-doc=2.85+ds-1
  libtasn1-doc=4.19.0-2+deb12u1
  texlive-latex-recommended-doc=2022.20230122-3
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"
cd "$work"
for spec in "${packages[@]}"; do
  name=${spec%%=*}
  # The pinned version when the archive still has it, else the current one
  # (then the printed version differs from BENCHMARKS.md's).
  apt-get download -qq "$spec" 2>/dev/null || apt-get download -qq "$name"
  deb=$(ls "$work"/"${name}"_*.deb)
  version=$(dpkg-deb -f "$deb" Version)
  mkdir -p "x/$name"
  dpkg-deb -x "$deb" "x/$name"
  count=0
  while IFS= read -r -d '' file; do
    rel=${file#x/$name/}
    target="$out/${name}__${rel//\//_}"
    case "$file" in
      *.pdf.gz) gunzip -c "$file" >"${target%.gz}" ;;
      *) cp "$file" "$target" ;;
    esac
    count=$((count + 1))
  done < <(find "x/$name" -type f \( -name '*.pdf' -o -name '*.pdf.gz' \) -print0)
  size=$(find "$out" -name "${name}__*" -printf '%s\n' | awk '{s+=$1} END {printf "%.1f", s/1048576}')
  printf '%s\t%s\t%d PDFs\t%s MB\n' "$name" "$version" "$count" "$size"
  rm -rf "x/$name" "$deb"
done
total=$(find "$out" -name '*.pdf' | wc -l)
mb=$(du -sm "$out" | cut -f1)
echo "corpus: $total PDFs, $mb MB in $out"
