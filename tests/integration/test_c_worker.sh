# libagora as an installed library: `cmake --install` into a temporary
# prefix, the C worker example built out of tree against it with pkg-config,
# `agora worker --module` and `import` components in pipelines.toml, and the
# installed man page. Expected records are written out by hand from the
# example's rules (id 1..N, price_cents = id * 150, price = price_cents / 100,
# tier "premium" from the threshold on).
source "$(dirname "$0")/lib.sh"

for tool in cmake make cc pkg-config jq readelf; do
  if ! command -v "$tool" >/dev/null; then
    echo "skip: $tool is not installed"
    exit 0
  fi
done
AGORA_BUILD_DIR=${AGORA_BUILD_DIR:-$AGORA_SOURCE_DIR/build}
if [ ! -f "$AGORA_BUILD_DIR/CMakeCache.txt" ]; then
  echo "skip: no configured build directory at $AGORA_BUILD_DIR (set AGORA_BUILD_DIR)"
  exit 0
fi

# A sanitized agora needs sanitized code around it: the ASan or TSan runtime
# must be the first library a program loads, and modules get the same checks.
SAN_FLAGS=""
if grep -q '^AGORA_SANITIZE:BOOL=ON' "$AGORA_BUILD_DIR/CMakeCache.txt"; then
  SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
elif grep -q '^AGORA_TSAN:BOOL=ON' "$AGORA_BUILD_DIR/CMakeCache.txt"; then
  SAN_FLAGS="-fsanitize=thread -fno-omit-frame-pointer"
fi

# ---- Install -----------------------------------------------------------------

prefix=$WORKDIR/prefix
cmake --build "$AGORA_BUILD_DIR" --target agora agora_static agora_shared >"$WORKDIR/build.log" 2>&1 ||
  { cat "$WORKDIR/build.log" >&2; fail "build the installable targets"; finish; }
if cmake --install "$AGORA_BUILD_DIR" --prefix "$prefix" >"$WORKDIR/install.log" 2>&1; then
  pass "cmake --install into a temporary prefix"
else
  cat "$WORKDIR/install.log" >&2; fail "cmake --install into a temporary prefix"; finish
fi

pcdir=$(dirname "$(find "$prefix" -name agora.pc | head -n 1)")
libdir=$(dirname "$pcdir")
agora=$prefix/bin/agora
export PKG_CONFIG_PATH=$pcdir
for f in "$agora" "$libdir/libagora.a" "$libdir/libagora.so" "$prefix/include/agora/agora.h" \
         "$prefix/include/agora/config.h" "$prefix/include/agora/runner.h" \
         "$prefix/share/man/man1/agora.1"; do
  if [ -e "$f" ]; then pass "installed ${f#"$prefix"/}"; else fail "installed ${f#"$prefix"/}"; fi
done
agora=$(launch_path "$agora")
check_eq "no internal header installed" "" "$(find "$prefix/include" -name '*_internal.h' -o -name 'toml.h')"
check_contains "libagora.so has a SONAME" "[libagora.so.0]" "$(readelf -d "$libdir/libagora.so" | grep SONAME)"
check_eq "libagora.so exports no internal function" "" \
  "$(readelf --dyn-syms -W "$libdir/libagora.so" | awk '$5 == "GLOBAL" && $7 != "UND" {print $8}' | grep -v '^agora_' | head -n 3)"
check_eq "pkg-config version" "$("$AGORA_BIN" version | cut -d' ' -f2)" "$(pkg-config --modversion agora)"
check_contains "pkg-config --cflags" "-I$prefix/include" "$(pkg-config --cflags agora)"
check_contains "pkg-config --libs" "-L$libdir -lagora" "$(pkg-config --libs agora)"
static_libs=$(pkg-config --static --libs agora)
for lib in -lmicrohttpd -lsqlite3 -lpcre2-8 -lcsv -lm -ldl; do
  check_contains "pkg-config --static --libs has $lib" " $lib " "$static_libs "
done

