#!/usr/bin/env bash
# The ordering-mutation check: is every atomic ordering in src/ stronger than
# Relaxed for a reason the loom suite can see?
#
# For each ordering argument in src/ (src/process/ excluded: loom does not build
# it) written `Ordering::Acquire`, `Ordering::Release`, `Ordering::AcqRel` or
# `Ordering::SeqCst` (both arguments of a compare_exchange / `update(success,
# failure)` are separate mutants), it makes one mutant that weakens that one
# argument to `Ordering::Relaxed`, builds the loom suite against it in release
# and runs its models until one fails. Each mutant is reported as
#
#   CAUGHT     some model failed (the first one to fail is named)
#   SURVIVED   every model passed: either a race is unmodelled (write a model,
#              through `helpers::model`, that fails on the mutant) or Relaxed is
#              right there (weaken it, with an `// ORDERING:` comment saying
#              why, or justify it with the marker below)
#   JUSTIFIED  not run: the ordering carries the marker
#   NOT BUILT  the mutant did not compile (counts as a failure of the script)
#
# The marker: a comment containing `MUTATION: relaxed would be right` (followed
# by the argument) on the ordering's own line or in the run of `//` comment
# lines right above that line, e.g.
#
#     // MUTATION: relaxed would be right: the lock taken next orders it.
#     if count.fetch_sub(1, Ordering::AcqRel) == 1 {
#
# It justifies every ordering on that line. It is for orderings kept stronger
# than needed on purpose; an ordering nothing needs should simply be Relaxed.
#
# The real tree is never modified: the tracked and untracked-but-not-ignored
# files of the worktree (uncommitted edits included) are copied to a scratch
# tree, $MUTANT_DIR/tree (default ${TMPDIR:-/tmp}/concurrent-futures-mutants),
# whose target dir ($MUTANT_DIR/target) is kept between mutants and between
# runs, so only the crate and the loom tests are rebuilt per mutant. The
# unmutated suite runs first (a failing baseline would make every mutant look
# caught); --no-baseline skips that run (the build still happens).
#
# Usage (from anywhere; nice it, the builds are long):
#
#   nice -n 10 bash loom-tests/mutate-orderings.sh                # every mutant, every model
#   nice -n 10 bash loom-tests/mutate-orderings.sh --list         # list the mutants, run nothing
#   nice -n 10 bash loom-tests/mutate-orderings.sh --only state.rs:365 shared_future::
#
#   --only PATTERN   only the mutants whose `path:line:column` contains PATTERN
#                    (repeatable: any of them)
#   --no-baseline    skip the unmutated run
#   FILTER...        only the models whose `file::name` (e.g.
#                    `shared_future::completion_vs_first_poll`) contains one
#                    of the FILTERs; default: every model
#
# Environment: MUTANT_DIR (above); MUTANT_JOBS, models run at once (default 2);
# MUTANT_TIMEOUT, seconds per model before it counts as failed (default 900);
# CARGO_BUILD_JOBS (default 1).
#
# Exits 0 iff no mutant SURVIVED and every mutant built. The report is printed
# and written to $MUTANT_DIR/report.txt.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && git rev-parse --show-toplevel)
export MUTANT_REPO=$repo
export MUTANT_DIR=${MUTANT_DIR:-${TMPDIR:-/tmp}/concurrent-futures-mutants}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

exec python3 - "$@" <<'PY'
import concurrent.futures as cf
import json
import os
import re
import shutil
import subprocess
import sys
import time

REPO = os.environ["MUTANT_REPO"]
DIR = os.environ["MUTANT_DIR"]
TREE = os.path.join(DIR, "tree")
TARGET = os.path.join(DIR, "target")
JOBS = int(os.environ.get("MUTANT_JOBS", "2"))
TIMEOUT = int(os.environ.get("MUTANT_TIMEOUT", "900"))
MARKER = "MUTATION: relaxed would be right"
ORDERING = re.compile(r"Ordering::(Acquire|Release|AcqRel|SeqCst)\b")

args = sys.argv[1:]
only, filters, list_only, baseline = [], [], False, True
while args:
    arg = args.pop(0)
    if arg == "--only":
        only.append(args.pop(0))
    elif arg == "--list":
        list_only = True
    elif arg == "--no-baseline":
        baseline = False
    elif arg in ("-h", "--help"):
        print("see the header of loom-tests/mutate-orderings.sh")
        sys.exit(0)
    else:
        filters.append(arg)


def find_mutants():
    """Every non-Relaxed ordering argument in src/ (not src/process/)."""
    mutants = []
    src = os.path.join(REPO, "src")
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if os.path.join(root, d) != os.path.join(src, "process"))
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.relpath(os.path.join(root, name), REPO)
            lines = open(os.path.join(REPO, path)).read().split("\n")
            for number, line in enumerate(lines):
                code = line.split("//", 1)[0]
                comment = line[len(code):]
                justified = MARKER in comment
                above = number - 1
                while above >= 0 and lines[above].strip().startswith("//"):
                    justified = justified or MARKER in lines[above]
                    above -= 1
                for match in ORDERING.finditer(code):
                    mutants.append({
                        "path": path,
                        "line": number + 1,
                        "column": match.start() + 1,
                        "start": match.start(),
                        "end": match.end(),
                        "ordering": match.group(1),
                        "justified": justified,
                        "text": line.strip(),
                    })
    return mutants


def where(m):
    return f"{m['path']}:{m['line']}:{m['column']}"


