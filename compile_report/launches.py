"""What the report compiles: every kernel launch the project's launchers make at the benchmark shapes.

The launchers are called with empty tensors while each kernel's ``run`` records ``kernel[grid](...)`` instead of
launching (:func:`intercepted`).  Nothing here restates a launch setting: grids, constexprs, ``num_warps`` /
``num_stages`` (with :mod:`kernels.device_fit`'s choice for the target) and the v2 launcher's group sizes come from
the code itself; only the shapes are this module's.  Import the kernels' modules only where Triton compiles (not
under ``TRITON_INTERPRET=1``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MS_LSTM = dict(E=3, B=16, T=256, D=512, H=256, S=3)
CQA = dict(B=16, T=256, N=32, d=512)  # N = 32: the padded word tile
DTYPES = ("fp32", "fp32-tf32", "fp16", "bf16")  # fp32: IEEE dots (torch's default); fp32-tf32: TF32 dots
V2_SM_COUNT = 132  # offline, the v2 launcher chooses its group sizes for a GPU of this many SMs (H100 / H200)


@dataclass(frozen=True)
class Launch:
    """One ``kernel[grid](*args, **kwargs)`` a launcher makes.  ``candidate``: one of several settings its launcher
    compiles to choose from (a v2 group size), so one that does not fit the device is no failure."""

    label: str
    kernel: Any  # a triton.JITFunction
    args: tuple
    grid: Any
    kwargs: dict
    candidate: bool = False


@contextlib.contextmanager
def intercepted(*kernels: Any) -> Iterator[list[tuple[Any, tuple, Any, dict]]]:
    """Inside, ``kernel[grid](*args, **kwargs)`` of these JITFunctions appends (kernel, args, grid, kwargs) to the
    yielded list and launches nothing; ``kernel.warmup(...)`` (a compile) still compiles."""
    calls: list[tuple[Any, tuple, Any, dict]] = []

    def recorder(kernel: Any) -> Callable[..., Any]:
        def run(*args: Any, grid: Any, warmup: bool, **kwargs: Any) -> Any:
            if warmup:
                return type(kernel).run(kernel, *args, grid=grid, warmup=True, **kwargs)
            calls.append((kernel, args, grid, kwargs))
            return None
        return run

    for kernel in kernels:
        kernel.run = recorder(kernel)
    try:
        yield calls
    finally:
        for kernel in kernels:
            del kernel.run


def _labelled(labels: list[str], calls: list[tuple[Any, tuple, Any, dict]], candidate: bool = False) -> list[Launch]:
    return [Launch(label, *call, candidate=candidate) for label, call in zip(labels, calls, strict=True)]


def _recurrence_tensors(dtype: Any) -> dict[str, Any]:
    """Empty inputs of the MS-LSTM recurrence at :data:`MS_LSTM` (the forward saves its activated gates in fp32)."""
    import torch

    from kernels.policy import accumulation_dtype

    E, B, T, D, H, S = (MS_LSTM[n] for n in ("E", "B", "T", "D", "H", "S"))
    gates = torch.empty(E, B, T, S * 8 * H, dtype=dtype)
    y = torch.empty(E, B, T, S * 2 * H, dtype=dtype)
    return dict(gates=gates, saved=torch.empty(gates.shape, dtype=accumulation_dtype(dtype)), y=y,
                cell=torch.empty(y.shape, dtype=accumulation_dtype(dtype)), lengths=torch.empty(B, dtype=torch.int32),
                w_hh=torch.empty(E * S * 2, 4 * H, H, dtype=dtype), x=torch.empty(E, B, T, D, dtype=dtype))


def ms_lstm(dtype: Any, gpu: bool) -> list[Launch]:
    """The v1 recurrence (forward for training and inference, backward) and both weight-gradient GEMMs."""
    from kernels.ms_lstm import kernel as k

    t, S = _recurrence_tensors(dtype), MS_LSTM["S"]
    with intercepted(k.ms_lstm_forward_kernel, k.ms_lstm_backward_kernel, k.frame_weight_grad_kernel) as calls:
        k.lstm_forward(t["saved"], t["w_hh"], t["lengths"], t["y"], t["cell"], S, True)
        k.lstm_forward(t["gates"], t["w_hh"], t["lengths"], t["y"], t["cell"], S, False)
        k.lstm_backward(t["saved"], t["cell"], t["y"], t["w_hh"], t["lengths"], t["gates"], S)
        k.frame_weight_grad(t["gates"], t["x"], sets_per_encoder=1, shift_by_scale=False)
        k.frame_weight_grad(t["gates"], t["y"], sets_per_encoder=2 * S, shift_by_scale=True)
    return _labelled(["ms_lstm forward (train)", "ms_lstm forward (inference)", "ms_lstm backward",
                      "ms_lstm dW_ih", "ms_lstm dW_hh"], calls)


def cqa(dtype: Any, gpu: bool) -> list[Launch]:
    """The three forward and three backward kernels of context-query attention."""
    import torch

    from kernels.cqa import kernel as k

    B, T, N, d = (CQA[n] for n in ("B", "T", "N", "d"))
    video, query = torch.empty(B, T, d, dtype=dtype), torch.empty(B, N, d, dtype=dtype)
    video_valid, query_valid = torch.empty(B, T, dtype=torch.uint8), torch.empty(B, N, dtype=torch.uint8)
    w = [torch.empty(d, dtype=dtype) for _ in range(3)]
    kernels = (k._scores_kernel, k._column_kernel, k._rows_kernel, k._bwd_column_kernel, k._bwd_rows_kernel,
               k._bwd_query_kernel)
    with intercepted(*kernels) as calls:
        _, state = k.cqa_forward(video, query, video_valid, query_valid, *w)  # state: empty workspaces
        k.cqa_backward(torch.empty(B, T, 3 * d, dtype=dtype), video, query, video_valid, query_valid, *w, state)
    return _labelled([f"cqa {fn.__name__.strip('_').removesuffix('_kernel')}" for fn, *_ in calls], calls)


def plugin(dtype: Any, gpu: bool) -> list[Launch]:
    """The TensorRT plugin's recurrence (its dots are IEEE whatever torch's matmul precision)."""
    from export import plugin_kernels as p

    t = _recurrence_tensors(dtype)
    with intercepted(p.ms_lstm_plugin_kernel) as calls:
        p.launch_recurrence(t["gates"], t["w_hh"], t["lengths"], MS_LSTM["S"], t["y"])
    return _labelled(["plugin recurrence"], calls)


def v2(dtype: Any, gpu: bool) -> list[Launch]:
    """The v2 recurrence at every group size G its launcher would compile to choose one: on this machine's GPU 0
    (``gpu``), else on a :data:`V2_SM_COUNT`-SM sm_90 GPU.  Empty where the launcher runs v1 without compiling v2."""
    import torch

    from kernels.ms_lstm import resident as r

    t, S = _recurrence_tensors(dtype), MS_LSTM["S"]
    device = r.device_limits(torch.device("cuda", 0)) if gpu else r.DeviceLimits(sm_count=V2_SM_COUNT)
    launches: list[Launch] = []
    for label, launch in (
        ("ms_lstm v2 forward (train)", r._forward_launch(t["saved"], t["w_hh"], t["lengths"], t["y"], t["cell"], S,
                                                         True)),
        ("ms_lstm v2 forward (inference)", r._forward_launch(t["gates"], t["w_hh"], t["lengths"], t["y"], t["cell"],
                                                             S, False)),
        ("ms_lstm v2 backward", r._backward_launch(t["saved"], t["cell"], t["y"], t["w_hh"], t["lengths"],
                                                   t["gates"], S)),
    ):
        asked: list[int] = []
        r._PLANS.clear()  # the launcher remembers its plan per process: make it ask again
        r._plan(launch, None, device, usage_of=asked.append)  # the G it would compile; None: no usage, no plan
        for g in asked:
            plan = r.ResidentPlan(g, launch.block_m, launch.groups, launch.warps(launch.block_m, launch.block_h // g))
            with intercepted(launch.kernel) as calls:
                launch.run(plan)
            launches += _labelled([f"{label} G={g}"], calls, candidate=True)
    return launches


# (torch dtype, gpu) -> launches; ``gpu``: launchers that size for the device (v2) size for this machine's GPU 0
SOURCES: dict[str, Callable[[Any, bool], list[Launch]]] = {"ms_lstm": ms_lstm, "cqa": cqa, "plugin": plugin, "v2": v2}


def capture(source: str, dtype_name: str, gpu: bool = False) -> list[Launch]:
    """The launches of ``source`` (a key of :data:`SOURCES`) in ``dtype_name`` (one of :data:`DTYPES`).  Sets torch's
    float32 matmul precision for the dtype (the kernels' ``dot_precision`` reads it) and leaves it so."""
    import torch

    torch.set_float32_matmul_precision("high" if dtype_name == "fp32-tf32" else "highest")
    dtype = {"fp32": torch.float32, "fp32-tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    return SOURCES[source](dtype[dtype_name], gpu)
