"""dex1b_ros: an ament_python package (also installable with plain pip)."""
from glob import glob

from setuptools import find_packages, setup

package_name = "dex1b_ros"


def tree(pattern):
    return sorted(p for p in glob(pattern, recursive=True) if not p.endswith("/"))


data_files = [
    ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
    ("share/" + package_name, ["package.xml"]),
    ("share/" + package_name + "/launch", tree("launch/*.launch.py")),
    ("share/" + package_name + "/config", tree("config/*.yaml")),
    ("share/" + package_name + "/config/hands", tree("config/hands/*.yaml")),
    ("share/" + package_name + "/config/objects", tree("config/objects/*.yaml")),
]
for d in sorted({p.rsplit("/", 1)[0] for p in tree("models/**/*.*")}):
    data_files.append(("share/" + package_name + "/" + d, tree(d + "/*.*")))

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=[package_name, package_name + ".*"]),
    data_files=data_files,
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="dex1b_ros developers",
    maintainer_email="dev@dex1b-ros.invalid",
    description="Dexterous grasp planning (Dex1B / DexSimple) for LEAP and Allegro hands.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "dex1b = dex1b_ros.cli:main",
            "grasp_planner = dex1b_ros.ros.grasp_planner_node:main",
            "sim_camera = dex1b_ros.ros.sim_camera_node:main",
            "sim_hand = dex1b_ros.ros.sim_hand_node:main",
        ],
    },
)
