"""Launch the grasp planner node alone (a real ROS 2 Jazzy install; `launch` is not pip-installable).

    ros2 launch dex1b_ros grasp_planner.launch.py hand:=allegro
    ros2 launch dex1b_ros grasp_planner.launch.py params_file:=/path/to/my_grasp_planner.yaml

Equivalent without `launch` (what the tests run):
    grasp_planner --ros-args --params-file config/grasp_planner.yaml -p hand:=leap
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    hand = LaunchConfiguration("hand")
    params_file = LaunchConfiguration("params_file")
    return LaunchDescription([
        DeclareLaunchArgument("hand", default_value="leap", description="hand to plan for: leap | allegro"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("dex1b_ros"), "config", "grasp_planner.yaml"]),
            description="ROS 2 params file of the grasp_planner node"),
        Node(package="dex1b_ros", executable="grasp_planner", name="grasp_planner", output="screen",
             parameters=[params_file, {"hand": hand}]),
    ])
