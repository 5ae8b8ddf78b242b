# Cron schedules against croniter: `agora schedule next` must give the same
# fire times as python3-croniter (Debian package) for 2,400 generated
# expressions and start times, reject expressions that can never fire at
# once instead of hanging, and handle its options and errors.
source "$(dirname "$0")/lib.sh"

ORACLE="$AGORA_SOURCE_DIR/tests/integration/cron_oracle.py"
PYTHON=/usr/bin/python3

cd "$WORKDIR"

# --- differential test against croniter ----------------------------------
if ! "$PYTHON" -c 'import croniter' 2>/dev/null; then
  echo "skip: $PYTHON cannot import croniter (install python3-croniter); differential test not run"
else
  summary=$("$PYTHON" "$ORACLE" "$WORKDIR")
  echo "oracle classes: $summary"
  total=$(wc -l <cases.tsv)
  status=0
  timeout "$(scaled 60)" "$AGORA_BIN" schedule next --batch cases.tsv >actual.txt || status=$?
  check_eq "batch run over $total cases exits 0" 0 "$status"
  check_eq "batch run prints one line per case" "$total" "$(wc -l <actual.txt)"

  # One line per case: expression, start, expected, class, actual.
  paste cases.tsv expected.txt actual.txt |
    awk -F'\t' '{
      expected = $4; actual = $6
      ok = (expected == "error") ? (actual ~ /^error: /) : (expected == actual)
      if (!ok) {
        printf "mismatch: expression %s from %s [%s]\n  expected %s\n  actual   %s\n",
               $1, $2, $5, expected, actual
      }
    }' >mismatches.txt
  mismatches=$(grep -c '^mismatch' mismatches.txt || true)
  if [ "$mismatches" -ne 0 ]; then cat mismatches.txt >&2; fi
  check_eq "fire times agree with croniter in all $total cases" 0 "$mismatches"
fi

# --- expressions that can never fire: an error, not a hang ---------------
for expr in '0 0 30 2 *' '0 0 31 4,6,9,11 *' '0 0 31 2 mon' '0 0 30,31 feb *' \
            '* * 31 */2/1 *' '0 0 31 apr-jun/2 *'; do
  status=0
  msg=$(timeout "$(scaled 5)" "$AGORA_BIN" schedule next "$expr" --from 2026-01-01T00:00:00Z 2>&1) || status=$?
  if [ "$expr" = '* * 31 */2/1 *' ]; then
    check_eq "'$expr' (two steps) exits 2" 2 "$status"
    continue
  fi
  check_eq "'$expr' exits 2 at once" 2 "$status"
  check_contains "'$expr' says it can never fire" "can never fire" "$msg"
done

# A leap-day-only expression waits 8 years across 2100 and still returns
# its fire times.
out=$(timeout "$(scaled 5)" "$AGORA_BIN" schedule next '0 0 29 2 *' --from 2096-03-01T00:00:00Z --count 2)
check_eq "leap day only skips 2100" "2104-02-29T00:00:00Z 2108-02-29T00:00:00Z" "$(echo $out)"

# Near the end of the supported range the search stops with an error.
status=0
msg=$(timeout "$(scaled 5)" "$AGORA_BIN" schedule next '0 0 29 2 *' --from 9997-01-01T00:00:00Z 2>&1) || status=$?
check_eq "no fire time before year 10000 exits 2" 2 "$status"
check_contains "no fire time before year 10000 is explained" "no fire time" "$msg"

# --- options --------------------------------------------------------------
out=$("$AGORA_BIN" schedule next '0 */6 * * *' --from 2026-12-04T17:13:00Z)
check_eq "default count is 5" 5 "$(printf '%s\n' "$out" | wc -l)"
check_eq "first time after 17:13Z" "2026-12-04T18:00:00Z" "$(printf '%s\n' "$out" | head -1)"

# 18:13+01:00 is 17:13Z, so the next 6-hourly fire is the same 18:00Z.
out=$("$AGORA_BIN" schedule next '0 */6 * * *' --from 2026-12-04T18:13:00+01:00 --count 1)
check_eq "--from with an offset" "2026-12-04T18:00:00Z" "$out"

