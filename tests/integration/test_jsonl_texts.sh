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

finish
