"""gpu_run.machine: the facts every result carries, the nominal bandwidth table and the measured copy."""

import torch

from gpu_run.machine import ABSENT, copy_bandwidth, environment, nominal_bandwidth, package_version, slug

ENV_KEYS = {"device", "device_type", "torch", "triton", "onnxruntime", "tensorrt", "git_commit", "python",
            "triton_interpret", "timestamp"}


def test_environment_names_device_versions_and_commit() -> None:
    env = environment(torch.device("cpu"))
    assert ENV_KEYS <= set(env)
    assert env["torch"] == torch.__version__ and env["device_type"] == "cpu"
    assert env["git_commit"] and env["device"]


def test_missing_package_is_absent() -> None:
    assert package_version("no_such_module_for_gpu_run") == ABSENT


def test_slug_is_path_friendly() -> None:
    assert slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert slug("///") == "device"


def test_nominal_bandwidth_table() -> None:
    assert nominal_bandwidth("NVIDIA H100 80GB HBM3")[0] == 3.35e12
    assert nominal_bandwidth("NVIDIA H100 PCIe")[0] == 2.0e12
    assert nominal_bandwidth("NVIDIA H100 NVL")[0] == 3.9e12
    assert nominal_bandwidth("NVIDIA H200")[0] == 4.8e12
    assert nominal_bandwidth("NVIDIA A100-SXM4-80GB") is None


def test_copy_bandwidth_is_measured() -> None:
    assert copy_bandwidth(torch.device("cpu")) > 0
