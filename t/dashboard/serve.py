#!/usr/bin/env python3
"""Serve src/dashboard.html with fixture data, for looking at the dashboard
without a running cordis.

    t/dashboard/serve.py [--port N] [--reload failed|ok|none] [--flaky]
                         [--no-cmds] [--virtual] [--html PATH]

Binds 127.0.0.1 (port 0 = a free one) and prints the URL on the first line
of stdout, e.g. "http://127.0.0.1:40123/". Serves:

    /                    the dashboard page (re-read on every request)
    /api/proxy/model     fixtures/model.json
    /api/proxy/stats     fixtures/stats.json with counters that grow and a QPS
                         that moves (sine wave plus noise)
    /api/proxy/slots     fixtures/slots.json
    /selftest            the page with selftest.js injected (see run.sh)

--flaky makes the API answer 503 for 6 s out of every 20 s, to show the
"disconnected" state. --virtual runs the fixture clock at one second per
stats request instead of wall time, to match Chromium's --virtual-time-budget
(a 300000 budget then fills the 5-minute chart in a few seconds).
Stop it with kill PID.
"""
import argparse
import copy
import json
import math
import os
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")


def load(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


class World:
    """Counters integrated over time so totals and QPS agree."""

    def __init__(self, args):
        self.args = args
        self.vclock = time.time()
        self.model = load("model.json")
        self.stats = load("stats.json")
        self.slots = load("slots.json")
        now = self.now()
        self.t0 = now
        self.last = now
        self.model["start_unix"] = int(now - 7 * 3600 - 1234)
        self.model["start_time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                 time.gmtime(self.model["start_unix"]))
        r = self.model["reload"]
        if args.reload == "ok":
            r.update(ok=3, failed=0, last="ok: applied in place", last_unix=int(now - 95))
        elif args.reload == "none":
            r.update(ok=0, failed=0, last="none", last_unix=0)
        else:
            r["last_unix"] = int(now - 75)
        # share of traffic per command (weights), fixed
        self.weights = [40, 25, 6, 5, 8, 4, 3, 4, 2, 1, 1.5, 0.3, 0.1, 0.1]
        cmds = self.stats["ops"]["cmd"]
        self.weights = (self.weights + [1] * len(cmds))[:len(cmds)]
        wsum = sum(self.weights)
        self.weights = [w / wsum for w in self.weights]
        self.calls = [0.0] * len(cmds)
        # a starting history, so the numbers look lived-in
        self.total = 0.0
        self._advance(3600.0, 4200.0)
        self.qps = 4200.0
        if args.no_cmds:
            self.stats["ops"]["cmd"] = []

    def now(self):
        return self.vclock if self.args.virtual else time.time()

    def _advance(self, dt, qps):
        self.total += qps * dt
        for i, w in enumerate(self.weights):
            self.calls[i] += qps * w * dt

    def step(self):
        """One stats request, answered or not: one virtual second."""
        if self.args.virtual:
            self.vclock += 1.0

    def tick(self):
        now = self.now()
        t = now - self.t0
        qps = 4200 * (1 + 0.35 * math.sin(t / 15.0)) + random.uniform(-250, 250)
        if 40 < t % 90 < 48:
            qps *= 1.8  # a burst now and then
        qps = max(0.0, qps)
        self._advance(now - self.last, qps)
        self.last = now
        self.qps = qps

    def stats_json(self):
        self.tick()
        s = copy.deepcopy(self.stats)
        ops = s["ops"]
        ops["total"] = int(self.total)
        ops["qps"] = int(self.qps + 0.5)
        fails = 0
        rerr = 0
        for i, c in enumerate(ops["cmd"]):
            c["calls"] = int(self.calls[i])
            c["usecs"] = c["calls"] * c["usecs_percall"]
            c["fails"] = c["fails"] * int(self.calls[i] / 50000)
            c["redis_errtype"] = c["redis_errtype"] * int(self.calls[i] / 40000)
            fails += c["fails"]
            rerr += c["redis_errtype"]
        ops["fails"] = fails
        ops["redis"]["errors"] = rerr
        t = self.now() - self.t0
        s["sessions"]["alive"] = int(412 + 30 * math.sin(t / 7))
        s["sessions"]["total"] = 5321 + int(t * 2)
        s["rusage"]["now"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        s["rusage"]["cpu"] = round(0.3 + 0.25 * self.qps / 8000, 3)
        s["rusage"]["mem"] = 48234496 + int(t * 1000)
        alive = s["sessions"]["alive"]
        live = [w for w in s["workers"] if w["state"] == "running"]
        for w in s["workers"]:
            if w["state"] == "running":
                w["sessions_alive"] = alive // len(live)
                w["sessions_total"] = s["sessions"]["total"] // len(live)
                w["ops"] = int(self.total / len(live) * (1 + 0.02 * w["index"]))
                w["bytes_in"] = w["ops"] * 40
                w["bytes_out"] = w["ops"] * 120
            else:
                w["sessions_alive"] = 3
                w["ops"] = 812345
        share = [0.3, 0.28, 0.27, 0.15]
        for b, sh in zip(s["backends"], share):
            b["requests"] = int(self.total * sh)
        return s


def make_handler(world, html):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, code, ctype, body):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html", "/selftest"):
                with open(html, "rb") as f:
                    page = f.read()
                if path == "/selftest":
                    page = page.replace(b"<head>", b'<head><script src="/selftest.js"></script>', 1)
                return self.send(200, "text/html; charset=utf-8", page)
            if path == "/selftest.js":
                with open(os.path.join(HERE, "selftest.js"), "rb") as f:
                    return self.send(200, "application/javascript", f.read())
            if path == "/api/proxy/stats":
                world.step()
            if world.args.flaky and path.startswith("/api/") and (world.now() - world.t0) % 20 > 14:
                return self.send(503, "application/json", b'{"error":"flaky fixture"}')
            if path == "/api/proxy/model":
                body = world.model
            elif path == "/api/proxy/stats":
                body = world.stats_json()
            elif path == "/api/proxy/slots":
                body = world.slots
            else:
                return self.send(404, "application/json", b'{"error":"no such route"}')
            self.send(200, "application/json", json.dumps(body).encode())

    return H


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--reload", choices=["failed", "ok", "none"], default="failed")
    ap.add_argument("--flaky", action="store_true")
    ap.add_argument("--no-cmds", action="store_true")
    ap.add_argument("--virtual", action="store_true")
    ap.add_argument("--html", default=os.path.join(HERE, "..", "..", "src", "dashboard.html"))
    args = ap.parse_args()
    world = World(args)
    srv = HTTPServer(("127.0.0.1", args.port), make_handler(world, os.path.abspath(args.html)))
    print("http://127.0.0.1:%d/" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
