"""Computes scipy's answers for the data sets in data.json.

Run from this folder with scipy 1.17 (`pip install scipy numpy`):
    python3 make_expected.py > expected.json
The Rust tests in host/src/experiment/stats/tests.rs compare PeerShare's
statistics with these values. data.json is fixed (committed); this script
only reads it.
"""
import json

import numpy as np
from scipy import stats

data = json.load(open("data.json"))


def holm(ps):
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    m, running, out = len(ps), 0.0, [0.0] * len(ps)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


expected = {"scipy": __import__("scipy").__version__, "cases": {}}
for name, case in data["cases"].items():
    a, b = np.array(case["a"]), np.array(case["b"])
    out = {}
    sem = stats.sem(a)
    out["mean"] = float(np.mean(a))
    out["sd"] = float(np.std(a, ddof=1))
    out["median"] = float(np.median(a))
    lo, hi = stats.t.interval(0.95, len(a) - 1, loc=np.mean(a), scale=sem)
    out["t_interval"] = [float(lo), float(hi)]
    if len(a) == len(b):
        r = stats.ttest_rel(a, b)
        out["paired_t"] = [float(r.statistic), float(r.pvalue)]
        d = a - b
        lo, hi = stats.t.interval(0.95, len(d) - 1, loc=np.mean(d), scale=stats.sem(d))
        out["paired_interval"] = [float(lo), float(hi)]
        nonzero = d[d != 0]
        ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
        method = "exact" if len(nonzero) <= 50 and not ties and len(nonzero) == len(d) else "asymptotic"
        r = stats.wilcoxon(a, b, method=method)
        out["wilcoxon"] = [float(r.statistic), float(r.pvalue)]
        out["cohens_d_paired"] = float(np.mean(d) / np.std(d, ddof=1))
    r = stats.ttest_ind(a, b, equal_var=False)
    out["welch_t"] = [float(r.statistic), float(r.pvalue), float(r.df)]
    r = stats.mannwhitneyu(a, b)
    out["mann_whitney"] = [float(r.statistic), float(r.pvalue)]
    na, nb = len(a), len(b)
    pooled = np.sqrt(((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2))
    out["cohens_d"] = float((np.mean(a) - np.mean(b)) / pooled)
    out["cliffs_delta"] = float(np.mean(np.sign(a[:, None] - b[None, :])))
    boot = {}
    for method in ["percentile", "BCa"]:
        r = stats.bootstrap((a,), np.mean, method=method, n_resamples=99999, random_state=np.random.default_rng(1))
        boot[method] = [float(r.confidence_interval.low), float(r.confidence_interval.high)]
    out["bootstrap"] = boot
    expected["cases"][name] = out
expected["holm"] = {"p": data["holm"], "adjusted": holm(data["holm"])}
print(json.dumps(expected, indent=1))
