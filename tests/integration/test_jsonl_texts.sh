# A record that reaches a jsonl sink unchanged is written with the bytes it
# was read with; a record a middleware rebuilt is serialized again. Expected
# lines are written out by hand below, not produced by agora.
source "$(dirname "$0")/lib.sh"

cd "$WORKDIR"

# Number forms that a serializer would change (1.50, 1e2, -0), escapes that
# it would write differently (\u00e9, \/), inner spaces, a CRLF line end,
# surrounding blanks and a duplicate key.
printf '%s\n' \
  '{"price": 1.50, "n": 1e2, "z": -0}' \
  '  {"name":"caf\u00e9","path":"a\/b"}  ' \
  '{"k":1,"k":2}' >in.jsonl
printf '[1, 2 ,3]\r\n' >>in.jsonl
printf '{"n":"x"}\n' >>in.jsonl

# What agora must write: each line without its surrounding blanks and CR.
printf '%s\n' \
  '{"price": 1.50, "n": 1e2, "z": -0}' \
  '{"name":"caf\u00e9","path":"a\/b"}' \
  '{"k":1,"k":2}' \
  '[1, 2 ,3]' \
  '{"n":"x"}' >expected_plain.jsonl

cat >plain.toml <<'TOML'
format = "agora/v1"
[pipelines.plain]
source = { type = "jsonl", path = "in.jsonl" }
sinks = [{ type = "jsonl", path = "out/plain.jsonl" }]
TOML
status=0; "$AGORA_BIN" run --config plain.toml >/dev/null 2>&1 || status=$?
check_eq "pass-through run exits 0" 0 "$status"
if cmp -s expected_plain.jsonl out/plain.jsonl; then
  pass "pass-through keeps every byte of each record"
else
  fail "pass-through changed records: $(diff expected_plain.jsonl out/plain.jsonl | head -20)"
fi

# A filter keeps records without rebuilding them, so their text survives.
cat >filtered.toml <<'TOML'
format = "agora/v1"
[pipelines.filtered]
source = { type = "jsonl", path = "in.jsonl" }
middlewares = [{ type = "filter", expression = "price is not null" }]
sinks = [{ type = "jsonl", path = "out/filtered.jsonl" }]
TOML
status=0; "$AGORA_BIN" run --config filtered.toml >/dev/null 2>&1 || status=$?
check_eq "filtered run exits 0" 0 "$status"
check_eq "a kept record keeps its text" '{"price": 1.50, "n": 1e2, "z": -0}' \
  "$(cat out/filtered.jsonl)"

# map builds a new record, which is written in agora's compact form: 1.50
# becomes 1.5, 1e2 is a double and keeps a fraction digit (100.0), -0 is the
# integer zero, and the renamed key stays in its place.
cat >mapped.toml <<'TOML'
format = "agora/v1"
[pipelines.mapped]
source = { type = "jsonl", path = "in.jsonl" }
middlewares = [
  { type = "filter", expression = "price is not null" },
  { type = "map", rename = { price = "cost" } },
]
sinks = [{ type = "jsonl", path = "out/mapped.jsonl" }]
TOML
status=0; "$AGORA_BIN" run --config mapped.toml >/dev/null 2>&1 || status=$?
check_eq "mapped run exits 0" 0 "$status"
check_eq "a rebuilt record is serialized again" \
  '{"cost":1.5,"n":100.0,"z":0}' "$(cat out/mapped.jsonl)"