# The installed headers compile on their own as strict C11, and a program
# links against the installed library both ways.
cat >"$WORKDIR/hello.c" <<'C'
#include <agora/agora.h>
#include <stdio.h>
int main(void)
{
    puts(agora_err_name(AGORA_ENOTFOUND));
    return 0;
}
C
# shellcheck disable=SC2046,SC2086
if cc -std=c11 -Wall -Wextra -Wpedantic -Werror $SAN_FLAGS -o "$WORKDIR/hello" "$WORKDIR/hello.c" \
     $(pkg-config --cflags --libs agora) -Wl,-rpath,"$libdir" 2>"$WORKDIR/cc.log"; then
  check_eq "program linked with libagora.so runs" "AGORA_ENOTFOUND" "$("$WORKDIR/hello")"
else
  cat "$WORKDIR/cc.log" >&2; fail "program compiles against the installed headers"
fi
# `pkg-config --static` would also list the private dependencies of
# libmicrohttpd (gnutls and its own), whose static libraries Debian does not
# always install, so the dependencies of libagora itself are linked shared.
private_libs="$(pkg-config --libs $(pkg-config --print-requires-private agora)) $(sed -n 's/^Libs.private: //p' "$pcdir/agora.pc")"
# shellcheck disable=SC2046,SC2086
if cc -std=c11 $SAN_FLAGS -o "$WORKDIR/hello_static" "$WORKDIR/hello.c" $(pkg-config --cflags agora) \
     "$libdir/libagora.a" $private_libs 2>"$WORKDIR/cc.log"; then
  check_eq "program linked with libagora.a runs" "AGORA_ENOTFOUND" "$("$WORKDIR/hello_static")"
else
  cat "$WORKDIR/cc.log" >&2; fail "program links against libagora.a"
fi

# ---- Man page ----------------------------------------------------------------

if command -v groff >/dev/null; then
  check_eq "man page has no groff warnings" "" "$(groff -ww -man -z "$prefix/share/man/man1/agora.1" 2>&1)"
fi
if command -v man >/dev/null; then
  page=$(MANWIDTH=80 man -l "$prefix/share/man/man1/agora.1" 2>/dev/null)
  for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS ENVIRONMENT "EXIT STATUS" FILES EXAMPLES "SEE ALSO"; do
    check_contains "man page section $section" $'\n'"$section"$'\n' "$page"
  done
  check_contains "man page documents AGORA_HEALTH_AUTH_TOKEN" "AGORA_HEALTH_AUTH_TOKEN" "$page"
fi

# ---- The example, built out of tree --------------------------------------------

ex=$WORKDIR/example
mkdir -p "$ex"
if make -C "$ex" -f "$AGORA_SOURCE_DIR/examples/c_worker/Makefile" \
     CFLAGS="-O1 -g -Werror $SAN_FLAGS" LDFLAGS="$SAN_FLAGS" >"$WORKDIR/make.log" 2>&1; then
  pass "example builds with pkg-config against the installed library"
else
  cat "$WORKDIR/make.log" >&2; fail "example builds with pkg-config against the installed library"; finish
fi
check_contains "worker.so links libagora.so" "[libagora.so.0]" "$(readelf -d "$ex/worker.so" | grep NEEDED)"

expected_list=$'items\tonce\npremium_hourly\tevery 3600.0s'
check_eq "worker --module NAME --list" "$expected_list" "$(cd "$ex" && "$agora" worker --module worker --list)"
mkdir -p "$ex/pipelines"
cp "$ex/worker.so" "$ex/pipelines/worker.so"
check_eq "dotted module name" "$expected_list" "$(cd "$ex" && "$agora" worker --module pipelines.worker --list)"
check_eq "module given as a path" "$expected_list" "$("$agora" worker --module "$ex/worker.so" --list)"
check_eq "worker without flags loads ./worker.so" "$expected_list" "$(cd "$ex" && "$agora" worker --list)"
mkdir -p "$WORKDIR/toml_only"
cp "$AGORA_SOURCE_DIR/tests/fixtures/modules/bad_imports.toml" "$WORKDIR/toml_only/pipelines.toml"
sed -i 's|{ import = "IMPORT_VALUE" }|{ type = "jsonl", path = "in.jsonl" }|' "$WORKDIR/toml_only/pipelines.toml"
check_eq "worker without flags falls back to ./pipelines.toml" $'p\tonce' \
  "$(cd "$WORKDIR/toml_only" && "$agora" worker --list)"

