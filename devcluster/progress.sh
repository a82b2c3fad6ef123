# Progress lines for devcluster's long shell steps (sourced by build.sh, not run).
# A step says what it does, how far along the whole is and what to expect, then
# prints its elapsed time at least every $JOBWARDEN_TICK_SECONDS (default 10) while
# it runs, so a slow build never looks like a hung one.

# format_elapsed SECONDS: 45s, 2m05s, 1h02m.
format_elapsed() {
  local s=$1
  if ((s < 60)); then
    printf '%ds' "$s"
  elif ((s < 3600)); then
    printf '%dm%02ds' $((s / 60)) $((s % 60))
  else
    printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60))
  fi
}

# with_ticker LABEL COMMAND...: runs COMMAND in the foreground (Ctrl-C reaches it) and,
# in the background, prints "LABEL … <elapsed>" every tick until COMMAND ends; returns
# COMMAND's status. The ticker also stops by itself if this shell dies.
with_ticker() {
  local label="$1"; shift
  local every="${JOBWARDEN_TICK_SECONDS:-10}" start=$SECONDS shell=$BASHPID
  (
    next=$every
    while kill -0 "$shell" 2>/dev/null; do
      sleep 1
      if ((SECONDS - start >= next)); then
        echo "$label … $(format_elapsed $((SECONDS - start)))"
        next=$((next + every))
      fi
    done
  ) &
  local ticker=$! status=0
  "$@" || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$status"
}
