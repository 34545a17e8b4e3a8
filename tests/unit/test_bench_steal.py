"""The bench tells how much of the machine the hypervisor took during each phase."""
from pathlib import Path

from tools import bench
from tools.bench import machine_cpu, stolen_share


def test_the_share_stolen_is_the_steal_ticks_over_all_ticks_of_the_phase():
    assert stolen_share((1_000, 100), (1_400, 200)) == 0.25
    assert stolen_share((1_000, 100), (1_000, 100)) == 0.0   # no tick passed


def test_the_machine_ticks_are_the_eight_time_fields_of_the_cpu_line_and_steal_is_the_eighth(tmp_path, monkeypatch):
    # user nice system idle iowait irq softirq steal, then guest and guest_nice, which the
    # kernel already counts in user and nice: counting them again would inflate the total
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 2 30 400 5 6 7 50 900 90\ncpu0 1 1 1 1 1 1 1 1 1 1\nintr 12345 0 0\n")
    monkeypatch.setattr(bench, "Path", lambda name: stat if name == "/proc/stat" else Path(name))

    assert machine_cpu() == (100 + 2 + 30 + 400 + 5 + 6 + 7 + 50, 50)
