"""Times scikit-learn's ElasticNet.fit for bench/train/run.ts, the same way the kit's fit is timed.

usage: sklearn_fit.py CSV --target COL --alpha A --l1-ratio R --tol T --max-iter N --sep S
After reading the CSV once it prints "ready", then for each line "fit" on stdin fits once and prints
one JSON line: the fit's wall and CPU time (all threads) in milliseconds, n_iter_, coef_ and intercept_. The benchmark drives it
one fit at a time, alternating with the kit's fits, so that load from other processes on a shared
machine falls on both sides alike. Only the fit is timed.
X is handed over in Fortran (column-major) order, scikit-learn's preferred layout for coordinate
descent, as the kit's solver also receives column-major data.
"""
import argparse, json, sys, time
import numpy as np, pandas as pd
import sklearn
from sklearn.linear_model import ElasticNet

p = argparse.ArgumentParser()
p.add_argument("csv"); p.add_argument("--target", required=True)
p.add_argument("--alpha", type=float, required=True); p.add_argument("--l1-ratio", type=float, required=True)
p.add_argument("--tol", type=float, default=1e-4); p.add_argument("--max-iter", type=int, default=1000)
p.add_argument("--sep", default=",")
a = p.parse_args()
d = pd.read_csv(a.csv, sep=a.sep)
X = np.asfortranarray(d.drop(columns=[a.target]).to_numpy(dtype=np.float64))
y = d[a.target].to_numpy(dtype=np.float64)

def fit():
    m = ElasticNet(alpha=a.alpha, l1_ratio=a.l1_ratio, tol=a.tol, max_iter=a.max_iter)
    t = time.perf_counter()
    c = time.process_time()  # CPU time of every thread of the process (BLAS threads included)
    m.fit(X, y)
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000, m

print("ready", flush=True)
for line in sys.stdin:
    if line.strip() != "fit":
        break
    ms, cpu_ms, m = fit()
    print(json.dumps({"sklearn_version": sklearn.__version__, "ms": ms, "cpu_ms": cpu_ms, "n_iter": int(m.n_iter_),
                      "coef": m.coef_.tolist(), "intercept": float(m.intercept_)}), flush=True)
