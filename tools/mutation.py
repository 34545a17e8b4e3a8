"""make mutation: mutmut over the domain core ([tool.mutmut] in pyproject.toml), then the share of
mutants killed per module. A mutant counts as killed when a test failed (or timed out) with it;
"no tests" (no selected test runs that code) and "survived" count against the module.

    python -m tools.mutation            # run, then report
    python -m tools.mutation --report   # report the last run (mutants/ is kept between runs)
"""
import argparse
import collections
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.85
KILLED = {"killed", "timeout"}
RESULT = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ].*__mutmut_\d+: (?P<status>.+)$")


def mutmut(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, TESTS_UNDER_MUTATION="1", PYTHONWARNINGS="ignore")
    return subprocess.run([str(Path(sys.executable).parent / "mutmut"), *args], cwd=ROOT, env=env, text=True,
                          capture_output=capture)


def shares(results: str) -> dict[str, collections.Counter]:
    """{module: Counter(status)} from `mutmut results --all true`."""
    by_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in results.splitlines():
        found = RESULT.match(line)
        if found:
            by_module[found["module"]][found["status"].strip()] += 1
    return dict(by_module)


def report(by_module: dict[str, collections.Counter]) -> bool:
    print(f"{'module':40} {'mutants':>8} {'killed':>8} {'share':>7}  survived / no tests")
    every_goal_met = True
    for module, counts in sorted(by_module.items()):
        total = sum(counts.values())
        killed = sum(counts[status] for status in KILLED)
        share = killed / total if total else 1.0
        every_goal_met &= share >= GOAL
        print(f"{module:40} {total:8} {killed:8} {share:7.1%}  {counts['survived']} / {counts['no tests']}"
              f"{'' if share >= GOAL else f'   below {GOAL:.0%}'}")
    return every_goal_met


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", action="store_true", help="only report the last run")
    args = parser.parse_args(argv)
    if not args.report and mutmut("run").returncode != 0:
        print("mutmut did not finish its run (see above): no shares to report", file=sys.stderr)
        return 1
    results = mutmut("results", "--all", "true", capture=True).stdout
    by_module = shares(results)
    if not by_module:
        print("no mutation results: run `make mutation` first", file=sys.stderr)
        return 1
    report(by_module)
    print("survivors: .venv/bin/mutmut results; one mutant's diff: .venv/bin/mutmut show NAME")
    return 0


if __name__ == "__main__":
    sys.exit(main())
