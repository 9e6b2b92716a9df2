#!/usr/bin/env bash
# Makes sure the slide deck's tools are on the machine (what `make slides*` and the deck's
# browser test need), installing the missing ones from Debian's packages:
#   hugo (renders the deck), nodejs + npm (reveal.js, mermaid, the browser test),
#   chromium (headless browser), poppler-utils (pdfinfo counts the PDF's pages),
#   fonts-dejavu-core (a monospace font for the code blocks).
# Idempotent: prints nothing and changes nothing when everything is there.
set -euo pipefail
# shellcheck source=scripts/messages.sh
source "$(dirname "${BASH_SOURCE[0]}")/messages.sh"

missing=()
command -v hugo >/dev/null 2>&1 || missing+=(hugo)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdfinfo >/dev/null 2>&1 || missing+=(poppler-utils)
[[ -e /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ]] || missing+=(fonts-dejavu-core)
((${#missing[@]})) || exit 0

command -v apt-get >/dev/null 2>&1 ||
  die "the slides need: ${missing[*]}" "Install them with your package manager, then run make again."
if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  die "the slides need: ${missing[*]}" "Run as root, or: apt-get install ${missing[*]}"
fi
log "slides: installing ${missing[*]} (apt-get)…"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
