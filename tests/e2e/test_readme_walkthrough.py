"""The README's walk-through, run exactly as written: every `$ curl ...` and the Nameko shell session of its
``console`` blocks, in order, against the real processes on an empty store, with the default options (no
seed, the default rate). Each answer must have the README's status, shape and types, and a figure the
README shows above zero must be above zero here too (a launch that stores nothing fails this test).
"""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.system import ROOT

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
SETTLE_AFTER_LAUNCH = 5.0   # the README's answers were read about five seconds after each launch


def walkthrough_steps(readme: str) -> list[tuple[str, list[str], list[str]]]:
    """(command, lines typed into it, expected output lines) for each `$ ` line of the console blocks."""
    steps = []
    for block in re.findall(r"```console\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], [], []))
            elif steps and line.startswith(">>> "):
                steps[-1][1].append(line[4:])
            elif steps:
                steps[-1][2].append(line)
    return steps


def same_shape(expected, actual, where="answer") -> list[str]:
    """Where ``actual`` differs from the README's ``expected`` in keys, types, or zero against non-zero."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = [f"{where}: no key {key!r}" for key in expected if key not in actual]
        for key in expected.keys() & actual.keys():
            problems += same_shape(expected[key], actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {actual!r}"]
        if expected and not actual:
            return [f"{where}: empty, the README shows {len(expected)} items"]
        return same_shape(expected[0], actual[0], f"{where}[0]") if expected else []
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        # null may become a value (an error) and the other way round only where the README says null
        if expected == "ok" and actual != "ok":
            return [f"{where}: {actual!r} where the README shows 'ok'"]
        if expected is None or type(actual) is type(expected):
            return []
        return [f"{where}: expected {type(expected).__name__}, got {actual!r}"]
    if isinstance(expected, (int, float)):
        if isinstance(actual, bool) or not isinstance(actual, type(expected)):
            return [f"{where}: expected {type(expected).__name__}, got {actual!r}"]
        if expected > 0 and actual <= 0:
            return [f"{where}: {actual!r} where the README shows {expected!r}"]
    return []


def compare(expected_lines: list[str], output: str) -> list[str]:
    expected_lines = [line for line in expected_lines if line.strip()]
    lines = [line.rstrip("\r") for line in output.splitlines() if line.strip()]
    problems = []
    if expected_lines and expected_lines[0].startswith("HTTP/"):
        want = expected_lines[0].split()[1]
        got = lines[0].split()[1] if lines and lines[0].startswith("HTTP/") else "(no status line)"
        if want != got:
            problems.append(f"status {got}, the README shows {want}")
    expected_body = next((line for line in reversed(expected_lines) if line[:1] in "{[" or line.startswith("'")),
                         None)
    if expected_body is None:
        return problems
    body = lines[-1] if lines else ""
    try:
        expected = json.loads(expected_body)
    except json.JSONDecodeError:   # an answer shortened with "..." or a Python dict: its keys must be there
        return problems + [f"no key {key!r} in {body!r}" for key in re.findall(r"['\"](\w+)['\"]:", expected_body)
                           if not re.search(rf"['\"]{key}['\"]:", body)]
    try:
        actual = json.loads(body)
    except json.JSONDecodeError:
        return problems + [f"not JSON: {body!r}"]
    return problems + same_shape(expected, actual)


def test_the_readme_walkthrough_gives_the_answers_it_shows(fresh_system):
    system = fresh_system
    host = system.base_url.removeprefix("http://")
    steps = walkthrough_steps(README.read_text())
    assert sum(command.startswith("curl") for command, _, _ in steps) >= 10, "the walk-through lost its commands"
    env = system.env
    failures = []
    for command, typed, expected in steps:
        if command.startswith("curl"):
            ran = subprocess.run(command.replace("localhost:8004", host), shell=True, capture_output=True,
                                 text=True, timeout=120, cwd=ROOT)
            output = ran.stdout
        elif command.startswith(".venv/bin/nameko shell"):
            # the same shell the README starts, with this system's broker (its environment)
            nameko = str(Path(sys.executable).parent / "nameko")
            ran = subprocess.run([nameko, *command.split()[1:]], input="\n".join(typed),
                                 capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
            output = "\n".join(line.removeprefix(">>> ").strip() for line in ran.stdout.splitlines()
                               if line.removeprefix(">>> ").strip())
        else:
            failures.append(f"{command}: not a command this test knows how to run")
            continue
        failures += [f"{command}: {problem}" for problem in compare(expected, output)]
        if "/launch" in command and '"source"' not in command and ran.returncode == 0:
            time.sleep(SETTLE_AFTER_LAUNCH)
        if '"source": "replay"' in command:
            time.sleep(1.0)   # a replay of a small file ends within a second
    assert not failures, "\n".join(failures) + "\n" + system.tail()