# CSV to JSONL: without middlewares the csv source renders each record's
# text itself; with a filter the sink serializes the values. Both must give
# the bytes of Python's json.dumps (compact, UTF-8 kept) over csv.DictReader.
printf 'name,note,tab\n' >rows.csv
printf 'plain,"with, comma",a\tb\n' >>rows.csv
printf 'caf\xc3\xa9,"say ""hi""",back\\slash\n' >>rows.csv
printf 'ctl\x01x,"two\nlines",\n' >>rows.csv
cat >csv_plain.toml <<'TOML'
format = "agora/v1"
[pipelines.rows]
source = { type = "csv", path = "rows.csv" }
sinks = [{ type = "jsonl", path = "out/rows_plain.jsonl" }]
TOML
cat >csv_filtered.toml <<'TOML'
format = "agora/v1"
[pipelines.rows]
source = { type = "csv", path = "rows.csv" }
middlewares = [{ type = "filter", expression = "name is not null" }]
sinks = [{ type = "jsonl", path = "out/rows_filtered.jsonl" }]
TOML
# python_jsonl FILE: the rows of FILE as Python's compact json.dumps lines.
python_jsonl() {
  python3 -c '
import csv, json, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        sys.stdout.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
' "$1"
}
python_jsonl rows.csv >expected_rows.jsonl
for variant in plain filtered; do
  status=0; "$AGORA_BIN" run --config "csv_$variant.toml" >/dev/null 2>&1 || status=$?
  check_eq "csv $variant run exits 0" 0 "$status"
  if cmp -s expected_rows.jsonl "out/rows_$variant.jsonl"; then
    pass "csv $variant output matches Python's rendering byte for byte"
  else
    fail "csv $variant output differs: $(diff expected_rows.jsonl "out/rows_$variant.jsonl" | head -10)"
  fi
done

# Generated rows around the renderer's edges: values of 0 to 40 bytes (both
# sides of 16), with quotes, backslashes, control characters and non-ASCII
# text at every position. Some rows are past 8 KiB and take the growing
# buffer instead of the batch arena. A second file has 70 columns, more
# than the key cache holds. Python's json.dumps over csv.DictReader is the
# reference, byte for byte.
python3 - <<'PY'
import csv, random
rng = random.Random(20261205)
alphabet = list("abcdefghij XYZ0123456789,.;:-_/") + ['"', "\\", "\x01", "\x1f", "\t", "é", "日本", "\U0001F600"]
def value():
    n = rng.choice([0, 1, 7, 15, 16, 17, 31, 32, 33, rng.randint(0, 40)])
    return "".join(rng.choice(alphabet) for _ in range(n))[:n]
with open("gen.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["name", "say \"hi\"", "k" * 60, "tab\there"])
    for i in range(3000):
        row = [value() for _ in range(4)]
        if i % 500 == 7:
            row[1] = "wide " * 2000
        w.writerow(row)
with open("wide.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow([f"c{i}" for i in range(70)])
    for _ in range(50):
        w.writerow([value() for _ in range(70)])
PY
for input in gen wide; do
  cat >"csv_$input.toml" <<TOML
format = "agora/v1"
[pipelines.rows]
source = { type = "csv", path = "$input.csv" }
sinks = [{ type = "jsonl", path = "out/$input.jsonl" }]
TOML
  python_jsonl "$input.csv" >"expected_$input.jsonl"
  status=0; "$AGORA_BIN" run --config "csv_$input.toml" >/dev/null 2>&1 || status=$?
  check_eq "csv $input run exits 0" 0 "$status"
  if cmp -s "expected_$input.jsonl" "out/$input.jsonl"; then
    pass "csv $input output matches Python's rendering byte for byte"
  else
    fail "csv $input output differs: $(diff "expected_$input.jsonl" "out/$input.jsonl" | head -6 | cut -c1-200)"
  fi
done

# When the sink fails, a record that was only rendered as text reaches the
# DLQ as a value parsed back from that text: the same JSON document.
if [ -w /dev/full ]; then
  cat >csv_full.toml <<'TOML'
format = "agora/v1"
[pipelines.rows]
source = { type = "csv", path = "rows.csv" }
dlq = { path = "out/full_dlq.db" }
sinks = [{ type = "jsonl", name = "full", path = "out/full.jsonl" }]
TOML
  ln -s /dev/full out/full.jsonl
  status=0; "$AGORA_BIN" run --config csv_full.toml >/dev/null 2>&1 || status=$?
  check_eq "csv run into a full disk completes with a dlq" 0 "$status"
  sqlite3 out/full_dlq.db "SELECT record FROM dlq_records ORDER BY id" >dlq_records.txt
  check_eq "every row is in the dlq as the same document" \
    "$(jq -c -S . expected_rows.jsonl)" "$(jq -c -S . dlq_records.txt)"
else
  echo "skip: /dev/full is not available"
fi

finish
