"""``claim-edge bench web``: the operator screen under load.

Files --photos generated photos into one claim (through the real pipeline, in a temporary
store), starts claim-edge serve on it in a child process (token auth on, as on a LAN), then
sends --concurrency simultaneous GETs of the claim page, --rounds times, each with a
--timeout (default 30 s) client timeout. Prints per round: answered with 200, timed out,
failed otherwise, and the latency median/p90/p99/max; then the medians over the rounds.
"""

from __future__ import annotations

import argparse
import http.client
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ..config import load_profile
from .browser import ServerProcess

CLAIM = "BENCH-WEB"


def file_claim(profile_name: str | None, store_path: Path, n: int, out=sys.stdout,
               stages: list | None = None) -> None:
    """``n`` distinct generated photos filed in claim BENCH-WEB by the real pipeline (``stages``:
    the later stages, default the profile's)."""
    import dataclasses

    from .. import samples
    from ..ingest import ingest
    from ..pipeline import Pipeline
    from ..store import Store

    profile = load_profile(profile_name)
    profile = dataclasses.replace(profile, store=dataclasses.replace(
        profile.store, path=str(store_path), min_free_mb=0))
    folder = store_path.parent / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = (samples.plate_closeup(f"BW{i:05d}", 640, 360) if i % 4 == 3
               else samples.street_scene(640, 480, seed=1000 + i))
        p = folder / f"photo_{i:03d}.jpg"
        p.write_bytes(samples.jpeg_bytes(img))
        paths.append(str(p))
    t = time.perf_counter()
    store = Store.open(store_path)
    try:
        summary = ingest(paths, CLAIM, Pipeline(profile, stages=stages), store, progress=open("/dev/null", "w"))
    finally:
        store.close()
    print(f"filed {summary.new} photos in claim {CLAIM} in {time.perf_counter() - t:.0f} s",
          file=out, flush=True)


def one_round(url: str, token: str, concurrency: int, timeout: float) -> list[tuple[str, float]]:
    """(outcome, seconds) per request: outcome is the HTTP status, 'timeout' or 'error: ...'."""
    u = urlsplit(url)
    path = f"/claims/{CLAIM}"
    start = threading.Barrier(concurrency)
    results: list[tuple[str, float] | None] = [None] * concurrency

    def worker(i: int) -> None:
        start.wait()
        t = time.perf_counter()
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        try:
            c.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            r = c.getresponse()
            body = r.read()
            outcome = str(r.status) if body or r.status != 200 else "empty"
        except TimeoutError:
            outcome = "timeout"
        except OSError as e:
            outcome = f"error: {type(e).__name__}"
        finally:
            c.close()
        results[i] = (outcome, time.perf_counter() - t)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return [r for r in results if r is not None]


def summarise(results: list[tuple[str, float]]) -> dict:
    lat = [s for o, s in results if o == "200"]
    q = (lambda p: float(np.percentile(lat, p))) if lat else (lambda p: float("nan"))
    return {"ok": len(lat), "timeout": sum(o == "timeout" for o, _ in results),
            "other": sum(o not in ("200", "timeout") for o, _ in results),
            "p50": q(50), "p90": q(90), "p99": q(99), "max": max(lat) if lat else float("nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="claim-edge bench web", description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=None, help="device profile (default as claim-edge)")
    ap.add_argument("--photos", type=int, default=100, help="photos in the claim (default 100)")
    ap.add_argument("--concurrency", type=int, default=200,
                    help="simultaneous requests (default 200)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="client timeout per request in seconds (default 30)")
    a = ap.parse_args(argv)
    if a.photos < 1 or a.concurrency < 1 or a.rounds < 1 or a.timeout <= 0:
        ap.error("--photos, --concurrency, --rounds and --timeout must be positive")
    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="claim-edge-bench-web-") as tmp:
        store = Path(tmp) / "store" / "store.db"
        store.parent.mkdir()
        file_claim(a.profile, store, a.photos)
        args = ["--store", str(store), "--token", token]
        if a.profile:
            args += ["--profile", a.profile]
        with ServerProcess(*args) as srv:
            one_round(srv.url, token, 1, a.timeout)  # warm: model, caches, first connection
            print(f"{a.concurrency} concurrent GET {CLAIM} ({a.photos} photos), timeout "
                  f"{a.timeout:g} s, {a.rounds} rounds", flush=True)
            rounds = []
            for i in range(a.rounds):
                t = time.perf_counter()
                s = summarise(one_round(srv.url, token, a.concurrency, a.timeout))
                s["wall"] = time.perf_counter() - t
                rounds.append(s)
                print(f"round {i + 1}: {s['ok']} answered 200, {s['timeout']} timed out, "
                      f"{s['other']} other; latency median {s['p50']:.2f} s, p90 "
                      f"{s['p90']:.2f} s, p99 {s['p99']:.2f} s, max {s['max']:.2f} s; "
                      f"all done in {s['wall']:.1f} s", flush=True)
    med = {k: float(np.median([r[k] for r in rounds])) for k in rounds[0]}
    print(f"median of {a.rounds} rounds: {med['ok']:.0f}/{a.concurrency} answered, "
          f"{med['timeout']:.0f} timed out, latency median {med['p50']:.2f} s, "
          f"p90 {med['p90']:.2f} s, p99 {med['p99']:.2f} s, max {med['max']:.2f} s", flush=True)
    return 0 if all(r["ok"] == a.concurrency for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
