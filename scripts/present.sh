#!/usr/bin/env bash
# Present a lesson with Voilà: its outputs and live widgets, without the code (a projector view).
#
#   scripts/present.sh 03                        # notebooks/03_*.ipynb: the clip explorer
#   scripts/present.sh 07                        # the budget calculator
#   scripts/present.sh notebooks/03_ppo_clip.ipynb
#   PORT=8866 HOST=0.0.0.0 scripts/present.sh 03 # serve on the classroom network
#
# Then open http://HOST:PORT/ (printed below). Voilà runs the whole notebook in a fresh kernel
# when the page is opened, so the first load takes as long as the lesson does. Ctrl+C stops it.
# Environment: PORT (8866), HOST (127.0.0.1), VOILA (the voila command; default .venv/bin/voila),
# THEME (light or dark).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ne 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi

lesson="$1"
if [[ ! -f "$lesson" && "$lesson" =~ ^[0-9]+$ ]]; then  # a lesson number: 3, 03
    matches=(notebooks/"$(printf '%02d' "$((10#$lesson))")"_*.ipynb)
    lesson="${matches[0]}"
fi
if [[ ! -f "$lesson" ]]; then
    echo "present.sh: no notebook for '$1' (try 03, 07 or a path under notebooks/)" >&2
    exit 2
fi

if [[ -z "${VOILA:-}" ]]; then
    if [[ -x .venv/bin/voila ]]; then VOILA=.venv/bin/voila; else VOILA=voila; fi
fi
PORT="${PORT:-8866}"
HOST="${HOST:-127.0.0.1}"
echo "present.sh: serving $lesson at http://$HOST:$PORT/ (Ctrl+C to stop)" >&2
exec "$VOILA" "$lesson" \
    --no-browser \
    --port="$PORT" \
    --Voila.ip="$HOST" \
    --theme="${THEME:-light}" \
    --strip_sources=True \
    --show_tracebacks=True
