"""DexSimple grasp generator (no ROS): model, training, export/loading, seed data."""
from .model import GENERATOR_VERSION, DexSimple, GeneratorConfig, GeneratorSample, associated_points

__all__ = ["GENERATOR_VERSION", "DexSimple", "GeneratorConfig", "GeneratorSample", "associated_points",
           "load_generator"]


def __getattr__(name):
    # lazy: training pulls in safetensors/yaml/tqdm, sampling does not need them
    if name == "load_generator":
        from .train import load_generator
        return load_generator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
