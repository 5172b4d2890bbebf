#!/usr/bin/env bash
# System packages the tests and the demo use: ffmpeg (M4A/AAC decoding, MP3 test fixtures),
# FluidSynth + MMA + a GM SoundFont (the corpus generator's tests), Chromium (the HTML report test).
# Installs what is missing when run as root; otherwise says what to install and carries on
# (the tests that need a missing tool skip with that reason).
set -u
packages=(ffmpeg fluidsynth mma fluid-soundfont-gm chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "warning: could not install ${missing[*]}; tests that need them will be skipped" >&2
else
  echo "note: missing system packages: ${missing[*]} (sudo apt-get install ${missing[*]});" \
       "tests that need them will be skipped" >&2
fi
exit 0
