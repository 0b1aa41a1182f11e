#!/usr/bin/env bash
# Regenerates BENCHMARKS.md from one fresh run of every benchmark: criterion
# (primitive), interleaved rounds (round trip, throughput, contention:
# benches/paired.rs), allocations per job,
# instructions per op under callgrind, and idle CPU. Ours and every anchor are
# measured in the same run, so the ratios compare like with like.
#
#   bash benches/report.sh            # RUNS=3 runs of the paired cases by default
#   PAIRED_ONLY=1 RUNS=2 PAIRED_ROUNDS=1 LOAD_ROUNDS=1 PAIRED_ITEMS=10000 bash benches/report.sh
#                                     # smoke check: the paired runs and their summary only
#
# Needs: cargo, valgrind (callgrind), python3. The last section (the process
# pool beside Python's) can be rerun alone: PROCESS_ONLY=1 bash benches/report.sh Run it on an otherwise idle
# machine: the round trip and throughput figures move with any other load.
set -euo pipefail
cd "$(dirname "$0")/.."

# The process pool beside Python's ProcessPoolExecutor (issue 17): run by
# itself with `PROCESS_ONLY=1 bash benches/report.sh`, which rewrites only the
# "Process pool" section at the end of BENCHMARKS.md.
process_section() {
  local out=$1
  echo "==> process pool beside Python's ProcessPoolExecutor (benches/process.rs, benches/process_pool.py)"
  : >"$out/process.txt"
  # Three runs, ours then Python's, back to back: the table gives each side's
  # median and spread, and the median of the three runs' ratios.
  for run in 1 2 3; do
    cargo bench --features process --bench process 2>/dev/null | grep '^process ' | sed "s/^/$run /" | tee -a "$out/process.txt"
    python3 benches/process_pool.py | sed "s/^/$run /" | tee -a "$out/process.txt"
  done
  python3 - "$out/process.txt" <<'PY'
import datetime, os, platform, sys

import statistics

figures = {}
for line in open(sys.argv[1]):
    run, side, case, value = line.split()
    figures.setdefault((side, case), {})[run] = float(value)
rows = [
    ("submit", "`submit` of 20,000 `pow(3, 4)`, then wait for all (µs per job)", 0.03),
    ("round_trip", "sequential round trip: `submit` + wait (µs per job)", 0.1),
    ("map_chunked", "`map` over 20,000 items, chunk size 256 (µs per item)", 0.2),
]
lines = [
    "## Process pool beside Python's `ProcessPoolExecutor`",
    "",
    "`benches/process.rs` (ours, feature `process`) and `benches/process_pool.py`",
    "(Python's `concurrent.futures.ProcessPoolExecutor(max_workers=2)`, the same",
    "`pow(3, 4)` jobs), run back to back; each figure is the median of 5 rounds after a",
    "warm-up that starts both workers; three runs, each side's median and (spread).",
    "Targets of issue 21: `submit` throughput at most 0.03 x Python's, round trip",
    "0.1 x, `map` with chunking 0.2 x; a target is met if the median ratio is.",
    "",
    f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores,"
    f" Linux {platform.release()}, Python {platform.python_version()}.",
    "",
    "| case | ours | Python | ratio | target | met |",
    "|---|---:|---:|---:|---:|:---:|",
]
def cell(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"

for case, label, target in rows:
    ours_runs, python_runs = figures[("process", case)], figures[("python", case)]
    ratios = [ours_runs[run] / python_runs[run] for run in ours_runs if run in python_runs]
    ours, python = cell(list(ours_runs.values())), cell(list(python_runs.values()))
    ratio = statistics.median(ratios)
    met = "yes" if ratio <= target else "**no**"
    lines.append(f"| {label} | {ours} | {python} | **{ratio:.3f}** ({min(ratios):.3f}–{max(ratios):.3f}) | {target} | {met} |")
lines.append("")
lines.append(open("benches/process_analysis.md").read().rstrip("\n"))
section = "\n".join(lines) + "\n"

text = open("BENCHMARKS.md").read()
marker = "## Process pool beside Python's"
if marker in text:
    text = text[: text.index(marker)]
open("BENCHMARKS.md", "w").write(text.rstrip("\n") + "\n\n" + section)
PY
}

if [[ "${PROCESS_ONLY:-}" == 1 ]]; then
  out=target/bench-report-process
  mkdir -p "$out"
  process_section "$out"
  echo "==> BENCHMARKS.md: process pool section rewritten"
  exit 0
fi

out=target/bench-report
rm -rf "$out" target/criterion
mkdir -p "$out"
started=$SECONDS

echo "==> building the benchmarks"
cargo bench --no-run 2>&1 | tail -n 1

if [[ -z "${PAIRED_ONLY:-}" ]]; then
  echo "==> criterion: primitive (ours and the anchors, same run)"
  cargo bench --bench primitive 2>&1 | tee "$out/criterion.log" |
    grep -E '^[a-z_]+/[a-z_]+|time:' || true
fi

# RUNS report runs of every paired case (issue 24: the median and the spread
# of at least three runs, not the best one), each run quiet and then beside 2
# and 4 CPU-bound threads. The sections below read run 1 (paired.txt); the
# summary (benches/paired_summary.py) reads every run.
runs=${RUNS:-3}
for run in $(seq 1 "$runs"); do
  echo "==> run $run/$runs: round trip, throughput, contention, kept pools, chunked map (benches/paired.rs)"
  cargo bench --bench paired 2>/dev/null | tee "$out/paired_run$run.txt" | grep -v '^paired '
  echo "==> run $run/$runs under load: the same cases beside 2 and 4 CPU-bound threads (PAIRED_LOAD)"
  for load in 2 4; do
    PAIRED_LOAD=$load PAIRED_ROUNDS=${LOAD_ROUNDS:-15} cargo bench --bench paired 2>/dev/null |
      tee "$out/paired_load${load}_run$run.txt" | grep -v '^paired '
  done
done
cp "$out/paired_run1.txt" "$out/paired.txt"
for load in 2 4; do cp "$out/paired_load${load}_run1.txt" "$out/paired_load$load.txt"; done
if [[ -n "${PAIRED_ONLY:-}" ]]; then
  # Smoke check of the harness: PAIRED_ONLY=1 RUNS=2 PAIRED_ROUNDS=1
  # LOAD_ROUNDS=1 PAIRED_ITEMS=10000 bash benches/report.sh prints the summary
  # and leaves BENCHMARKS.md alone.
  python3 benches/paired_summary.py "$out" "$runs"
  exit 0
fi

echo "==> allocations per job (counting global allocator)"
cargo bench --bench allocations 2>/dev/null | tee "$out/allocations.txt" | grep -v '^alloc '

echo "==> idle CPU (getrusage over idle seconds)"
cargo bench --bench idle 2>/dev/null | tee "$out/idle.txt" | grep -v '^idle '

echo "==> fan-in: as_completed over 100,000 and 1,000,000 futures (benches/fan_in.rs)"
# Every line of this bench is a `fanin` row: nothing else to show (grep -v
# would then exit 1 and end the script under pipefail).
cargo bench --bench fan_in 2>/dev/null | tee "$out/fan_in.txt" | { grep -v '^fanin ' || true; }

echo "==> instructions per op (valgrind --tool=callgrind)"
instructions_bin=$(cargo bench --no-run --bench instructions --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "instructions" and msg.get("executable"):
        print(msg["executable"])
')
few=10000
many=110000
: >"$out/instructions.txt"
for case in ours_wait oneshot_recv ours_poll oneshot_poll tokio_oneshot_poll futures_oneshot_poll; do
  for n in $few $many; do
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$case.$n" \
      "$instructions_bin" "$case" "$n" 2>/dev/null
  done
  a=$(awk '/^(summary|totals):/ {print $2; exit}' "$out/callgrind.$case.$few")
  b=$(awk '/^(summary|totals):/ {print $2; exit}' "$out/callgrind.$case.$many")
  per_op=$(awk -v a="$a" -v b="$b" -v d=$((many - few)) 'BEGIN {printf "%.1f", (b - a) / d}')
  echo "instructions $case $per_op" | tee -a "$out/instructions.txt"
done

echo "==> writing BENCHMARKS.md"
{
  echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc $(nproc)"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel $(uname -r)"
  echo "rustc $(rustc --version)"
  echo "cargo $(cargo --version)"
  echo "valgrind $(valgrind --version)"
  echo "duration $((SECONDS - started))"
} >"$out/machine.txt"

python3 - "$out" >BENCHMARKS.md <<'PY'
import json, os, sys

out = sys.argv[1]
machine = dict(line.rstrip("\n").split(" ", 1) for line in open(f"{out}/machine.txt"))

def median_ns(group, case):
    path = f"target/criterion/{group}/{case}/new/estimates.json"
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]

# (group, case) -> (median, min, max) ns per op over the interleaved rounds.
paired = {(g, c): (float(m), float(lo), float(hi))
          for g, c, m, lo, hi in (line.split()[1:] for line in open(f"{out}/paired.txt")
                                  if line.startswith("paired "))}
rounds = next(line.split()[-2] for line in open(f"{out}/paired.txt") if "rounds)" in line)

def rows(path, tag):
    return [line.split()[1:] for line in open(path) if line.startswith(tag + " ")]

allocs = {(m, c): (float(a), float(b)) for m, c, a, b in rows(f"{out}/allocations.txt", "alloc")}
instr = {c: float(n) for c, n in rows(f"{out}/instructions.txt", "instructions")}
idle = {c: (float(a), float(b)) for c, a, b in rows(f"{out}/idle.txt", "idle")}
fanin = {(c, int(n)): (float(m), float(lo), float(hi)) for c, n, m, lo, hi in rows(f"{out}/fan_in.txt", "fanin")}
loaded = {}
for load in (2, 4):
    path = f"{out}/paired_load{load}.txt"
    if os.path.exists(path):
        loaded[load] = {(g, c): float(m) for g, c, m, lo, hi in rows(path, "paired")}

NAMES = {
    "ours": "ours", "oneshot": "`oneshot`", "tokio_oneshot": "`tokio::sync::oneshot`",
    "futures_oneshot": "`futures::channel::oneshot`",
    "ours_submit_wait": "ours: `submit` + `wait`", "ours_async_run": "ours: `AsyncExecutor::run`",
    "ours_submit": "ours: `submit` + `wait`", "ours_map": "ours: `Executor::map`",
    "ours_async_map": "ours: `AsyncExecutor::map`",
    "rayon_oneshot": "rayon `spawn` + `oneshot`", "blocking_unblock": "`blocking::unblock`",
    "crossbeam_pool_oneshot": "crossbeam-channel pool + `oneshot`",
    "tokio_spawn_blocking": "tokio `spawn_blocking`",
    "ours_wait": "ours: `wait`", "oneshot_recv": "`oneshot`: `recv`",
    "ours_poll": "ours: one poll", "oneshot_poll": "`oneshot`: one poll",
    "tokio_oneshot_poll": "`tokio::sync::oneshot`: one poll",
    "futures_oneshot_poll": "`futures::channel::oneshot`: one poll",
    "crossbeam_pool": "crossbeam-channel pool", "rayon": "rayon",
}
name = lambda c: NAMES.get(c, c)

def fmt_ns(ns):
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"

lines = []
p = lines.append
targets = []  # (target, figure, met)

def ratio_table(group, ours_cases, anchors, unit="ns/op"):
    """Criterion medians, or for an interleaved group its medians with the
    range over the rounds."""
    interleaved = (group, ours_cases[0]) in paired
    if interleaved:
        values = {c: paired[(group, c)][0] for c in ours_cases + anchors}
        spread = {c: f"{fmt_ns(paired[(group, c)][1])}–{fmt_ns(paired[(group, c)][2])}"
                  for c in ours_cases + anchors}
    else:
        values = {c: median_ns(group, c) for c in ours_cases + anchors}
    extra = " | min–max" if interleaved else ""
    extra_rule = "---:|" if interleaved else ""
    p(f"| | {unit}{extra} | " + " | ".join(f"÷ {name(a)}" for a in anchors) + " |")
    p("|---|---:|" + extra_rule + "---:|" * len(anchors))
    for c in ours_cases:
        cell = f" | {spread[c]}" if interleaved else ""
        p(f"| **{name(c)}** | {fmt_ns(values[c])}{cell} | "
          + " | ".join(f"**{values[c] / values[a]:.2f}**" for a in anchors) + " |")
    for a in anchors:
        cell = f" | {spread[a]}" if interleaved else ""
        p(f"| {name(a)} | {fmt_ns(values[a])}{cell} |" + " |" * len(anchors))
    p("")
    return values

p("# Benchmarks")
p("")
p("Ours against the anchors a user would otherwise pick, all measured in **one run** on the")
p("same machine; a ratio is ours ÷ the anchor (lower is better; below 1.00 ours is faster).")
p("The targets are those of issue 8; the table of targets, and what bounds the")
p("ones missed, are at the end.")
p("")
p("Regenerate this file with one command (about a minute once built; on an idle machine):")
p("")
p("```sh")
p("bash benches/report.sh")
p("```")
p("")
p("It runs `cargo bench` for `benches/primitive.rs` (criterion, medians),")
p(f"`benches/paired.rs` (round trip, throughput and contention in {rounds} interleaved rounds:")
p("each round runs every case once, each figure is a median over the rounds, so a drift")
p("of this shared VM's speed hits ours and the anchors alike; `round_trip.rs` and")
p("`throughput.rs` run the same cases under criterion), `benches/allocations.rs` (a counting global allocator),")
p("`benches/instructions.rs` under `valgrind --tool=callgrind` and `benches/idle.rs`")
p("(`getrusage`). Every pool has 2 workers; every case makes its own pool and shuts it")
p("down (except the *pools kept* cases, and `blocking`'s global pool, capped at 2 threads")
p("with `BLOCKING_MAX_THREADS`).")
p("Jobs return a `u64`. Results of `rayon` and the crossbeam-channel pool come back")
p("through a `oneshot`; `unblock` and `spawn_blocking` are awaited with")
p("`futures::executor::block_on`.")
p("")
p("## Machine")
p("")
p(f"- date: {machine['date']}")
p(f"- CPU: {machine['cpu']}, {machine['nproc']} cores (`nproc`), Linux {machine['kernel']}")
p(f"- toolchain: {machine['rustc']}; {machine['cargo']}; {machine['valgrind']}")
p(f"- this run took {machine['duration']} s")
p("")

p("## Primitive: make a pair, send a `u64`, receive it")
p("")
p("Blocking receive (ours: `SharedFuture::wait`; `oneshot`: `Receiver::recv`):")
p("")
v = ratio_table("primitive_blocking", ["ours"], ["oneshot"])
targets.append(("primitive, blocking ≤ 1.0 × `oneshot`", f"{v['ours'] / v['oneshot']:.2f}", v["ours"] <= v["oneshot"]))
p("One poll with a no-op waker (the receiver as a `Future`):")
p("")
v = ratio_table("primitive_one_poll", ["ours"], ["oneshot", "tokio_oneshot", "futures_oneshot"])
targets.append(("primitive, one poll ≤ 1.0 × `oneshot`", f"{v['ours'] / v['oneshot']:.2f}", v["ours"] <= v["oneshot"]))

p("Instructions per op under callgrind (the difference between 110,000 and 10,000")
p("iterations, ÷ 100,000: start-up cancels out; stable on a noisy machine):")
p("")
p("| case | instructions/op | ÷ `oneshot` |")
p("|---|---:|---:|")
for c, base in [("ours_wait", "oneshot_recv"), ("oneshot_recv", None), ("ours_poll", "oneshot_poll"),
                ("oneshot_poll", None), ("tokio_oneshot_poll", "oneshot_poll"), ("futures_oneshot_poll", "oneshot_poll")]:
    r = f"{instr[c] / instr[base]:.2f}" if base else ""
    p(f"| {name(c)} | {instr[c]:.0f} | {r} |")
p("")
targets.append(("instructions, blocking ≤ `oneshot`'s", f"{instr['ours_wait']:.0f} vs {instr['oneshot_recv']:.0f}", instr["ours_wait"] <= instr["oneshot_recv"]))
targets.append(("instructions, one poll ≤ `oneshot`'s", f"{instr['ours_poll']:.0f} vs {instr['oneshot_poll']:.0f}", instr["ours_poll"] <= instr["oneshot_poll"]))

p("## Round trip: one closure to a 2-worker pool and back, sequentially")
p("")
anchors = ["rayon_oneshot", "blocking_unblock", "crossbeam_pool_oneshot", "tokio_spawn_blocking"]
v = ratio_table("round_trip", ["ours_submit_wait", "ours_async_run"], anchors)
for c in ["ours_submit_wait", "ours_async_run"]:
    r = v[c] / v["rayon_oneshot"]
    targets.append((f"round trip ({name(c)}) ≤ 0.5 × rayon + `oneshot`", f"{r:.2f}", r <= 0.5))

p("## Throughput: 200,000 jobs submitted, then all awaited")
p("")
anchors = ["crossbeam_pool_oneshot", "rayon_oneshot", "blocking_unblock", "tokio_spawn_blocking"]
v = ratio_table("throughput", ["ours_submit", "ours_map", "ours_async_map"], anchors, unit="ns/job")
for c in ["ours_submit", "ours_map", "ours_async_map"]:
    r = v[c] / v["crossbeam_pool_oneshot"]
    targets.append((f"throughput ({name(c)}) ≤ 0.75 × crossbeam-channel pool", f"{r:.2f}", r <= 0.75))

p("## Throughput, pools kept: the same, each pool made once and kept across every round")
p("")
p("A long-lived server's pool: threads started and warm (asleep, or spinning down after")
p("the last burst) when the next 200,000 jobs come. Fresh pools above, kept pools here.")
p("")
kept_anchors = ["crossbeam_pool_oneshot", "rayon_oneshot"]
v = ratio_table("throughput_kept", ["ours_submit", "ours_map"], kept_anchors, unit="ns/job")
for c in ["ours_submit", "ours_map"]:
    r = v[c] / v["crossbeam_pool_oneshot"]
    targets.append((f"throughput, pool kept ({name(c)}) ≤ 0.75 × crossbeam-channel pool", f"{r:.2f}", r <= 0.75))

p("## Contention: two threads submit 100,000 jobs each into one pool at once")
p("")
v = ratio_table("contention", ["ours_submit"], anchors, unit="ns/job")
best = min(anchors, key=lambda a: v[a])
r = v["ours_submit"] / v[best]
targets.append((f"contention ≤ 1.0 × the best anchor ({name(best)})", f"{r:.2f}", r <= 1.0))

if loaded:
    p("## Under load: 2 and 4 CPU-bound threads beside the benchmark")
    p("")
    p("The same interleaved cases with `PAIRED_LOAD=N` threads burning CPU for the whole")
    p("measurement (a busy server; on 2 cores no core is idle), medians of fewer rounds.")
    p("Ratios are ours ÷ the anchor named, measured in the same loaded run.")
    p("")
    p("| case | anchor | quiet | 2 threads | 4 threads |")
    p("|---|---|---:|---:|---:|")
    for group, case, anchor, limit in [
        ("round_trip", "ours_submit_wait", "rayon_oneshot", 1.0),
        ("round_trip", "ours_async_run", "rayon_oneshot", 1.0),
        ("throughput", "ours_submit", "crossbeam_pool_oneshot", 0.75),
        ("throughput", "ours_map", "crossbeam_pool_oneshot", 0.75),
        ("throughput", "ours_async_map", "crossbeam_pool_oneshot", 0.75),
        ("throughput_kept", "ours_submit", "crossbeam_pool_oneshot", 0.75),
        ("throughput_kept", "ours_map", "crossbeam_pool_oneshot", 0.75),
    ]:
        quiet = paired[(group, case)][0] / paired[(group, anchor)][0]
        cells = []
        for load in (2, 4):
            v = loaded.get(load, {})
            if (group, case) in v and (group, anchor) in v:
                r = v[(group, case)] / v[(group, anchor)]
                cells.append(f"**{r:.2f}**")
                kind = "throughput, pool kept" if group.endswith("_kept") else group.replace('_', ' ')
                targets.append((f"{kind} ({name(case)}) under load {load} ≤ {limit} × {name(anchor)}",
                                f"{r:.2f}", r <= limit))
            else:
                cells.append("")
        label = name(case) + (", pool kept" if group.endswith("_kept") else "")
        p(f"| {label} | {name(anchor)} | {quiet:.2f} | " + " | ".join(cells) + " |")
    p("")

p("## Allocations and bytes per job")
p("")
p("Steady state: pool threads started by a warm-up round of the same shape, then of")
p("five counted rounds the one with the fewest bytes (a queue that grows in a later")
p("round, because it happened to fill deeper than in the warm-up, is not a per-job")
p("cost); every thread's allocations count; bytes are the sizes requested.")
p("")
p("| | case | allocations/job | bytes/job |")
p("|---|---|---:|---:|")
for (mode, case), (a, b) in allocs.items():
    label = f"**{name(case)}**" if case.startswith("ours") else name(case)
    p(f"| {mode.replace('_', ' ')} | {label} | {a:.3f} | {b:.1f} |")
p("")
for mode, case in [("primitive", "ours"), ("round_trip", "ours_submit_wait"), ("bulk", "ours_submit")]:
    a = allocs[(mode, case)][0]
    targets.append((f"1 allocation per job ({mode.replace('_', ' ')}, {name(case)})", f"{a:.3f}", abs(a - 1.0) < 0.0005))
for mode, case in [("round_trip", "ours_submit_wait"), ("bulk", "ours_submit")]:
    b, ref = allocs[(mode, case)][1], allocs[(mode, "blocking_unblock")][1]
    targets.append((f"bytes per job ≤ `blocking::unblock`'s ({mode.replace('_', ' ')})", f"{b:.0f} vs {ref:.0f}", b <= ref))
p("`tests/one_allocation.rs` asserts ours: exactly one")
p("allocation per `promise()` and per submitted job in steady state.")
p("")

p("## Idle cost: 2 live workers, no work")
p("")
p("Process CPU time (user + system, `getrusage`) over the first idle second right after")
p("a burst of work (bounded spinning after work is counted), and over the next second.")
p("")
p("| pool | first idle second, ms CPU | next second, ms CPU |")
p("|---|---:|---:|")
for c, (a, b) in idle.items():
    label = f"**{name(c)}**" if c == "ours" else name(c)
    p(f"| {label} | {a:.2f} | {b:.2f} |")
p("")
targets.append(("idle: < 10 ms CPU over one idle second", f"{idle['ours'][0]:.2f} ms", idle["ours"][0] < 10.0))

p("## Fan-in: `as_completed` over many futures")
p("")
p("`benches/fan_in.rs`: n futures, each yielded once; ours is `as_completed` over")
p("`SharedFuture`s, the anchor is `oneshot` receivers in a `futures::stream::FuturesUnordered`")
p("driven by `futures::executor::block_on`. *done*: every future completed before the")
p("fan-in starts; *live*: a producer thread completes them while the consumer waits.")
p("Medians of 5 interleaved rounds, ns per future (min–max); the timer covers the fan-in")
p("and dropping what it yields, not making the pairs.")
p("")
p("| case | n | ours, ns/future | `FuturesUnordered` + `oneshot`, ns/future | ours ÷ anchor |")
p("|---|---:|---:|---:|---:|")
for kind in ["done", "live"]:
    for n in sorted({n for (_, n) in fanin}):
        o = fanin[(f"ours_as_completed_{kind}", n)]
        a = fanin[(f"futures_unordered_oneshot_{kind}", n)]
        p(f"| {kind} | {n:,} | {fmt_ns(o[0])} ({fmt_ns(o[1])}–{fmt_ns(o[2])}) "
          f"| {fmt_ns(a[0])} ({fmt_ns(a[1])}–{fmt_ns(a[2])}) | **{o[0] / a[0]:.2f}** |")
        targets.append((f"fan-in ({kind}, {n:,}) ≤ 1.0 × `FuturesUnordered` + `oneshot`",
                        f"{o[0] / a[0]:.2f}", o[0] <= a[0]))
    small, large = sorted({n for (_, n) in fanin})
    total = lambda n: fanin[(f"ours_as_completed_{kind}", n)][0] * n
    growth = total(large) / total(small)
    targets.append((f"fan-in ({kind}) linear: {large:,} cost ≤ 12 × {small:,}",
                    f"{growth:.1f} ×", growth <= 12.0))
p("")

p("## Targets")
p("")
p("| target (issue 8) | this run | met |")
p("|---|---:|:---:|")
for t, fig, met in targets:
    p(f"| {t} | {fig} | {'yes' if met else '**no**'} |")
p("")
p(open("benches/analysis.md").read().rstrip("\n"))
print("\n".join(lines))
PY

python3 benches/paired_summary.py "$out" "$runs" >>BENCHMARKS.md

process_section "$out"

echo "==> BENCHMARKS.md written ($((SECONDS - started)) s)"
