#!/usr/bin/python3
"""Recomputes SequentialBinomialTest's e-values, confidence intervals and verdicts with scipy,
from the raw counters the C++ helper (sequential_dump) fed it, and fails on any disagreement.

Independent of the C++ code: increments (with counter resets and the carry of errors without
exposure), the conditional binomial log-likelihood on the grid via scipy.stats.binom.logpmf
(the binomial coefficient cancels in every ratio), the discrete priors, logsumexp, Ville's
threshold, the confidence sequence and events_needed are all recomputed here from the method as
docs/judging.md states it.

usage: check_sequential.py PATH/TO/sequential_dump
"""
import json
import math
import subprocess
import sys

try:
    import numpy as np
    from scipy.special import logsumexp
    from scipy.stats import binom
except ImportError as e:  # pragma: no cover
    sys.exit(f"check_sequential: needs Debian's python3-scipy (scripts/install-deps.sh): {e}")

STEP = math.log(2) / 12
HALF = 72
GRID = np.arange(-HALF, HALF + 1) * STEP  # log rho
SD = 1.0


def priors(max_ratio):
    d0 = math.log(max_ratio)
    fail = np.where(GRID > d0, -((GRID - d0) ** 2) / (2 * SD * SD), -np.inf)
    fail = fail - logsumexp(fail[np.isfinite(fail)])
    cs = -(GRID ** 2) / (2 * SD * SD)
    cs = cs - logsumexp(cs)
    return fail, cs


def theta(log_rho, a, b):
    r = np.exp(log_rho)
    return r * a / (r * a + b)


def interval_loglik(log_rho, a, b, x, y):
    # log P(x | x+y, theta) up to a constant that cancels: scipy's pmf minus log C(x+y, x)
    th = theta(log_rho, a, b)
    return binom.logpmf(x, x + y, th) - (math.lgamma(x + y + 1) - math.lgamma(x + 1) - math.lgamma(y + 1))


class Reference:
    def __init__(self, spec):
        self.alpha, self.rho0, self.pass_ratio = spec["alpha"], spec["max_ratio"], spec["pass_ratio"]
        self.w_fail, self.w_cs = priors(self.rho0)
        self.ll = np.zeros(len(GRID))
        self.ll0 = 0.0
        self.last = None
        self.carry = [0.0] * 4
        self.counted = [0.0] * 4
        self.failed = self.passed = self.sufficient = False
        self.needed = None

    def bad(self, c):
        names = ["canary errors", "canary total", "baseline errors", "baseline total"]
        for v, n in zip(c, names):
            if math.isnan(v) or math.isinf(v) or v < 0 or v != math.floor(v):
                return n
        if c[0] > c[1]:
            return "canary errors"
        if c[2] > c[3]:
            return "baseline errors"
        return None

    def log_e(self):
        m = np.isfinite(self.w_fail)
        return logsumexp(self.w_fail[m] + self.ll[m]) - self.ll0

    def ci(self):
        mix = logsumexp(self.w_cs + self.ll)
        inside = np.nonzero(mix - self.ll < math.log(1 / self.alpha))[0]
        if len(inside) == 0:
            lo = hi = int(np.argmax(self.ll))
        else:
            lo, hi = int(inside[0]), int(inside[-1])
        low = math.exp(GRID[lo - 1]) if lo - 1 >= 0 else None
        high = math.exp(GRID[hi + 1]) if hi + 1 < len(GRID) else None
        return low, high

    def events_needed(self):
        a, b = self.counted[1], self.counted[3]
        if a <= 0 or b <= 0:
            return None
        m = np.isfinite(self.w_fail)
        lt = np.log(theta(GRID[m], a, b))
        lt0 = math.log(theta(math.log(self.rho0), a, b))
        for s in range(1, 1 << 20):
            if logsumexp(self.w_fail[m] + s * (lt - lt0)) >= math.log(1 / self.alpha):
                return s
        return None

    def update(self, c):
        if self.bad(c):
            return "error"
        if self.last is None:
            self.last = list(c)
        else:
            inc = [(v - l if v >= l else v) + k for v, l, k in zip(c, self.last, self.carry)]
            self.last = list(c)
            if (inc[0] > 0 and inc[1] == 0) or (inc[2] > 0 and inc[3] == 0):
                self.carry = inc
            else:
                self.carry = [0.0] * 4
                self.counted = [s + i for s, i in zip(self.counted, inc)]
                x, a, y, b = inc
                if x + y > 0 and a > 0 and b > 0:
                    self.ll = self.ll + interval_loglik(GRID, a, b, x, y)
                    self.ll0 += float(interval_loglik(np.array([math.log(self.rho0)]), a, b, x, y)[0])
                    if not self.failed and self.log_e() >= math.log(1 / self.alpha):
                        self.failed = True
                    if not self.failed and not self.passed:
                        hi = self.ci()[1]
                        if hi is not None and hi < self.pass_ratio:
                            self.passed = True
                if not self.sufficient:
                    self.needed = self.events_needed()
                    self.sufficient = self.needed is not None and self.counted[0] + self.counted[2] >= self.needed
        if self.failed:
            return "fail"
        if self.passed:
            return "pass"
        return "undecided" if self.sufficient else "insufficient"


def close(a, b, rel=1e-9, abs_=1e-7):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
    problems, steps, verdicts = [], 0, {}
    for line in out.splitlines():
        case = json.loads(line)
        ref = Reference(case["spec"])
        for i, st in enumerate(case["steps"]):
            steps += 1
            where = f'{case["case"]} step {i}'
            v = ref.update(st["counters"])
            if v == "error":
                if not st["error"]:
                    problems.append(f"{where}: bad data {st['counters']} was accepted")
                continue
            if st["error"]:
                problems.append(f"{where}: good data rejected: {st['error']}")
                continue
            verdicts[v] = verdicts.get(v, 0) + 1
            if v != st["verdict"]:
                problems.append(f"{where}: verdict {st['verdict']}, scipy says {v}")
            if st["counted"] != ref.counted:
                problems.append(f"{where}: counted {st['counted']}, reference {ref.counted}")
            if not close(st["log_e"], float(ref.log_e())):
                problems.append(f"{where}: log e-value {st['log_e']}, scipy {ref.log_e()}")
            lo, hi = ref.ci()
            if not close(st["ci_low"], lo) or not close(st["ci_high"], hi):
                problems.append(f"{where}: CI [{st['ci_low']}, {st['ci_high']}], scipy [{lo}, {hi}]")
            if ref.needed is not None and not ref.sufficient and st["events_needed"] != ref.needed:
                problems.append(f"{where}: events_needed {st['events_needed']}, scipy {ref.needed}")
    if steps == 0:
        sys.exit("check_sequential: the helper printed nothing")
    for p in problems[:30]:
        print(p)
    print(f"check_sequential: {steps} steps compared, verdicts {verdicts}, {len(problems)} disagreements")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
