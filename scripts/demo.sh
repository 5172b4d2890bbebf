#!/usr/bin/env bash
# The README's demo: analyse → tag into a catalogue → import listening histories → taste profile →
# recommendations (cold tracks included) → discovery playlist → HTML report, all on sample_audio/.
set -euo pipefail
cd "$(dirname "$0")/.."
AT=.venv/bin/audiotaste
OUT=${OUT:-demo_out}
DB=$OUT/catalogue.sqlite
HISTORY=sample_audio/history.csv
mkdir -p "$OUT"
step() { printf '\n\033[1;36m== %s\033[0m\n' "$*"; }

step "1. Analyse one file (tempo, key, loudness, descriptors, tags; --real-world adds 50 Last.fm tags) and plot it"
$AT analyze sample_audio/the_velvet_quartet-blue_hour_walk.ogg --real-world --plot "$OUT/analysis.png"

step "2. Tag the folder into a catalogue (incremental: a second run skips unchanged files)"
$AT tag sample_audio --db "$DB" --workers 2

step "3. Import listening histories: our CSV, a Spotify extended streaming history, a ListenBrainz export"
$AT profile --events "$HISTORY" --db "$DB" --user u01 --plot "$OUT/taste_u01.png"
$AT profile --events sample_audio/spotify/u02/Streaming_History_Audio_2026.json --db "$DB" --user u02
$AT profile --events sample_audio/listenbrainz/u03.jsonl --db "$DB" --user u03

step "4. Recommendations with reasons, and the cold tracks nobody has played yet"
$AT recommend --events "$HISTORY" --db "$DB" --user u01 -n 5
$AT recommend --events "$HISTORY" --db "$DB" --user u02 -n 3 --cold-only

step "5. This week's discovery playlist"
$AT discover --events "$HISTORY" --db "$DB" --user u01 --minutes 3 --out "$OUT/week_u01.m3u8"

step "6. The HTML report"
$AT report --db "$DB" --events "$HISTORY" --out "$OUT/report"
printf '\nDone. Open %s/report/index.html in a browser (it works offline).\n' "$OUT"
