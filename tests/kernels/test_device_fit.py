"""kernels.device_fit: the first setting whose compiled kernel fits the target's shared memory per block is launched,
the choice is cached per target, and a target where none fits gets the last (smallest) setting."""

from kernels import device_fit

LIMIT = 100 * 1024
SHARED_BY_STAGES = {3: 130 * 1024, 2: 90 * 1024, 1: 50 * 1024}  # shared memory grows with the pipelining depth


class Kernel:
    __name__ = "kernel"


def shared_table(calls):
    def shared_of(kernel, grid, args, kwargs):
        calls.append(kwargs["num_stages"])
        return SHARED_BY_STAGES[kwargs["num_stages"]]
    return shared_of


def test_fewer_stages_until_the_kernel_fits_and_the_choice_is_cached() -> None:
    calls = []
    settings = device_fit.fewer_stages(8, 3)
    with device_fit.target("test-100k", LIMIT, shared_table(calls)):
        chosen = device_fit.fitting(Kernel(), (1,), (), {"H": 256}, settings)
        again = device_fit.fitting(Kernel(), (1,), (), {"H": 256}, settings)
    assert chosen == again == {"num_warps": 8, "num_stages": 2}
    assert calls == [3, 2]  # the preferred setting first, nothing compiled for the cached second call


def test_a_roomy_target_keeps_the_preferred_setting_and_a_tight_one_gets_the_last() -> None:
    with device_fit.target("test-roomy", 227 * 1024, shared_table([])):
        assert device_fit.fitting(Kernel(), (1,), (), {"H": 128}, device_fit.fewer_stages(4, 3))["num_stages"] == 3
    with device_fit.target("test-tight", 10 * 1024, shared_table([])):
        assert device_fit.fitting(Kernel(), (1,), (), {"H": 128}, device_fit.fewer_stages(4, 3))["num_stages"] == 1


def test_every_architecture_of_the_report_is_known() -> None:
    assert list(device_fit.ARCHES) == ["sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120"]
