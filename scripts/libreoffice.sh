#!/usr/bin/env bash
# Debian's LibreOffice Calc for the report tests: every workbook we send must open in it (headless).
set -euo pipefail
if ! command -v libreoffice >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libreoffice-calc >/dev/null
fi