# Run the module's pool: `items` runs once, `premium_hourly` runs at once and
# then waits an hour, so SIGTERM ends the worker.
(cd "$ex" && exec "$agora" worker --module worker 2>"$WORKDIR/worker.log") &
WORKER_PID=$!
outputs_complete() {
  [ "$(wc -l <"$ex/out/items.jsonl")" -eq 10 ] && [ "$(wc -l <"$ex/out/premium.jsonl")" -eq 4 ]
}
if wait_for 20 outputs_complete; then pass "module pipelines write their output"; else
  fail "module pipelines write their output"; cat "$WORKDIR/worker.log" >&2; fi
kill -TERM "$WORKER_PID"
wait_exit "$WORKER_PID" 20
check_eq "module worker exits 0 on SIGTERM" "0" "$EXIT_STATUS"
check_contains "module worker logs a clean shutdown" "event=worker_stopped" "$(cat "$WORKDIR/worker.log")"

check_eq "items ids" "[1,2,3,4,5,6,7,8,9,10]" "$(jq -s -c 'map(.id)' "$ex/out/items.jsonl")"
check_eq "items names" '["item-1","item-2","item-3","item-4","item-5","item-6","item-7","item-8","item-9","item-10"]' \
  "$(jq -s -c 'map(.name)' "$ex/out/items.jsonl")"
check_eq "items price_cents" "[150,300,450,600,750,900,1050,1200,1350,1500]" \
  "$(jq -s -c 'map(.price_cents)' "$ex/out/items.jsonl")"
check_eq "items price" "[1.5,3,4.5,6,7.5,9,10.5,12,13.5,15]" "$(jq -s -c 'map(.price)' "$ex/out/items.jsonl")"
check_eq "items tier" '["standard","standard","standard","standard","standard","standard","premium","premium","premium","premium"]' \
  "$(jq -s -c 'map(.tier)' "$ex/out/items.jsonl")"
check_eq "items key order" '["id","name","price_cents","price","tier"]' "$(head -n 1 "$ex/out/items.jsonl" | jq -c keys_unsorted)"
check_eq "premium filter keeps ids 7 to 10" "[7,8,9,10]" "$(jq -s -c 'map(.id)' "$ex/out/premium.jsonl")"

# ---- Module errors ----------------------------------------------------------------

fixtures=$AGORA_SOURCE_DIR/tests/fixtures/modules
for name in null_worker empty_worker; do
  # shellcheck disable=SC2046,SC2086
  cc -std=c11 -Wall -Werror -fPIC -shared $SAN_FLAGS -o "$ex/$name.so" "$fixtures/$name.c" \
    $(pkg-config --cflags --libs agora) -Wl,-rpath,"$libdir"
done
echo "not an ELF file" >"$ex/garbage.so"

# module_error NAME ARGS EXPECTED_MESSAGE: agora worker ARGS must exit 2 with
# one line on stderr that contains EXPECTED_MESSAGE.
module_error() {
  local name=$1 args=$2 expected=$3 status=0
  # shellcheck disable=SC2086
  (cd "$ex" && "$agora" worker $args) >"$WORKDIR/out.txt" 2>"$WORKDIR/err.txt" || status=$?
  check_eq "$name: exit status" "2" "$status"
  check_eq "$name: one error line" "1" "$(wc -l <"$WORKDIR/err.txt")"
  check_contains "$name: message" "$expected" "$(cat "$WORKDIR/err.txt")"
}
module_error "missing module" "--module no.such.module" "shared object './no/such/module.so' not found"
module_error "dlopen error" "--module garbage.so" "cannot load shared object './garbage.so'"
module_error "missing get_worker" "--module components.so" "has no symbol 'get_worker'"
module_error "get_worker returns NULL" "--module null_worker.so --list" "get_worker() in './null_worker.so' returned NULL"
module_error "pool without pipelines" "--module ./empty_worker.so" "returned a pool without pipelines"
module_error "bad module name" "--module pipelines..worker" "invalid module name 'pipelines..worker'"
module_error "health options with a module" "--module worker --health-port 8080" "do not apply to the module"
module_error "config and module together" "--module worker --config pipelines.toml" "exclude each other"
module_error "path without .so gets a hint" "--module ./worker" "did you mean './worker.so'?"

