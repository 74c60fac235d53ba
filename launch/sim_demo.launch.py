"""Simulated demo: sim_camera -> grasp_planner -> sim_hand (a real ROS 2 Jazzy install).

    ros2 launch dex1b_ros sim_demo.launch.py hand:=leap object:=ycb:006_mustard_bottle

The camera publishes a cloud of the object on a table every 2 s; the planner plans on each
cloud that arrives while it is idle and publishes the chosen grasp's wrist pose and trajectory;
the sim hand executes it, lifts 10 cm and publishes `object_held` and `sim_hand_status`.
Equivalent without `launch`: start the three console scripts with
`--ros-args --params-file config/<node>.yaml` plus the overrides below as `-p name:=value`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    hand = LaunchConfiguration("hand")
    obj = LaunchConfiguration("object")
    planner_params = LaunchConfiguration("params_file")
    camera_params = LaunchConfiguration("camera_params_file")
    hand_params = LaunchConfiguration("hand_params_file")
    share = FindPackageShare("dex1b_ros")
    return LaunchDescription([
        DeclareLaunchArgument("hand", default_value="leap", description="hand: leap | allegro"),
        DeclareLaunchArgument("object", default_value="ycb:006_mustard_bottle",
                              description="object id for the camera and the sim hand"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([share, "config", "grasp_planner.yaml"]),
                              description="params file of grasp_planner"),
        DeclareLaunchArgument("camera_params_file",
                              default_value=PathJoinSubstitution([share, "config", "sim_camera.yaml"]),
                              description="params file of sim_camera"),
        DeclareLaunchArgument("hand_params_file",
                              default_value=PathJoinSubstitution([share, "config", "sim_hand.yaml"]),
                              description="params file of sim_hand"),
        Node(package="dex1b_ros", executable="sim_camera", name="sim_camera", output="screen",
             parameters=[camera_params, {"object": obj, "rate_hz": 0.5}]),
        Node(package="dex1b_ros", executable="grasp_planner", name="grasp_planner", output="screen",
             parameters=[planner_params, {"hand": hand, "plan_on_cloud": True, "execute_on_cloud": True}]),
        Node(package="dex1b_ros", executable="sim_hand", name="sim_hand", output="screen",
             parameters=[hand_params, {"hand": hand, "object": obj}]),
    ])
