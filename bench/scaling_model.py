#!/usr/bin/env python3
"""alpha-beta-gamma model of one Prism NMF iteration on a pr x pc grid (docs/SCALING.md).

Plain Python, no dependencies. Give the constants measured by `prism-bench --calibrate` (and the sparse
product rate measured by `prism-bench --sparse`); prints predicted seconds per iteration for strong and
weak scaling, dense and sparse, with the grid the model picks.

    bench/scaling_model.py --alpha 2e-6 --beta 1.5e-9 --gamma 7e-11 --gamma-sparse 2e-10
    bench/scaling_model.py ... --check 8000x4000x50:1:0.105 --check 8000x4000x50:2:0.054   # measured
"""

import argparse
import math


def log2(p):
    return math.log2(p) if p > 1 else 0.0


def grid_for(p, m, n):
    """The grid minimising the gathered factor rows m/pr + n/pc, ties to the squarer grid: what the
    library's choose_grid_shape (src/grid.cpp) does, comparison tolerances included."""
    best, best_cost = (p, 1), math.inf
    for pr in range(1, p + 1):
        if p % pr:
            continue
        pc = p // pr
        cost = max(m, 1) / pr + max(n, 1) / pc
        squarer = abs(pr - pc) < abs(best[0] - best[1])
        if cost < best_cost * (1 - 1e-12) or (cost <= best_cost * (1 + 1e-12) and squarer):
            best, best_cost = (pr, pc), cost
    return best


def iteration(c, m, n, k, p, nnz=None, grid=None):
    """Returns (total, compute, bandwidth, latency, pr, pc) seconds for one iteration."""
    pr, pc = grid or grid_for(p, m, n)
    m_loc, n_loc = m / pr, n / pc
    if nnz is None:
        products = 2 * (2.0 * m * n * k / p) * c.gamma  # X H^T and X^T W, 2 m n k / P flops each
    else:
        products = 2 * (2.0 * nnz * k / p) * c.gamma_sparse  # k FMAs per stored entry, per product
    # Grams (syrk of the local slabs, (m + n) k^2 / P) and the local update of both factors, c (m + n) k^2 / P
    # at the gemm rate with c measured (the sweeps and solves run far below the gemm rate).
    local = (m + n) / p * k * k * (1 + c.nnls_factor) * c.gamma
    compute = products + local
    # Words each rank receives or reduces (README "Communication per iteration"): all-gather of H^T over
    # the grid column (pr ranks) and of W over the grid row (pc ranks), reduce-scatter of X H^T over the
    # grid row and of X^T W over the grid column, two all-reduces of k^2 (+ the objective's scalars).
    words = (n_loc * k * (pr - 1) / pr * 2 + m_loc * k * (pc - 1) / pc * 2)
    allreduce_words = 2 * 2 * (k * k + 3) * (p - 1) / p  # reduce-scatter + all-gather form
    bandwidth = words * c.beta + allreduce_words * c.beta
    # Messages: tree/recursive-doubling collectives take log2 of the group size steps; 4 factor
    # collectives, 2 Gram all-reduces (2 log2 P each), 1 small all-reduce (the stop decision).
    steps = 2 * log2(pr) + 2 * log2(pc) + 2 * 2 * log2(p) + log2(p)
    latency = steps * c.alpha
    return compute + bandwidth + latency, compute, bandwidth, latency, pr, pc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alpha", type=float, required=True, help="seconds per message")
    ap.add_argument("--beta", type=float, required=True, help="seconds per 8-byte word")
    ap.add_argument("--gamma", type=float, required=True, help="seconds per flop of the dense local gemm")
    ap.add_argument("--gamma-sparse", type=float, required=True, help="seconds per flop of the CSR products")
    ap.add_argument("--nnls-factor", type=float, default=10.0,
                    help="local update time in units of gamma (m + n) k^2 / P (measured: HALS ~10, MU ~13, "
                         "ANLS-BPP ~55)")
    ap.add_argument("--check", action="append", default=[],
                    help="MxNxK:P:SECONDS measured here, printed next to the prediction")
    ap.add_argument("--predict", action="append", default=[],
                    help="MxNxK[:NNZ]:P: print only 'P pr pc seconds compute words latency' at full precision "
                         "(NNZ > 0: sparse); tests compare it with prism-bench's C++ model (drivers/bench_model.cpp)")
    c = ap.parse_args()
    if c.predict:
        for spec in c.predict:
            parts = spec.split(":")
            m, n, k = (int(v) for v in parts[0].split("x"))
            nnz = float(parts[1]) if len(parts) == 3 and float(parts[1]) > 0 else None
            p = int(parts[-1])
            t, comp, bw, lat, pr, pc = iteration(c, m, n, k, p, nnz)
            print(f"{p} {pr} {pc} {t!r} {comp!r} {bw!r} {lat!r}")
        return

    ranks = [1, 2, 4, 16, 64, 256, 1024, 4096]
    cases = [
        ("dense strong, 8000 x 4000, k=50", lambda p: (8000, 4000, 50, None)),
        ("dense strong, 200000 x 100000, k=50", lambda p: (200000, 100000, 50, None)),
        ("dense weak, 8000 x 4000 per rank, k=50", None),
        ("sparse strong, 200000 x 20000, 1 %, k=30", lambda p: (200000, 20000, 30, 0.01 * 200000 * 20000)),
        ("sparse weak, 1 %, 200000 x 20000 per rank, k=30", None),
    ]
    for title, shape in cases:
        print(f"\n{title}")
        print(f"{'P':>5} {'grid':>10} {'s/iter':>10} {'compute':>10} {'words':>10} {'latency':>10} {'eff.':>6}")
        t1 = None
        for p in ranks:
            if shape is not None:
                m, n, k, nnz = shape(p)
                grid = None
            else:  # weak: the per-rank block stays fixed, the grid grows as square as P allows
                pr = 2 ** (int(log2(p)) // 2 + int(log2(p)) % 2)
                pc = p // pr
                if title.startswith("dense"):
                    m, n, k, nnz = 8000 * pr, 4000 * pc, 50, None
                else:
                    m, n, k = 200000 * pr, 20000 * pc, 30
                    nnz = 0.01 * m * n
                grid = (pr, pc)
            t, comp, bw, lat, pr, pc = iteration(c, m, n, k, p, nnz, grid)
            t1 = t1 or t
            eff = t1 / (p * t) if shape is not None else t1 / t
            print(f"{p:5d} {f'{pr}x{pc}':>10} {t:10.4g} {comp:10.4g} {bw:10.4g} {lat:10.4g} {eff:6.2f}")
    if c.check:
        print("\nmeasured here vs model")
        for spec in c.check:
            shape, p, secs = spec.split(":")
            m, n, k = (int(v) for v in shape.split("x"))
            t = iteration(c, m, n, k, int(p))[0]
            print(f"  {shape} on {p} ranks: measured {float(secs):.4g} s/iter, model {t:.4g} "
                  f"({float(secs) / t:.2f}x)")


if __name__ == "__main__":
    main()