# ---- import in pipelines.toml ------------------------------------------------------

cp "$AGORA_SOURCE_DIR/examples/c_worker/pipelines.toml" "$ex/pipelines.toml"
# From another directory: the .so paths start at the config file's directory.
summary=$(cd / && "$agora" run --config "$ex/pipelines.toml" --json 2>"$WORKDIR/run.log") ||
  { cat "$WORKDIR/run.log" >&2; fail "agora run with imported components"; }
check_eq "import run: records written" "6" "$(jq '.records_written' <<<"$summary")"
check_eq "import run: ids" "[1,2,3,4,5,6]" "$(jq -s -c 'map(.id)' "$ex/out/imported.jsonl")"
check_eq "import run: option threshold_cents applied" \
  '["standard","standard","standard","premium","premium","premium"]' \
  "$(jq -s -c 'map(.tier)' "$ex/out/imported.jsonl")"
check_eq "import run: price" "[1.5,3,4.5,6,7.5,9]" "$(jq -s -c 'map(.price)' "$ex/out/imported.jsonl")"
check_contains "validate accepts imports" "valid, 1 pipeline" "$("$agora" validate --config "$ex/pipelines.toml")"

# import_error NAME SOURCE_TABLE EXPECTED: validate a config whose source is
# SOURCE_TABLE. The import value starts at line 4, column 21 of the fixture.
import_error() {
  local name=$1 table=$2 expected=$3 status=0
  sed "s|{ import = \"IMPORT_VALUE\" }|$table|" "$fixtures/bad_imports.toml" >"$ex/bad.toml"
  "$agora" validate --config "$ex/bad.toml" >"$WORKDIR/out.txt" 2>"$WORKDIR/err.txt" || status=$?
  check_eq "$name: exit status" "2" "$status"
  check_contains "$name: message" "$expected" "$(cat "$WORKDIR/err.txt")"
}
import_error "import file not found" '{ import = "missing.so:x" }' \
  "$ex/bad.toml:4:21: pipeline 'p': source import: shared object '$ex/missing.so' not found"
import_error "import dlopen error" '{ import = "garbage.so:x" }' \
  "$ex/bad.toml:4:21: pipeline 'p': source import: cannot load shared object '$ex/garbage.so'"
import_error "import missing symbol" '{ import = "components.so:no_such_type" }' \
  "$ex/bad.toml:4:21: pipeline 'p': source import: shared object '$ex/components.so' has no symbol 'no_such_type'"
import_error "import kind mismatch" '{ import = "components.so:example_enrich_middleware" }' \
  "$ex/bad.toml:4:21: pipeline 'p': source imports 'example_enrich_middleware' from '$ex/components.so', which is a middleware, not a source"
import_error "import without symbol" '{ import = "components.so" }' \
  "$ex/bad.toml:4:21: pipeline 'p': source import 'components.so' must be \"path/lib.so:symbol\""
import_error "import with type" '{ import = "components.so:example_counter_source", type = "jsonl" }' \
  "has both 'type' and 'import'"
import_error "imported type checks option names" '{ import = "components.so:example_counter_source", colour = 1 }' \
  "$ex/bad.toml:4:61: pipeline 'p': unknown option 'colour' for source type 'counter'; valid options are: count"
import_error "imported type checks option types" '{ import = "components.so:example_counter_source", count = "six" }' \
  "option 'count' of source type 'counter' must be an integer"
import_error "imported factory checks values" '{ import = "components.so:example_counter_source", count = -1 }' \
  "count must be 0 or more, got -1"

finish
