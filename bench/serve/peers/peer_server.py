#!/usr/bin/python3
# Copied from ../shared/peers/peer_server.py (mlops-kit shared reference stacks), unchanged below
# this header: the FastAPI/Flask + scikit-learn reference server the serving benchmark compares against.
"""A reference model server for side-by-side serving benchmarks: scikit-learn ElasticNet behind
FastAPI (the stack of a FastAPI model API) or Flask (the stack of Seldon Core's Python wrapper),
answering the Seldon v1 protocol at POST /api/v1.0/predictions with {"data":{"ndarray":[[...]]}}.

usage: peer_server.py {fastapi|flask} CSV --target COL [--port 9100] [--workers 1]
The model is fit on the CSV at start-up (alpha=0.5, l1_ratio=0.5).
"""
import argparse, sys
import numpy as np, pandas as pd
from sklearn.linear_model import ElasticNet

p = argparse.ArgumentParser()
p.add_argument("framework", choices=["fastapi", "flask"]); p.add_argument("csv")
p.add_argument("--target", required=True); p.add_argument("--sep", default=None)
p.add_argument("--port", type=int, default=9100); p.add_argument("--workers", type=int, default=1)
a = p.parse_args()
d = pd.read_csv(a.csv, sep=a.sep, engine="python")
model = ElasticNet(alpha=0.5, l1_ratio=0.5).fit(d.drop([a.target], axis=1).values, d[a.target].values)

def predict(body):
    rows = np.asarray(body["data"]["ndarray"], dtype=float)
    return {"data": {"names": [], "ndarray": model.predict(rows).tolist()}, "meta": {}}

if a.framework == "fastapi":
    import uvicorn
    from fastapi import FastAPI, Request
    app = FastAPI()
    @app.post("/api/v1.0/predictions")
    async def predictions(request: Request):
        return predict(await request.json())
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning", access_log=False)
else:
    from flask import Flask, request, jsonify
    app = Flask(__name__)
    @app.post("/api/v1.0/predictions")
    def predictions():
        return jsonify(predict(request.get_json(force=True)))
    from gunicorn.app.base import BaseApplication
    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"127.0.0.1:{a.port}"); self.cfg.set("workers", a.workers)
            self.cfg.set("loglevel", "warning")
        def load(self):
            return app
    Server().run()