def copy_tree():
    """The worktree's files (tracked, and untracked but not ignored) in TREE."""
    listed = subprocess.run(
        ["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True).stdout.decode().split("\0")
    if os.path.exists(TREE):
        shutil.rmtree(TREE)
    for rel in filter(None, listed):
        source = os.path.join(REPO, rel)
        if not os.path.isfile(source):  # deleted in the worktree
            continue
        os.makedirs(os.path.dirname(os.path.join(TREE, rel)), exist_ok=True)
        shutil.copy2(source, os.path.join(TREE, rel))


def build():
    """Builds the loom suite in TREE; returns its test executables, or None."""
    env = dict(os.environ, RUSTFLAGS="--cfg loom")
    run = subprocess.run(
        ["cargo", "test", "-p", "loom-tests", "--release", "--target-dir", TARGET,
         "--no-run", "--message-format=json-render-diagnostics"],
        cwd=TREE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-4000:])
        return None
    executables = []
    for line in run.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable") \
                and message["target"]["kind"] == ["test"]:
            executables.append((message["target"]["name"], message["executable"]))
    # The cell's own models first: a mutant they catch is named by the most
    # direct model (models of the layers above run the same cell).
    return sorted(executables, key=lambda e: (e[0] != "shared_future", e[0]))


def models(executables):
    """(file::name, executable, name) of every model the filters select."""
    selected = []
    for file, exe in executables:
        listed = subprocess.run([exe, "--list", "--format", "terse"], check=True,
                                capture_output=True, text=True).stdout
        for line in listed.splitlines():
            if line.endswith(": test"):
                name = line[: -len(": test")]
                full = f"{file}::{name}"
                if not filters or any(f in full for f in filters):
                    selected.append((full, exe, name))
    return selected


def why(log):
    """The first panic message in a failed model's output, on one line."""
    lines = open(log, errors="replace").read().splitlines()
    for i, line in enumerate(lines):
        if "panicked at" in line:
            return " ".join(l.strip() for l in lines[i + 1:i + 3] if l.strip())[:200]
    return "no panic message (see " + log + ")"


def run_models(selected):
    """Runs the models, JOBS at once, until one fails. Returns (failed, seconds);
    `failed` names the first model that failed and why."""
    started = time.time()
    failed = None
    logs = os.path.join(DIR, "logs")
    os.makedirs(logs, exist_ok=True)
    with cf.ThreadPoolExecutor(JOBS) as pool:
        pending = list(selected)
        running = {}

        def launch():
            full, exe, name = pending.pop(0)
            log = os.path.join(logs, full.replace("::", "-") + ".log")
            with open(log, "w") as out:
                process = subprocess.Popen([exe, "--exact", name, "--test-threads=1"],
                                           stdout=out, stderr=subprocess.STDOUT)
            running[pool.submit(wait, process)] = (full, process, log)

        def wait(process):
            try:
                return process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return "timeout"

        while pending and len(running) < JOBS:
            launch()
        while running:
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                full, _process, log = running.pop(future)
                code = future.result()
                if code != 0 and failed is None:
                    failed = full + (" (timed out)" if code == "timeout" else ": " + why(log))
            if failed is not None:
                for _full, process, _log in running.values():
                    process.kill()
                pending.clear()
            while pending and len(running) < JOBS:
                launch()
    return failed, time.time() - started


mutants = [m for m in find_mutants() if not only or any(o in where(m) for o in only)]
if list_only:
    for m in mutants:
        flag = "JUSTIFIED " if m["justified"] else ""
        print(f"{where(m):32} {m['ordering']:8} {flag}{m['text']}")
    sys.exit(0)

os.makedirs(DIR, exist_ok=True)
copy_tree()
print(f"scratch tree {TREE}, target {TARGET}; {len(mutants)} mutants", flush=True)
executables = build()
if executables is None:
    sys.exit("the unmutated tree does not build")
selected = models(executables)
print(f"{len(selected)} models selected", flush=True)
if not selected:
    sys.exit("no model matches the filters")
if baseline:
    failed, seconds = run_models(selected)
    if failed:
        sys.exit(f"baseline: {failed} fails without any mutation; fix that first")
    print(f"baseline: every model passes ({seconds:.0f} s)", flush=True)

results = []
for m in mutants:
    label = f"{where(m)} {m['ordering']} -> Relaxed"
    if m["justified"]:
        results.append(("JUSTIFIED", label, "marker: " + m["text"]))
        print(f"JUSTIFIED  {label}", flush=True)
        continue
    path = os.path.join(TREE, m["path"])
    original = open(path).read()
    lines = original.split("\n")
    line = lines[m["line"] - 1]
    assert line[m["start"]:m["end"]] == "Ordering::" + m["ordering"]
    lines[m["line"] - 1] = line[: m["start"]] + "Ordering::Relaxed" + line[m["end"]:]
    try:
        open(path, "w").write("\n".join(lines))
        started = time.time()
        mutant_executables = build()
        if mutant_executables is None:
            verdict, by = "NOT BUILT", ""
        else:
            failed, seconds = run_models(models(mutant_executables))
            verdict = "CAUGHT" if failed else "SURVIVED"
            by = (f"by {failed}" if failed else "every selected model passed") \
                + f" ({time.time() - started:.0f} s with the build)"
    finally:
        open(path, "w").write(original)
    results.append((verdict, label, by))
    print(f"{verdict:10} {label}  {by}", flush=True)

report = "\n".join(f"{v:10} {label}  {by}" for v, label, by in results)
with open(os.path.join(DIR, "report.txt"), "w") as out:
    out.write(report + "\n")
counts = {v: sum(1 for r in results if r[0] == v) for v in ("CAUGHT", "JUSTIFIED", "SURVIVED", "NOT BUILT")}
print("\n== ordering mutants\n" + report)
print(", ".join(f"{n} {v.lower()}" for v, n in counts.items()))
if filters:
    print("(models filtered: " + " ".join(filters) + ")")
sys.exit(1 if counts["SURVIVED"] or counts["NOT BUILT"] else 0)
PY
