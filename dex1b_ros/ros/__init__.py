"""ROS 2 adapters of the grasp planner: message conversion, nodes, hardware stand-ins.

Only this subpackage imports rclpy and the ``*_msgs`` packages; the core (hands, geometry,
planner, perception, validate) never does. Message conversion lives in one module,
:mod:`dex1b_ros.ros.conversions`.

Console scripts (see setup.py): ``grasp_planner``, ``sim_camera``, ``sim_hand``.
"""
