"""Python's side of benches/process.rs: the same three cases on
concurrent.futures.ProcessPoolExecutor(max_workers=2), pow(3, 4) jobs.

Prints `python <case> <microseconds>` lines: submit (20,000 submits then a
wait, per job), round_trip (submit + result, sequentially, per job) and
map_chunked (map over 20,000 items with chunksize=256, per item); each the
median of 5 rounds after a warm-up that starts both workers.
"""

import statistics
import time
from concurrent.futures import ProcessPoolExecutor, wait

JOBS = 20_000
TRIPS = 2_000
ROUNDS = 5


def main():
    submit, round_trip, map_chunked = [], [], []
    with ProcessPoolExecutor(max_workers=2) as executor:
        wait([executor.submit(pow, 3, 4) for _ in range(64)])
        for _ in range(ROUNDS):
            started = time.perf_counter()
            futures = [executor.submit(pow, 3, 4) for _ in range(JOBS)]
            wait(futures)
            assert all(f.result() == 81 for f in futures)
            submit.append((time.perf_counter() - started) * 1e6 / JOBS)

            started = time.perf_counter()
            for _ in range(TRIPS):
                assert executor.submit(pow, 3, 4).result() == 81
            round_trip.append((time.perf_counter() - started) * 1e6 / TRIPS)

            started = time.perf_counter()
            total = sum(executor.map(pow, [3] * JOBS, [4] * JOBS, chunksize=256))
            assert total == 81 * JOBS
            map_chunked.append((time.perf_counter() - started) * 1e6 / JOBS)
    print(f"python submit {statistics.median(submit):.2f}")
    print(f"python round_trip {statistics.median(round_trip):.2f}")
    print(f"python map_chunked {statistics.median(map_chunked):.3f}")


if __name__ == "__main__":
    main()
