"""Declared, typed, documented ROS parameters from one table per node.

Each node lists its parameters once as :class:`ParamSpec` rows; :func:`declare` declares them
(type from the default, description shown by ``ros2 param describe``, the numeric range and
read-only flag in the descriptor), :func:`read` returns a plain dict, and the launch/config
drift test reads the same tables. The grasp planner's rows are generated from
:class:`~dex1b_ros.planner.config.PlannerConfig` (:func:`planner_param_specs`). Node parameters
are read at start-up; :func:`reject_runtime_changes` refuses later ``set`` calls with a clear reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterValueException
from rclpy.parameter import Parameter

from ..config_fields import Range
from ..config_utils import ConfigError

_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
          str: Parameter.Type.STRING}


@dataclass(frozen=True)
class ParamSpec:
    name: str                  # parameter name; dots = YAML nesting (``trajectory.open_time``)
    default: object            # default value; its Python type fixes the ROS type
    description: str           # with units
    array_of: type | None = None  # element type for list parameters (needed when the default is empty)
    range: Range | None = None     # numeric bounds (the config dataclass checks the same), in the descriptor
    read_only: bool = False        # cannot be set after start-up (ROS refuses it)

    @property
    def ros_type(self) -> Parameter.Type:
        if isinstance(self.default, (list, tuple)):
            el = self.array_of or (type(self.default[0]) if self.default else None)
            return {bool: Parameter.Type.BOOL_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                    float: Parameter.Type.DOUBLE_ARRAY, str: Parameter.Type.STRING_ARRAY}[el]
        return _TYPES[type(self.default)]


    def descriptor(self) -> ParameterDescriptor:
        desc = ParameterDescriptor(description=self.description, type=self.ros_type.value, read_only=self.read_only)
        if self.range is not None and self.ros_type in (Parameter.Type.INTEGER, Parameter.Type.DOUBLE):
            integer = self.ros_type == Parameter.Type.INTEGER
            lo, hi = self.range.closed(integer)
            if integer:
                desc.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=0)]
            else:
                desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
        return desc


def planner_param_specs() -> list[ParamSpec]:
    """One row per leaf field of PlannerConfig: dotted name, its default, the field comment as
    description, its range, read-only when changing it needs a new planner (PlannerConfig.REBUILD)."""
    from ..planner.config import flat_fields

    return [ParamSpec(f.name, f.default, f.description or f.name, array_of=float if f.type is list else None,
                      range=f.range, read_only=f.read_only) for f in flat_fields()]


def declare(node, specs: list[ParamSpec]) -> None:
    """Declare every parameter with its type, description, range and read-only flag (values from
    overrides / the params file). A value out of its range raises ConfigError naming it."""
    for s in specs:
        try:
            _declare_one(node, s)
        except InvalidParameterValueException as e:
            m = re.search(r"value \((.*?)\) for parameter", str(e))
            got = f", got {m.group(1)}" if m else f" ({e})"
            what = f"must be {s.range.describe()}" if s.range is not None else "invalid value"
            raise ConfigError(f"parameter {s.name}: {what}{got}") from None


def _declare_one(node, s: ParamSpec) -> None:
    desc = s.descriptor()
    if isinstance(s.default, (list, tuple)) and not s.default:
        # an empty list cannot carry its type (rclpy would infer BYTE_ARRAY, and a YAML `[]`
        # arrives unset): declare typed, then give an unset value a typed empty list so that
        # get_parameters / `ros2 param dump` work
        p = node.declare_parameter(s.name, s.ros_type, desc)
        if p.type_ == Parameter.Type.NOT_SET:
            node.set_parameters([Parameter(s.name, s.ros_type, [])])
    else:
        node.declare_parameter(s.name, list(s.default) if isinstance(s.default, tuple) else s.default, desc)


def read(node, specs: list[ParamSpec]) -> dict:
    """{name: value} of the declared parameters; an unset list parameter reads as []."""
    out = {}
    for s in specs:
        p = node.get_parameter_or(s.name, Parameter(s.name, value=None))
        v = p.value
        if v is None:
            v = [] if isinstance(s.default, (list, tuple)) else s.default
        if isinstance(s.default, (list, tuple)):
            v = list(v)
        if isinstance(s.default, float) and isinstance(v, int):
            v = float(v)
        out[s.name] = v
    return out


def reject_runtime_changes(node, specs: list[ParamSpec]) -> None:
    names = {s.name for s in specs}

    def cb(params):
        bad = [p.name for p in params if p.name in names]
        if bad:
            return SetParametersResult(successful=False, reason=f"{', '.join(bad)}: read at start-up only; "
                                                                "restart the node with the new value")
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(cb)


class ParamNode:
    """Mixin for a node whose parameters are a fixed ``PARAMS`` list read once at start-up:
    ``__init__`` declares them, reads them into ``self.p``, rejects run-time changes, then calls
    the subclass's ``_setup()``; if anything raises, the half-built node is destroyed (no stray
    services in the graph) and the error propagates. Use as ``class X(ParamNode, Node)``."""

    PARAMS: list = []

    def __init__(self, node_name: str, **kwargs):
        super().__init__(node_name, **kwargs)
        try:
            declare(self, self.PARAMS)
            self.p = read(self, self.PARAMS)
            reject_runtime_changes(self, self.PARAMS)
            self._setup()
        except BaseException:
            self.destroy_node()  # leave no half-built node (and its services) in the graph
            raise

    def _setup(self) -> None:
        """Validate ``self.p`` and create publishers, subscriptions and timers."""


def spin_node(make_node, name: str, threads: int, args=None, config_errors=(ConfigError,)) -> int:
    """Console-script body shared by the nodes: init rclpy, build the node (a configuration
    error is logged as FATAL and exits 2), spin it on a MultiThreadedExecutor until Ctrl-C or
    shutdown, clean up. Returns the process exit code."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    rclpy.init(args=args)
    node = None
    try:
        try:
            node = make_node()
        except config_errors as e:
            rclpy.logging.get_logger(name).fatal(f"invalid configuration: {e}")
            return 2
        executor = MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        try:
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            executor.shutdown()
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
