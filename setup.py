"""dex1b_ros: an ament_python package (also installable with plain pip).

Everything the code reads at run time is installed under ``share/dex1b_ros/`` (the layout of
the repository root): package.xml, config/**, models/** (generator weights + model cards) and
launch/**, found again by ``dex1b_ros.resources``. The folders are walked recursively, so new
files (a third hand's YAML, a new model) are picked up without editing this file.
"""
import os

from setuptools import find_packages, setup

package_name = "dex1b_ros"
SHARE = "share/" + package_name
#: Folders installed recursively under share/dex1b_ros/ (all files but caches and hidden ones).
DATA_DIRS = ("config", "models", "launch")


def tree(top):
    """[(install dir, [files])] for every folder under ``top`` that holds files, sorted."""
    out = []
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and x != "__pycache__")
        keep = sorted(os.path.join(d, f) for f in files if not f.startswith(".") and not f.endswith((".pyc", "~")))
        if keep:
            out.append((SHARE + "/" + d.replace(os.sep, "/"), keep))
    return sorted(out)


data_files = [
    ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
    (SHARE, ["package.xml"]),
]
for top in DATA_DIRS:
    data_files += tree(top)

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
            "grasp_executive = dex1b_ros.ros.grasp_executive_node:main",
        ],
    },
)
