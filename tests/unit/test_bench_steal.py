"""The bench tells how much of the machine the hypervisor took during each phase."""
from tools.bench import machine_cpu, stolen_share


def test_the_share_stolen_is_the_steal_ticks_over_all_ticks_of_the_phase():
    assert stolen_share((1_000, 100), (1_400, 200)) == 0.25
    assert stolen_share((1_000, 100), (1_000, 100)) == 0.0   # no tick passed


def test_the_machine_counters_only_grow_and_steal_is_part_of_them():
    first = machine_cpu()
    sum(range(2_000_000))   # let some ticks pass
    second = machine_cpu()
    assert 0 <= first[1] <= first[0] and 0 <= second[1] <= second[0]
    assert second[0] >= first[0] and second[1] >= first[1]
    assert 0.0 <= stolen_share(first, second) <= 1.0
