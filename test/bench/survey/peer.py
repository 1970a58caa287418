#!/usr/bin/python3
"""scikit-learn's KMeans on the benchmark's points, the peer of mekatek.kmeans.

Reads the points (one comma-separated line per point, in id order) and the
initial centroids from files written by run.sh, then fits KMeans with the
same initial centroids, n_init=1, tol and max_iter, for each algorithm asked
for.  The NumPy array is in memory before the clock starts.  Prints one line
per run: algorithm threads seconds iterations objective peak_rss_mib
cpu_seconds (all threads).
"""
import resource
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits


def load(path, d):
    with open(path) as f:
        text = f.read().replace("\n", ",")
    return np.fromstring(text, sep=",").reshape(-1, d)


def main():
    points, centroids, d, max_iter, tol = sys.argv[1:6]
    d, max_iter, tol = int(d), int(max_iter), float(tol)
    algorithms = sys.argv[6].split(",")
    threads = [int(t) for t in sys.argv[7].split(",")]
    x = load(points, d)
    c0 = load(centroids, d)
    for algo in algorithms:
        for t in threads:
            with threadpool_limits(limits=t):
                km = KMeans(n_clusters=c0.shape[0], init=c0, n_init=1, max_iter=max_iter,
                            tol=tol, algorithm=algo)
                t0 = time.perf_counter()
                cpu0 = time.process_time()
                km.fit(x)
                secs = time.perf_counter() - t0
                cpu = time.process_time() - cpu0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{algo} {t} {secs:.3f} {km.n_iter_} {km.inertia_!r} {rss:.0f} {cpu:.3f}", flush=True)


if __name__ == "__main__":
    main()
