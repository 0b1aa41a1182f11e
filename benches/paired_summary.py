#!/usr/bin/env python3
"""Every paired case over RUNS report runs (issue 24, target 5): for each case,
ours ÷ its anchor in each run, quiet and beside 2 and 4 CPU-bound threads, as
the median and the spread (min–max) of the runs, kept and fresh pools, and
whether the target was met in every run. Reads `paired_run<r>.txt` and
`paired_load<L>_run<r>.txt` from the output folder; prints Markdown in
BENCHMARKS.md's format.

    python3 benches/paired_summary.py OUT RUNS
"""
import statistics
import sys

out, runs = sys.argv[1], int(sys.argv[2])

# (group, case, anchor, quiet target, busy target); a target of None: shown, not judged.
CASES = [
    ("round_trip", "ours_submit_wait", "rayon_oneshot", 0.5, 1.0),
    ("round_trip", "ours_async_run", "rayon_oneshot", 0.5, 1.0),
    ("round_trip_kept", "ours_submit_wait", "rayon_oneshot", 0.5, 1.0),
    ("round_trip_kept", "ours_async_run", "rayon_oneshot_async", 0.5, 1.0),
    ("throughput", "ours_submit", "crossbeam_pool_oneshot", 0.75, 0.75),
    ("throughput", "ours_map", "crossbeam_pool_oneshot", 0.75, 0.75),
    ("throughput", "ours_async_map", "crossbeam_pool_oneshot", 0.75, 0.75),
    ("throughput_kept", "ours_submit", "crossbeam_pool_oneshot", 0.75, 0.75),
    ("throughput_kept", "ours_map", "crossbeam_pool_oneshot", 0.75, 0.75),
    ("contention", "ours_submit", "crossbeam_pool_oneshot", 1.0, None),
    ("chunked_map", "ours_map_chunked", "rayon_par_iter", 3.0, None),
]
KEPT = {"round_trip_kept": "kept", "throughput_kept": "kept", "chunked_map": "kept"}


def read(path):
    try:
        lines = open(path)
    except FileNotFoundError:
        return {}
    return {(g, c): float(m) for g, c, m, _lo, _hi in
            (line.split()[1:] for line in lines if line.startswith("paired "))}


loads = {"quiet": "paired_run{r}.txt", "2 busy": "paired_load2_run{r}.txt",
         "4 busy": "paired_load4_run{r}.txt"}
data = {load: [read(f"{out}/{pattern.format(r=r)}") for r in range(1, runs + 1)]
        for load, pattern in loads.items()}

p = print
p(f"## Every case over {runs} report runs: median and spread")
p("")
p(f"Each cell: ours ÷ the anchor, the median of the {runs} report runs (each run's figure")
p("is itself the median of its interleaved rounds) and, in brackets, the lowest and")
p("highest of the runs. *kept*: one pool made once and kept across every round, as a")
p("service does; *fresh*: a pool built, warmed and shut down for each round. A target")
p("is met only if every run met it.")
p("")
p("| case | pools | anchor | quiet | 2 busy threads | 4 busy threads | target | met in all runs |")
p("|---|---|---|---:|---:|---:|---|:---:|")
for group, case, anchor, quiet_target, busy_target in CASES:
    cells, met = [], True
    judged = False
    for load in loads:
        ratios = [run[(group, case)] / run[(group, anchor)] for run in data[load]
                  if (group, case) in run and (group, anchor) in run and run[(group, anchor)] > 0]
        target = quiet_target if load == "quiet" else busy_target
        if not ratios:
            cells.append("")
            continue
        median = statistics.median(ratios)
        cells.append(f"**{median:.2f}** ({min(ratios):.2f}–{max(ratios):.2f})")
        if target is not None:
            judged = True
            met = met and len(ratios) == runs and max(ratios) <= target
    if not any(cells):
        continue
    target = f"≤ {quiet_target} quiet" + (f", ≤ {busy_target} busy" if busy_target else "")
    p(f"| {group.replace('_kept', '')} `{case}` | {KEPT.get(group, 'fresh')} | `{anchor}` | "
      + " | ".join(cells) + f" | {target} | {('yes' if met else '**no**') if judged else ''} |")
p("")
