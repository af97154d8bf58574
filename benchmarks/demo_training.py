"""Benchmark: the classic 100-step moons demo, trained with the reference micrograd's `fit`.

    python benchmarks/demo_training.py               # the `fit` run, checked against the targets
    python benchmarks/demo_training.py --hand-loop   # also the classic hand-written loop

The hand loop and `fit` against the classic closure-based engine, in one run: benchmarks/hand_loop.py.

Each run happens in a fresh Python process, so its peak RSS (ru_maxrss) is its own and
nothing else's; the process also samples its current RSS every 10 steps to show that
memory stays flat. Prints PASS/FAIL against the targets and exits 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 25.0
TARGET_PEAK_MB = 300.0
EXPECTED = {"loss0": "0.8958", "loss99": "0.01098", "first_full_accuracy_step": 40}
STEPS = 100


# ------------------------------------------------------------------ in the worker


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc), in MB; 0 where /proc is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def setup() -> tuple[object, list[list[float]], list[float], int]:
    """The demo's data and model (random.seed(1337)), and the number of nodes in one step's graph."""
    import random

    from micrograd.data import make_moons
    from micrograd.nn import MLP
    from micrograd.train import classify_loss

    random.seed(1337)
    X, y = make_moons(100, 0.1, 1337)
    model = MLP(2, [16, 16, 1])
    total, _ = classify_loss(model, X, y)
    nodes = len(total._topo_order())
    return model, X, y, nodes


def run_fit() -> dict[str, object]:
    from micrograd.train import fit

    model, X, y, nodes = setup()
    rss: dict[int, float] = {}

    def sample(k: int, loss: float, acc: float) -> None:
        if k % 10 == 0 or k == STEPS - 1:
            rss[k] = round(current_rss_mb(), 1)

    start, cpu = time.perf_counter(), time.process_time()
    history = fit(model, X, y, steps=STEPS, on_step=sample)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu": cpu,
        "loss": history.loss,
        "accuracy": history.accuracy,
        "nodes": nodes,
        "rss": rss,
    }


def run_hand_loop() -> dict[str, object]:
    """The loop as the classic demo notebook writes it: no `gc` calls (the collector as imported)."""
    from micrograd.engine import Value

    model, X, y, nodes = setup()
    losses: list[float] = []
    accuracies: list[float] = []
    rss: dict[int, float] = {}
    start, cpu = time.perf_counter(), time.process_time()
    for k in range(STEPS):
        inputs = [list(map(Value, row)) for row in X]
        scores = list(map(model, inputs))
        margins = [(1 + -yi * si).relu() for yi, si in zip(y, scores, strict=True)]
        data_loss = sum(margins) * (1.0 / len(margins))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        total = data_loss + reg_loss
        acc = [(yi > 0) == (si.data > 0) for yi, si in zip(y, scores, strict=True)]
        model.zero_grad()
        total.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= lr * p.grad
        losses.append(total.data)
        accuracies.append(sum(acc) / len(acc))
        if k % 10 == 0 or k == STEPS - 1:
            rss[k] = round(current_rss_mb(), 1)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "loss": losses, "accuracy": accuracies, "nodes": nodes, "rss": rss}


def worker(kind: str) -> None:
    result = run_fit() if kind == "fit" else run_hand_loop()
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


# ------------------------------------------------------------------ in the parent


def measure(kind: str) -> dict:
    """Run one training in a fresh process and return what it measured."""
    done = subprocess.run([sys.executable, __file__, "--worker", kind], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(title: str, r: dict) -> dict[str, object]:
    loss, acc = r["loss"], r["accuracy"]
    first_full = acc.index(1.0) if 1.0 in acc else None
    rss = {int(k): v for k, v in r["rss"].items()}
    print(f"{title}")
    per_step = r["seconds"] / len(loss) * 1000
    print(f"  time                 {r['seconds']:.1f} s ({per_step:.0f} ms a step), {r['cpu']:.1f} s CPU")
    print(f"  loss at step 0, 99   {loss[0]:.4g}, {loss[-1]:.4g}")
    print(f"  final accuracy       {acc[-1]:.0%}; 100% first reached at step {first_full}")
    print(f"  peak RSS             {r['peak_rss_mb']:.0f} MB")
    print("  RSS by step          " + ", ".join(f"{k}: {v:.0f}" for k, v in sorted(rss.items())) + " MB")
    print(f"  nodes per step       {r['nodes']:,}")
    print(f"  nodes per second     {r['nodes'] * len(loss) / r['seconds']:,.0f}")
    return {"loss0": f"{loss[0]:.4g}", "loss99": f"{loss[-1]:.4g}", "first_full_accuracy_step": first_full}


def check(name: str, ok: bool, detail: str) -> bool:
    print(f"  {'PASS' if ok else 'FAIL'}  {name:<26} {detail}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hand-loop", action="store_true", help="also time the classic hand-written loop")
    parser.add_argument("--worker", choices=["fit", "hand"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0

    fit_run = measure("fit")
    figures = report(f"{STEPS}-step moons demo with fit (MLP(2, [16, 16, 1]), 100 points)", fit_run)
    if args.hand_loop:
        hand = measure("hand")
        report("\nThe same demo, classic hand-written loop (no gc calls)", hand)
        print(f"  fit is {hand['seconds'] / fit_run['seconds']:.1f}x faster")

    print("\nTargets")
    results = [
        check("time", fit_run["seconds"] <= TARGET_SECONDS, f"{fit_run['seconds']:.1f} s <= {TARGET_SECONDS:.0f} s"),
        check(
            "peak RSS",
            fit_run["peak_rss_mb"] <= TARGET_PEAK_MB,
            f"{fit_run['peak_rss_mb']:.0f} MB <= {TARGET_PEAK_MB:.0f} MB",
        ),
    ]
    for key, expected in EXPECTED.items():
        results.append(check(key, figures[key] == expected, f"{figures[key]} (expected {expected})"))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