# Options may come before the expression.
out=$("$AGORA_BIN" schedule next --count 2 --from 2026-01-01T00:00:00Z '@daily')
check_eq "@daily with options first" "2026-01-02T00:00:00Z 2026-01-03T00:00:00Z" "$(echo $out)"

# Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z). 02:30
# does not exist, so the fixed-time job fires at the end of the gap.
out=$("$AGORA_BIN" schedule next '30 2 * * *' --from 2026-03-28T12:00:00Z --count 2 --timezone Europe/Berlin)
check_eq "Berlin spring gap fires at 01:00Z" "2026-03-29T01:00:00Z 2026-03-30T00:30:00Z" "$(echo $out)"

# America/New_York, 2026-11-01: 02:00 EDT falls back to 01:00 EST. 01:30
# occurs at 05:30Z (EDT) and 06:30Z (EST). It fires at the first only.
out=$("$AGORA_BIN" schedule next '30 1 * * *' --from 2026-10-31T12:00:00Z --count 2 --timezone America/New_York)
check_eq "New York fall overlap fires once" "2026-11-01T05:30:00Z 2026-11-02T06:30:00Z" "$(echo $out)"

status=0; "$AGORA_BIN" schedule --help >help.txt || status=$?
check_eq "schedule --help exits 0" 0 "$status"
check_contains "help names --timezone" "--timezone" "$(cat help.txt)"

status=0; msg=$("$AGORA_BIN" schedule next '0 25 * * *' 2>&1) || status=$?
check_eq "out-of-range hour exits 2" 2 "$status"
check_eq "out-of-range hour message" \
  "agora: cron expression '0 25 * * *': hour field: value 25 out of range 0-23" "$msg"

status=0; msg=$("$AGORA_BIN" schedule next '0 0 * * *' --timezone Mars/Olympus 2>&1) || status=$?
check_eq "unknown zone exits 2" 2 "$status"
check_contains "unknown zone is named" "unknown time zone 'Mars/Olympus'" "$msg"

status=0; msg=$("$AGORA_BIN" schedule next '0 0 * * *' --from 2026-02-30T00:00:00Z 2>&1) || status=$?
check_eq "invalid --from exits 2" 2 "$status"
check_contains "invalid --from is named" "'2026-02-30T00:00:00Z'" "$msg"

status=0; msg=$("$AGORA_BIN" schedule next '0 0 * * *' --from 2026-02-03T00:00:00 2>&1) || status=$?
check_eq "--from without an offset exits 2" 2 "$status"
check_contains "--from without an offset says the offset is missing" "the UTC offset is missing" "$msg"

status=0; msg=$("$AGORA_BIN" schedule next '0 0 * * *' --from 2>&1) || status=$?
check_eq "--from without a value exits 2" 2 "$status"
check_contains "--from without a value is reported by agora" "agora: option '--from' requires an argument" "$msg"

status=0; msg=$("$AGORA_BIN" schedule next '0 0 * * *' --bogus 2>&1) || status=$?
check_eq "unknown option exits 2" 2 "$status"
check_contains "unknown option is named" "agora: unknown option '--bogus'" "$msg"

status=0; msg=$("$AGORA_BIN" schedule next '0 0 * * *' --timezone ' Europe/Berlin' 2>&1) || status=$?
check_eq "time zone with a space exits 2" 2 "$status"
check_contains "time zone with a space is explained" "leading or trailing spaces" "$msg"

status=0; msg=$("$AGORA_BIN" schedule next '0 0 * * *' --count 0 2>&1) || status=$?
check_eq "--count 0 exits 2" 2 "$status"
check_contains "--count 0 is named" "'0'" "$msg"

status=0; msg=$("$AGORA_BIN" schedule next 0 0 '*' '*' '*' 2>&1) || status=$?
check_eq "unquoted expression exits 2" 2 "$status"
check_contains "unquoted expression hint" "quote the cron expression" "$msg"

status=0; msg=$("$AGORA_BIN" schedule 2>&1) || status=$?
check_eq "missing subcommand exits 2" 2 "$status"
check_eq "missing subcommand is one line" 1 "$(printf '%s\n' "$msg" | wc -l)"

finish
