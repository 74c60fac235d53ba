"""DexSimple grasp generator (no ROS).

Modules, one job each: ``model`` (the network, associated points), ``data`` (shards -> clouds
-> batches), ``checkpoint`` (safetensors checkpoints, export + model card), ``load`` (the
runtime loader the planner uses), ``train`` (the loop and ``dex1b train``), ``seed`` (seed
shards, ``dex1b seed``). Imports point down only: this package reads grasp shards through
:mod:`dex1b_ros.records`, never through ``dex1b_ros.dataset``.
"""
from .model import GENERATOR_VERSION, DexSimple, GeneratorConfig, GeneratorSample, associated_points

__all__ = ["GENERATOR_VERSION", "DexSimple", "GeneratorConfig", "GeneratorSample", "associated_points",
           "load_generator"]


def __getattr__(name):
    # lazy: training pulls in safetensors/yaml/tqdm, sampling does not need them
    if name == "load_generator":
        from .load import load_generator
        return load_generator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
