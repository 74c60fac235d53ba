"""``ValidatorConfig``: every number of the MuJoCo grasp test (DexGraspBench protocol).

Units: metres, seconds, kilograms, newtons, degrees where a field says ``_deg``. Frames: the
object frame is the simulation world frame (the object starts at the origin, identity
orientation); the six test directions are +-x, +-y, +-z of that frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config_utils import fail
from ..geometry.decompose import DecompositionConfig

#: Names of the six test directions, in the order used by every (B, 6) result array.
DIRECTION_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")


@dataclass
class ValidatorConfig:
    """Protocol, scene and speed settings of :class:`~dex1b_ros.validate.GraspValidator`.

    The defaults are the DexGraspBench protocol (see docs/validator.md). Invalid values raise
    ``ValueError`` (``ConfigError``) whose message starts with the field name.
    """

    # --- physics -------------------------------------------------------------------------
    timestep: float = 0.004               # s, simulation step
    integrator: str = "implicitfast"      # MuJoCo integrator name (euler | implicit | implicitfast | rk4)
    cone: str = "elliptic"                # friction cone (elliptic | pyramidal)
    impratio: float = 10.0                # -, ratio of frictional to normal constraint impedance
    gravity: bool = False                 # gravity off in the protocol (the test force replaces it)
    solver_iterations: int = 100          # -, MuJoCo solver iterations (MuJoCo default)

    # --- object --------------------------------------------------------------------------
    object_mass: float = 0.1              # kg, whole object (split over convex parts by volume)
    friction: float = 0.6                 # -, tangential friction coefficient of every object contact
    torsional_friction: float = 0.02      # m, torsional friction (needs condim >= 4)
    rolling_friction: float = 0.0         # m, rolling friction (used only with condim 6)
    condim: int = 4                       # -, contact dimensionality of object contacts (3, 4 or 6)
    maxhullvert: int = 64                 # -, max vertices of each object collision hull (-1 = no limit)
    object_collision: str = "decomposition"  # decomposition (CoACD parts, cached) | hull (one convex hull: fast,
                                             #    wrong on concave objects)
    decomposition: DecompositionConfig = field(default_factory=DecompositionConfig)  # how a mesh becomes convex parts

    # --- hand actuation (overrides of the hand MJCF's weak position actuators) -----------
    actuator_kp: float | None = 10.0      # N*m/rad, position gain of every finger actuator; None = keep MJCF
    actuator_kv: float | None = None      # N*m*s/rad, velocity gain; None = keep MJCF
    actuator_forcerange: float | None = 2.0  # N*m, symmetric torque limit |tau| <= value; None = no limit

    # --- pre-filter ------------------------------------------------------------------------
    max_penetration: float = 0.01         # m, reject if hand-object (or hand-table) penetration exceeds it
                                          #    at the grasp pose
    max_self_penetration: float = 0.01    # m, reject if hand-hand penetration exceeds it at the grasp pose

    # --- test sequence -----------------------------------------------------------------------
    pregrasp_to_grasp_time: float = 0.4   # s, actuator targets interpolated pregrasp -> grasp
    grasp_to_squeeze_time: float = 0.4    # s, actuator targets interpolated grasp -> squeeze
    force_scale: float = 10.0             # -, external force magnitude = force_scale * object_mass (N, no g)
    hold_time: float = 2.0                # s, force applied and held per direction
    max_displacement: float = 0.05        # m, success needs object translation < this in every direction
    max_rotation_deg: float = 15.0        # deg, success needs object rotation < this in every direction

    # --- real-contact check (refuses grasps "held" by squeezing air) ---------------------------
    require_real_contact: bool = True     # success also needs no_real_contact == False
    real_contact_tol: float = 0.003       # m, a hand link "touches" at the grasp pose if within this distance
                                          #    of the object
    min_contact_links: int = 2            # -, distinct hand links needed, at the grasp pose AND after squeezing

    # --- tabletop variant ------------------------------------------------------------------------
    table_clearance: float = 0.0          # m, gap between the object's lowest point and the table top
                                          #    (z of object frame)
    lift_height: float = 0.1              # m, how far the hand is lifted (+z)
    lift_time: float = 1.0                # s, duration of the lift (linear)
    lift_hold_time: float = 0.5           # s, hold after the lift before measuring
    tabletop_force_scale: float = 10.0    # -, the -z force on the object during the lift = scale * mass (N)
    lift_kp: float = 5000.0               # N/m, position gain of the hand's lift slide joint
    lift_kv: float = 200.0                # N*s/m, its damping gain

    # --- speed (never changes a verdict; see docs/validator.md) --------------------------------
    early_exit: bool = True               # stop at the first failed direction (later directions reported
                                          #    NaN / failed=False)
    share_closing: bool = True            # simulate pregrasp->grasp->squeeze once and copy the state to every direction
    hold_exit_factor: float = 3.0         # -, end a direction early once translation > factor * max_displacement
                                          #    and no hand-object contact remains (object flew off); <= 0 disables

    def __post_init__(self):
        pos = ("timestep", "impratio", "object_mass", "pregrasp_to_grasp_time", "grasp_to_squeeze_time",
               "force_scale", "hold_time", "max_displacement", "max_rotation_deg", "lift_time", "lift_kp")
        for name in pos:
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                fail(name, f"must be a number > 0, got {v!r}")
        nonneg = ("friction", "torsional_friction", "rolling_friction", "max_penetration", "max_self_penetration",
                  "real_contact_tol", "table_clearance", "lift_height", "lift_hold_time", "tabletop_force_scale",
                   "lift_kv")
        for name in nonneg:
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0):
                fail(name, f"must be a number >= 0, got {v!r}")
        if self.timestep > 0.02:
            fail("timestep", f"{self.timestep} s is too coarse for contact-rich grasping (<= 0.02 s)")
        if self.integrator not in ("euler", "implicit", "implicitfast", "rk4"):
            fail("integrator", f"expected euler | implicit | implicitfast | rk4, got {self.integrator!r}")
        if self.cone not in ("elliptic", "pyramidal"):
            fail("cone", f"expected elliptic | pyramidal, got {self.cone!r}")
        if self.object_collision not in ("decomposition", "hull"):
            fail("object_collision", f"expected decomposition | hull, got {self.object_collision!r}")
        if self.condim not in (3, 4, 6):
            fail("condim", f"expected 3, 4 or 6, got {self.condim!r}")
        if self.maxhullvert != -1 and self.maxhullvert < 4:
            fail("maxhullvert", f"must be -1 (no limit) or >= 4, got {self.maxhullvert}")
        if self.solver_iterations < 1:
            fail("solver_iterations", f"must be >= 1, got {self.solver_iterations}")
        for name in ("actuator_kp", "actuator_forcerange"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                fail(name, f"must be > 0 or null, got {v!r}")
        if self.actuator_kv is not None and self.actuator_kv < 0:
            fail("actuator_kv", f"must be >= 0 or null, got {self.actuator_kv!r}")
        if self.min_contact_links < 0:
            fail("min_contact_links", f"must be >= 0, got {self.min_contact_links}")
        if self.hold_exit_factor > 0 and self.hold_exit_factor < 1:
            fail("hold_exit_factor", f"must be >= 1 (or <= 0 to disable), got {self.hold_exit_factor}")

    # derived step counts (rounded to whole steps)
    def steps(self, seconds: float) -> int:
        """Number of simulation steps covering ``seconds``."""
        return max(1, int(round(seconds / self.timestep)))

    @property
    def force(self) -> float:
        """N, magnitude of the external test force."""
        return self.force_scale * self.object_mass

    def reference(self) -> "ValidatorConfig":
        """The slow reference mode of this config: no early exit of any kind, full
        re-simulation of the closing phase for every direction."""
        from dataclasses import replace
        return replace(self, early_exit=False, share_closing=False, hold_exit_factor=0.0)
