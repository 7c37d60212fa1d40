"""The reference for bench/train/e2e.ts: what a user of pandas + scikit-learn runs to train from a file.

usage: sklearn_e2e.py DATA --target COL --alpha A --l1-ratio R --out MODEL.json
Reads DATA (CSV with header, or Parquet when it ends in .parquet) with pandas, fits ElasticNet with
scikit-learn's default threading, writes coef_/intercept_/n_iter_ as JSON. The benchmark times the
whole process, start to exit, as it times `mlops train`.
"""
import argparse, json
import numpy as np, pandas as pd
from sklearn.linear_model import ElasticNet

p = argparse.ArgumentParser()
p.add_argument("data"); p.add_argument("--target", required=True)
p.add_argument("--alpha", type=float, required=True); p.add_argument("--l1-ratio", type=float, required=True)
p.add_argument("--out", required=True)
a = p.parse_args()
d = pd.read_parquet(a.data) if a.data.endswith(".parquet") else pd.read_csv(a.data)
X = d.drop(columns=[a.target]).to_numpy(dtype=np.float64)
y = d[a.target].to_numpy(dtype=np.float64)
m = ElasticNet(alpha=a.alpha, l1_ratio=a.l1_ratio).fit(X, y)
with open(a.out, "w") as f:
    json.dump({"coef": m.coef_.tolist(), "intercept": float(m.intercept_), "n_iter": int(m.n_iter_)}, f)
