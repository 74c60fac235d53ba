"""Declared, typed, documented ROS parameters from one table per node.

Each node lists its parameters once as :class:`ParamSpec` rows; :func:`declare` declares them
(type from the default, description shown by ``ros2 param describe``), :func:`read` returns a
plain dict, and the launch/config drift test reads the same tables. Parameters are read at
start-up; :func:`reject_runtime_changes` refuses later ``set`` calls with a clear reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.parameter import Parameter

from ..config_utils import ConfigError

_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
          str: Parameter.Type.STRING}


@dataclass(frozen=True)
class ParamSpec:
    name: str                  # parameter name; dots = YAML nesting (``trajectory.open_time``)
    default: object            # default value; its Python type fixes the ROS type
    description: str           # with units
    array_of: type | None = None  # element type for list parameters (needed when the default is empty)

    @property
    def ros_type(self) -> Parameter.Type:
        if isinstance(self.default, (list, tuple)):
            el = self.array_of or (type(self.default[0]) if self.default else None)
            return {bool: Parameter.Type.BOOL_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                    float: Parameter.Type.DOUBLE_ARRAY, str: Parameter.Type.STRING_ARRAY}[el]
        return _TYPES[type(self.default)]


def declare(node, specs: list[ParamSpec]) -> None:
    """Declare every parameter with its type and description (values from overrides/params file)."""
    for s in specs:
        desc = ParameterDescriptor(description=s.description, type=s.ros_type.value)
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
