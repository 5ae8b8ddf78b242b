/*
 * Tests of shared object loading: --module name resolution, and the errors
 * of `import` components in pipelines.toml, each with the file:line:column
 * of the import value counted by hand from the test text. Loading real
 * component types is covered by tests/integration/test_c_worker.sh, which
 * builds them against the installed library.
 */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/config.h"
#include "config/module.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/agora-test-import.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown_dir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text)
{
    char path[160];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/*
 * Writes a config whose source is `source_table` (starting at line 4,
 * column 10) and asserts that loading fails with a message containing
 * "<path>:<position>: " and detail.
 */
static void expect_import_error(const char *source_table, const char *position,
                                const char *detail)
{
    char text[512], path[160], expected[256];
    agora_error err;

    snprintf(text, sizeof(text),
             "format = \"agora/v1\"\n"
             "\n"
             "[pipelines.p]\n"
             "source = %s\n"
             "sinks = [{ type = \"stdout\" }]\n",
             source_table);
    write_file("pipelines.toml", text);
    snprintf(path, sizeof(path), "%s/pipelines.toml", tmpdir);
    memset(&err, 0, sizeof(err));

    agora_config *cfg = agora_config_load(path, &err);
    if (cfg != NULL)
        agora_config_free(cfg);
    assert_null(cfg);
    assert_int_equal(err.code, AGORA_ECONFIG);
    snprintf(expected, sizeof(expected), "%s:%s: ", path, position);
    if (strstr(err.message, expected) == NULL || strstr(err.message, detail) == NULL)
        fail_msg("expected '%s' and '%s' in: %s", expected, detail, err.message);
}

/* ---- Module names ------------------------------------------------------- */

static void expect_resolved(const char *name, const char *path)
{
    agora_error err;
    char *resolved = config_module_resolve_name(name, &err);

    assert_non_null(resolved);
    assert_string_equal(resolved, path);
    free(resolved);
}

static void import_module_name_dotted(void **state)
{
    (void)state;
    expect_resolved("pipelines.worker", "./pipelines/worker.so");
    expect_resolved("worker", "./worker.so");
    expect_resolved("a.b_c.d-e", "./a/b_c/d-e.so");
}

static void import_module_name_path(void **state)
{
    (void)state;
    expect_resolved("worker.so", "./worker.so");
    expect_resolved("lib/worker.so", "lib/worker.so");
    expect_resolved("/opt/w/worker.so", "/opt/w/worker.so");
    expect_resolved("./build/worker", "./build/worker");
}

static void import_module_name_invalid(void **state)
{
    const char *bad[] = {"", "pipelines..worker", ".worker", "worker.", "a b"};
    agora_error err;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        char *resolved = config_module_resolve_name(bad[i], &err);
        if (resolved != NULL)
            fail_msg("'%s' resolved to '%s'", bad[i], resolved);
        assert_int_equal(err.code, AGORA_EINVAL);
    }
}

/* ---- Module loading ----------------------------------------------------- */

static void import_module_open_missing(void **state)
{
    agora_error err;
    char path[160];

    (void)state;
    snprintf(path, sizeof(path), "%s/nothing.so", tmpdir);
    memset(&err, 0, sizeof(err));
    assert_null(config_module_open(path, &err));
    assert_int_equal(err.code, AGORA_ENOTFOUND);
    assert_non_null(strstr(err.message, path));
}

static void import_module_open_not_elf(void **state)
{
    agora_error err;
    char path[160];

    (void)state;
    write_file("text.so", "not a shared object\n");
    snprintf(path, sizeof(path), "%s/text.so", tmpdir);
    memset(&err, 0, sizeof(err));
    assert_null(config_module_open(path, &err));
    assert_int_equal(err.code, AGORA_EIO);
    assert_non_null(strstr(err.message, "cannot load shared object"));
}

/* libm is a real shared object: found through the address of cos(). */
static const char *libm_path(void)
{
    static Dl_info info;
    double (*volatile fn)(double) = cos;

    if (dladdr((void *)fn, &info) == 0 || info.dli_fname == NULL ||
        info.dli_fname[0] != '/')
        return NULL;
    return info.dli_fname;
}

static void import_module_symbol_found_and_missing(void **state)
{
    const char *path = libm_path();
    agora_error err;

    (void)state;
    if (path == NULL)
        skip(); /* libm linked statically: no shared object to open */
    memset(&err, 0, sizeof(err));
    config_module *module = config_module_open(path, &err);
    assert_non_null(module);
    assert_string_equal(config_module_path(module), path);
    assert_non_null(config_module_symbol(module, "cos", &err));
    assert_null(config_module_symbol(module, "agora_no_such_symbol", &err));
    assert_int_equal(err.code, AGORA_ENOTFOUND);
    assert_non_null(strstr(err.message, "has no symbol 'agora_no_such_symbol'"));
    config_module_close(module);
    config_module_close(NULL);
}

/* ---- import in pipelines.toml ------------------------------------------- */

static void import_file_not_found(void **state)
{
    char detail[256];

    (void)state;
    snprintf(detail, sizeof(detail),
             "source import: shared object '%s/lib/none.so' not found", tmpdir);
    /* source = { import = "lib/none.so:x" }: the value starts at column 21. */
    expect_import_error("{ import = \"lib/none.so:x\" }", "4:21", detail);
}

static void import_dlopen_error(void **state)
{
    char detail[256];

    (void)state;
    write_file("text.so", "not a shared object\n");
    snprintf(detail, sizeof(detail),
             "source import: cannot load shared object '%s/text.so'", tmpdir);
    expect_import_error("{ import = \"text.so:x\" }", "4:21", detail);
}

static void import_missing_symbol(void **state)
{
    const char *path = libm_path();
    char table[256];

    (void)state;
    if (path == NULL)
        skip();
    snprintf(table, sizeof(table), "{ import = \"%s:agora_no_such_type\" }", path);
    expect_import_error(table, "4:21", "has no symbol 'agora_no_such_type'");
}

static void import_malformed_value(void **state)
{
    (void)state;
    expect_import_error("{ import = \"lib.so\" }", "4:21",
                        "must be \"path/lib.so:symbol\"");
    expect_import_error("{ import = \"lib.so:\" }", "4:21",
                        "must be \"path/lib.so:symbol\"");
    expect_import_error("{ import = \":sym\" }", "4:21",
                        "must be \"path/lib.so:symbol\"");
    expect_import_error("{ import = 3 }", "4:21", "'import' must be a string");
}

static void import_with_type(void **state)
{
    (void)state;
    /* source = { import = "x.so:y", type = "jsonl" }: type at column 31. */
    expect_import_error("{ import = \"x.so:y\", type = \"jsonl\" }", "4:31",
                        "source has both 'type' and 'import'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(import_module_name_dotted),
        cmocka_unit_test(import_module_name_path),
        cmocka_unit_test(import_module_name_invalid),
        cmocka_unit_test(import_module_open_missing),
        cmocka_unit_test(import_module_open_not_elf),
        cmocka_unit_test(import_module_symbol_found_and_missing),
        cmocka_unit_test(import_file_not_found),
        cmocka_unit_test(import_dlopen_error),
        cmocka_unit_test(import_missing_symbol),
        cmocka_unit_test(import_malformed_value),
        cmocka_unit_test(import_with_type),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
