/*
 * Runs the libFuzzer targets of fuzz/ without libFuzzer: every input under
 * fuzz/regressions/<target>/ (inputs that once crashed, leaked or hung a
 * target) and every seed under fuzz/corpus/<target>/ goes through the
 * target's entry point, so the normal and the sanitizer builds replay them.
 *
 * Each fuzz_<target>.c is included here with LLVMFuzzerTestOneInput renamed,
 * which is why those files prefix every static with their target name. A
 * target checks its own invariants and aborts on a violation, so a failing
 * input shows up as a crash of this test with the target's message on stderr.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define LLVMFuzzerTestOneInput fuzz_json_entry
#include "../../fuzz/fuzz_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_toml_entry
#include "../../fuzz/fuzz_toml.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_csv_entry
#include "../../fuzz/fuzz_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_cron_entry
#include "../../fuzz/fuzz_cron.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_expr_entry
#include "../../fuzz/fuzz_expr.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_health_entry
#include "../../fuzz/fuzz_health.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_entry)(const uint8_t *data, size_t size);

/* Reads a whole file into a heap buffer (never NULL on success, also when
 * empty). Returns NULL when it cannot be read. */
static uint8_t *read_input(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    uint8_t *data = NULL;
    long length;

    if (file == NULL)
        return NULL;
    if (fseek(file, 0, SEEK_END) != 0 || (length = ftell(file)) < 0 ||
        fseek(file, 0, SEEK_SET) != 0)
        goto cleanup;
    data = malloc((size_t)length + 1);
    if (data == NULL)
        goto cleanup;
    if (fread(data, 1, (size_t)length, file) != (size_t)length) {
        free(data);
        data = NULL;
        goto cleanup;
    }
    *size = (size_t)length;

cleanup:
    fclose(file);
    return data;
}

/*
 * Runs entry on every regular file in <source>/fuzz/<kind>/<target>.
 * Returns the number of files run, or -1 when the folder does not exist.
 */
static long run_folder(const char *source, const char *kind,
                       const char *target, fuzz_entry entry)
{
    char dir_path[4096];
    DIR *dir;
    struct dirent *item;
    long count = 0;

    snprintf(dir_path, sizeof(dir_path), "%s/fuzz/%s/%s", source, kind,
             target);
    dir = opendir(dir_path);
    if (dir == NULL)
        return -1;
    while ((item = readdir(dir)) != NULL) {
        char path[8192];
        uint8_t *data;
        size_t size = 0;

        if (item->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir_path, item->d_name);
        data = read_input(path, &size);
        if (data == NULL)
            fail_msg("cannot read fuzz input %s", path);
        /* Printed first, so a crash inside the target names its input. */
        fprintf(stderr, "fuzz input %s\n", path);
        entry(data, size);
        free(data);
        count++;
    }
    closedir(dir);
    return count;
}

static void run_target(const char *target, fuzz_entry entry)
{
    const char *source = getenv("AGORA_SOURCE_DIR");
    long seeds, regressions;

    if (source == NULL || source[0] == '\0') {
        print_message("AGORA_SOURCE_DIR is not set (run through CTest); "
                      "skipping the %s inputs\n", target);
        skip();
    }
    seeds = run_folder(source, "corpus", target, entry);
    regressions = run_folder(source, "regressions", target, entry);
    if (seeds <= 0)
        fail_msg("no seed inputs in %s/fuzz/corpus/%s", source, target);
    print_message("%s: %ld seeds, %ld regression inputs\n", target, seeds,
                  regressions < 0 ? 0 : regressions);
}

static void fuzz_json_inputs(void **state)
{
    (void)state;
    run_target("json", fuzz_json_entry);
}

static void fuzz_toml_inputs(void **state)
{
    (void)state;
    run_target("toml", fuzz_toml_entry);
}

static void fuzz_csv_inputs(void **state)
{
    (void)state;
    run_target("csv", fuzz_csv_entry);
}

static void fuzz_cron_inputs(void **state)
{
    (void)state;
    run_target("cron", fuzz_cron_entry);
}

static void fuzz_expr_inputs(void **state)
{
    (void)state;
    run_target("expr", fuzz_expr_entry);
}

static void fuzz_health_inputs(void **state)
{
    (void)state;
    run_target("health", fuzz_health_entry);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fuzz_json_inputs),
        cmocka_unit_test(fuzz_toml_inputs),
        cmocka_unit_test(fuzz_csv_inputs),
        cmocka_unit_test(fuzz_cron_inputs),
        cmocka_unit_test(fuzz_expr_inputs),
        cmocka_unit_test(fuzz_health_inputs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
