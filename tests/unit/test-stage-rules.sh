#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The stage contract of core/stage.h that a compiler does not check: a stage file reads
# no process-wide configuration or environment (its StageContext has them), and logs its
# errors and warnings through its step or context (step_error_errno(), stage_warning()...),
# whose sink makes the first one the step's reason in the timeline: a plain log_error()
# would still compile, and the timeline would silently lose the reason.
# Usage: test-stage-rules.sh STAGES-DIR
set -u
cd "$1" || exit 1
# Every file that defines a Stage; the helpers (unit-job.c, pidfd-wait.c) log nothing.
files=$(grep -l '^const Stage stage_' ./*.c)
[ -n "$files" ] || { echo "no stage files in $1"; exit 1; }
bad=$(grep -n -E '\b(log_error|log_warning)(_errno)?\(|\bconfig_get\(|\bgetenv\(' $files)
if [ -n "$bad" ]; then
        echo "stage files must log through their step or context and read no globals:"
        echo "$bad"
        exit 1
fi
echo "ok $(echo $files | wc -w) stage files"
