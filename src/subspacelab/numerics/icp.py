"""Simulated scenes and point-to-plane ICP on SE(3), as in DCReg's registration loop.

Everything here follows the official DCReg code (``DCReg/include/dcreg.hpp``, ``utils.hpp``):
per-query plane fits from the k = 5 nearest map points inside a 1 m radius (rejected when a neighbour
is more than 0.2 m off the plane), residual ``r = n^T (R p + t) + d``, robust weight
``w = max(0, 1 - 0.9 |r|)`` (kept when ``w > 0.1``) with its derivative in the Jacobian,
right-perturbation Jacobian ``[-n^T R [p]_x, n^T R]``, SE(3) box-plus ``T <- T Exp([w, v])``, at most
30 iterations, converged when ``||w|| < 1e-5`` and ``||v|| < 1e-3``.

Scenes (ours; the paper's simulated clouds are not published): a long corridor, a circular tunnel whose
axis is offset from the sensor, two parallel planes (floor and ceiling), a corridor with a few pillars
(ill-conditioned but observable) and a closed room (control). Each surface is sampled uniformly by
area, with isotropic Gaussian noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

# ----------------------------------------------------------------------------------------------
# SO(3) / SE(3)
# ----------------------------------------------------------------------------------------------


def skew(v: np.ndarray) -> np.ndarray:
    """``[v]_x`` with ``[v]_x u = v x u``."""
    x, y, z = np.asarray(v, dtype=float)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def so3_exp(w: np.ndarray) -> np.ndarray:
    """Rodrigues' formula ``Exp(w)`` (first order below 1e-10 rad, as the code)."""
    w = np.asarray(w, dtype=float)
    th = float(np.linalg.norm(w))
    if th < 1e-10:
        return np.eye(3) + skew(w)
    k = skew(w / th)
    return np.eye(3) + np.sin(th) * k + (1.0 - np.cos(th)) * (k @ k)


def so3_log(r: np.ndarray) -> np.ndarray:
    """Rotation vector of a rotation matrix (angle in [0, pi])."""
    r = np.asarray(r, dtype=float)
    c = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
    th = float(np.arccos(c))
    if th < 1e-12:
        return np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / 2.0
    if np.pi - th < 1e-6:  # near pi: axis from the symmetric part
        m = (r + np.eye(3)) / 2.0
        axis = np.sqrt(np.clip(np.diag(m), 0.0, None))
        i = int(np.argmax(axis))
        axis = m[:, i] / np.sqrt(m[i, i])
        return th * axis / np.linalg.norm(axis)
    v = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return th * v / (2.0 * np.sin(th))


def so3_left_jacobian(w: np.ndarray) -> np.ndarray:
    """Left Jacobian of SO(3), ``V(w)`` of the SE(3) exponential."""
    w = np.asarray(w, dtype=float)
    th = float(np.linalg.norm(w))
    k = skew(w)
    if th < 1e-10:
        return np.eye(3) + 0.5 * k
    return np.eye(3) + ((1.0 - np.cos(th)) / th**2) * k + ((th - np.sin(th)) / th**3) * (k @ k)


def se3_boxplus(r: np.ndarray, t: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-invariant update ``T <- T Exp([w; v])``: ``R <- R Exp(w)``, ``t <- t + R V(w) v``."""
    w, v = np.asarray(delta[:3], dtype=float), np.asarray(delta[3:], dtype=float)
    return r @ so3_exp(w), t + r @ (so3_left_jacobian(w) @ v)


@dataclass
class PoseError:
    trans_m: float
    rot_deg: float
    trans_vec: np.ndarray  # translation of gt^-1 * est (body frame of gt)
    rot_vec: np.ndarray  # rotation vector of gt^-1 * est (rad)


def pose_error(r_gt: np.ndarray, t_gt: np.ndarray, r: np.ndarray, t: np.ndarray) -> PoseError:
    """Error of an estimate as the code's ``CalculatePoseError``: ``E = T_gt^-1 T``; translation
    ``||t_E||`` (m) and rotation angle of ``R_E`` (degrees)."""
    r_e = r_gt.T @ r
    t_e = r_gt.T @ (t - t_gt)
    w = so3_log(r_e)
    return PoseError(float(np.linalg.norm(t_e)), float(np.degrees(np.linalg.norm(w))), t_e, w)


def random_perturbation(
    rng: np.random.Generator, trans_m: float, rot_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """A rotation of exactly ``rot_deg`` about a uniformly random axis and a translation of exactly
    ``trans_m`` in a uniformly random direction."""
    a = rng.normal(size=3)
    a /= np.linalg.norm(a)
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    return so3_exp(np.radians(rot_deg) * a), trans_m * d


# ----------------------------------------------------------------------------------------------
# Scenes
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    """Planar rectangle ``origin + s u + t v``, ``s in [0, a]``, ``t in [0, b]`` (u, v orthonormal)."""

    origin: tuple
    u: tuple
    v: tuple
    a: float
    b: float

    @property
    def area(self) -> float:
        return self.a * self.b

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        s = rng.uniform(0.0, self.a, n)[:, None]
        t = rng.uniform(0.0, self.b, n)[:, None]
        return np.asarray(self.origin) + s * np.asarray(self.u) + t * np.asarray(self.v)


@dataclass(frozen=True)
class Cylinder:
    """Cylinder of radius ``radius`` around the line ``{(x, cy, cz)}``, ``x in [x0, x1]``."""

    cy: float
    cz: float
    radius: float
    x0: float
    x1: float

    @property
    def area(self) -> float:
        return 2.0 * np.pi * self.radius * (self.x1 - self.x0)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x = rng.uniform(self.x0, self.x1, n)
        phi = rng.uniform(0.0, 2.0 * np.pi, n)
        return np.stack([x, self.cy + self.radius * np.cos(phi), self.cz + self.radius * np.sin(phi)], axis=1)


def box_faces(lo, hi, skip=()) -> list[Rect]:
    """The six faces of the axis-aligned box ``[lo, hi]`` as rectangles (names in ``skip`` left out:
    ``-x, +x, -y, +y, -z, +z``)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    d = hi - lo
    ex, ey, ez = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
    faces = {
        "-x": Rect(tuple(lo), ey, ez, d[1], d[2]),
        "+x": Rect((hi[0], lo[1], lo[2]), ey, ez, d[1], d[2]),
        "-y": Rect(tuple(lo), ex, ez, d[0], d[2]),
        "+y": Rect((lo[0], hi[1], lo[2]), ex, ez, d[0], d[2]),
        "-z": Rect(tuple(lo), ex, ey, d[0], d[1]),
        "+z": Rect((lo[0], lo[1], hi[2]), ex, ey, d[0], d[1]),
    }
    return [f for k, f in faces.items() if k not in skip]


# Geometry of each scene (metres; the sensor sits at the origin, off-centre on purpose so that H has
# rotation-translation coupling). ``half`` is the half-length of the part that is sampled.
CORRIDOR = {"y": (-1.2, 1.8), "z": (-1.0, 2.0)}
TUNNEL = {"cy": 0.0, "cz": 1.2, "radius": 3.0}
PLANES = {"z": (-1.5, 2.0)}
ROOM = {"lo": (-6.0, -3.0, -1.2), "hi": (4.0, 5.0, 1.8)}
PILLARS = {"x": (-21.0, -7.0, 8.0, 22.0), "width": 1.0, "depth": 0.5}

SCENES = ("corridor", "tunnel", "planes", "room", "corridor_pillars")

# Degenerate physical axes of each scene, from its geometry (null space of the noise-free H):
#  corridor: translation along the corridor (x).
#  tunnel: translation along the axis (x) and rotation about the tunnel axis, which for a sensor 1.2 m
#          below the axis is roll combined with a y translation, so the marginal (Schur) information of
#          roll and of y both vanish.
#  planes: x, y translation and yaw (rotation about the planes' normal).
#  corridor_pillars: x is observable only through the pillars' end faces (ill-conditioned).
#  room: none.
EXPECTED_MASK = {
    "corridor": (False, False, False, True, False, False),
    "tunnel": (True, False, False, True, True, False),
    "planes": (False, False, True, True, True, False),
    "corridor_pillars": (False, False, False, True, False, False),
    "room": (False, False, False, False, False, False),
}


def scene_surfaces(scene: str, half: float) -> list:
    """The surfaces of ``scene`` restricted to ``|x| <= half`` (and ``|y| <= half`` for planes)."""
    if scene in ("corridor", "corridor_pillars"):
        (y0, y1), (z0, z1) = CORRIDOR["y"], CORRIDOR["z"]
        surf = box_faces((-half, y0, z0), (half, y1, z1), skip=("-x", "+x"))
        if scene == "corridor_pillars":
            w, dep = PILLARS["width"], PILLARS["depth"]
            for i, xc in enumerate(PILLARS["x"]):
                if abs(xc) + w / 2 > half:
                    continue
                if i % 2 == 0:  # against the -y wall: faces -x, +x, +y exposed
                    surf += box_faces(
                        (xc - w / 2, y0, z0), (xc + w / 2, y0 + dep, z1), skip=("-y", "-z", "+z")
                    )
                else:  # against the +y wall
                    surf += box_faces(
                        (xc - w / 2, y1 - dep, z0), (xc + w / 2, y1, z1), skip=("+y", "-z", "+z")
                    )
        return surf
    if scene == "tunnel":
        return [Cylinder(TUNNEL["cy"], TUNNEL["cz"], TUNNEL["radius"], -half, half)]
    if scene == "planes":
        z0, z1 = PLANES["z"]
        ex, ey = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
        return [
            Rect((-half, -half, z0), ex, ey, 2 * half, 2 * half),
            Rect((-half, -half, z1), ex, ey, 2 * half, 2 * half),
        ]
    if scene == "room":
        return box_faces(ROOM["lo"], ROOM["hi"])
    raise ValueError(f"unknown scene {scene!r}; expected one of {SCENES}")


def _inside_pillars(p: np.ndarray, half: float) -> np.ndarray:
    """Points strictly hidden by a pillar (on the wall, floor or ceiling behind / under it)."""
    (y0, y1), (z0, z1) = CORRIDOR["y"], CORRIDOR["z"]
    w, dep = PILLARS["width"], PILLARS["depth"]
    hidden = np.zeros(len(p), dtype=bool)
    eps = 1e-9
    for i, xc in enumerate(PILLARS["x"]):
        lo_y, hi_y = (y0, y0 + dep) if i % 2 == 0 else (y1 - dep, y1)
        inx = (p[:, 0] > xc - w / 2 + eps) & (p[:, 0] < xc + w / 2 - eps)
        iny = (p[:, 1] >= lo_y - eps) & (p[:, 1] <= hi_y + eps)
        # the wall behind the pillar and the floor / ceiling under it
        behind = (
            inx
            & iny
            & (
                (np.abs(p[:, 1] - (y0 if i % 2 == 0 else y1)) < eps)
                | (np.abs(p[:, 2] - z0) < eps)
                | (np.abs(p[:, 2] - z1) < eps)
            )
        )
        hidden |= behind
    return hidden


def sample_scene(scene: str, n: int, rng: np.random.Generator, half: float, noise: float = 0.0) -> np.ndarray:
    """``n`` points drawn uniformly by area from the scene's surfaces (``|x| <= half``), plus
    isotropic Gaussian noise of standard deviation ``noise``."""
    surf = scene_surfaces(scene, half)
    areas = np.array([s.area for s in surf])
    pts = []
    need = n
    while need > 0:  # pillars hide some wall points: redraw until n are visible
        counts = rng.multinomial(int(need * 1.1) + 8, areas / areas.sum())
        batch = np.concatenate([s.sample(int(c), rng) for s, c in zip(surf, counts, strict=True)], axis=0)
        if scene == "corridor_pillars":
            batch = batch[~_inside_pillars(batch, half)]
        batch = batch[rng.permutation(len(batch))]
        pts.append(batch[:need])
        need -= len(pts[-1])
    p = np.concatenate(pts, axis=0)
    return p + noise * rng.normal(size=p.shape) if noise > 0 else p


def surface_normals(scene: str, pts: np.ndarray, half: float, tol: float = 1e-6) -> np.ndarray:
    """Exact unit normals of noise-free scene points (the surface each point lies on; NaN where a
    point is on none). Used to check a scene's geometry independently of the local plane fits."""
    out = np.full(pts.shape, np.nan)
    for surf in scene_surfaces(scene, half):
        if isinstance(surf, Rect):
            o, u, v = (np.asarray(a, dtype=float) for a in (surf.origin, surf.u, surf.v))
            nrm = np.cross(u, v)
            q = pts - o
            s, w = q @ u, q @ v
            on = (
                (np.abs(q @ nrm) < tol)
                & (s >= -tol)
                & (s <= surf.a + tol)
                & (w >= -tol)
                & (w <= surf.b + tol)
            )
            out[on] = nrm
        else:
            radial = pts[:, 1:] - np.array([surf.cy, surf.cz])
            rad = np.linalg.norm(radial, axis=1)
            on = (
                (np.abs(rad - surf.radius) < tol)
                & (pts[:, 0] >= surf.x0 - tol)
                & (pts[:, 0] <= surf.x1 + tol)
            )
            out[on] = np.column_stack([np.zeros(on.sum()), radial[on] / rad[on, None]])
    return out


def _ray_hits(surf, dirs: np.ndarray) -> np.ndarray:
    """Distance along each unit ray from the origin to ``surf`` (inf where it misses)."""
    if isinstance(surf, Rect):
        o, u, v = (np.asarray(a, dtype=float) for a in (surf.origin, surf.u, surf.v))
        nrm = np.cross(u, v)
        den = dirs @ nrm
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (o @ nrm) / den
        q = t[:, None] * dirs - o
        s, w = q @ u, q @ v
        ok = (np.abs(den) > 1e-12) & (t > 1e-9) & (s >= 0) & (s <= surf.a) & (w >= 0) & (w <= surf.b)
        return np.where(ok, t, np.inf)
    # cylinder around x: (t dy - cy)^2 + (t dz - cz)^2 = R^2 (origin inside: one positive root)
    dy, dz = dirs[:, 1], dirs[:, 2]
    a = dy**2 + dz**2
    bq = -2.0 * (dy * surf.cy + dz * surf.cz)
    c = surf.cy**2 + surf.cz**2 - surf.radius**2
    disc = bq**2 - 4.0 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-bq + np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a)
    x = t * dirs[:, 0]
    ok = (a > 1e-12) & (disc >= 0) & (t > 1e-9) & (x >= surf.x0) & (x <= surf.x1)
    return np.where(ok, t, np.inf)


def lidar_scan(
    scene: str,
    n: int,
    rng: np.random.Generator,
    half: float,
    noise: float = 0.0,
    channels: int = 32,
    fov_deg: float = 45.0,
    azimuth_steps: int = 1024,
    max_range: float = 40.0,
) -> np.ndarray:
    """A spinning-LiDAR scan from the origin (``channels`` beams evenly over ``+-fov_deg/2`` elevation,
    ``azimuth_steps`` per turn with a random azimuth offset), ray-cast against the scene's surfaces
    (``|x| <= half``), returns within ``max_range`` kept, ``n`` of them drawn at random, plus Gaussian
    noise. [ours: a generic 32-beam sensor; the paper's simulator settings are not published]"""
    elev = np.radians(np.linspace(-fov_deg / 2, fov_deg / 2, channels))
    az = rng.uniform(0, 2 * np.pi / azimuth_steps) + np.arange(azimuth_steps) * 2 * np.pi / azimuth_steps
    el, a = np.meshgrid(elev, az, indexing="ij")
    dirs = np.stack([np.cos(el) * np.cos(a), np.cos(el) * np.sin(a), np.sin(el)], axis=-1).reshape(-1, 3)
    surf = scene_surfaces(scene, half)
    dist = np.min(np.stack([_ray_hits(s, dirs) for s in surf], axis=1), axis=1)
    hit = np.isfinite(dist) & (dist <= max_range)
    pts = dirs[hit] * dist[hit][:, None]
    if pts.shape[0] < n:
        raise ValueError(f"the scan of {scene!r} has only {pts.shape[0]} returns (< {n})")
    pts = pts[rng.choice(pts.shape[0], size=n, replace=False)]
    return pts + noise * rng.normal(size=pts.shape) if noise > 0 else pts


# ----------------------------------------------------------------------------------------------
# Point-to-plane linear system
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ICPParams:
    """Registration constants of the code (utils.hpp ``SolverParameters``)."""

    search_radius: float = 1.0
    neighbors: int = 5
    max_plane_thickness: float = 0.2
    weight_slope: float = 0.9
    min_weight: float = 0.1
    use_weight_derivative: bool = True
    max_iterations: int = 30
    convergence_rot: float = 1e-5
    convergence_trans: float = 1e-3
    min_correspondences: int = 10


def fit_planes(nbrs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares planes through batches of neighbourhoods ``(N, k, 3)``: unit normals (N, 3),
    offsets ``d`` with ``n^T q + d = 0`` and the largest |distance| of a neighbour to its plane.

    [reconstructed] The code solves ``[x y z] a = -1`` (undefined for planes through the origin, which
    our scenes have); we use the total-least-squares (PCA) plane, the same plane when both exist."""
    c = nbrs.mean(axis=1)
    x = nbrs - c[:, None, :]
    cov = np.einsum("nki,nkj->nij", x, x)
    _, vecs = np.linalg.eigh(cov)
    normal = vecs[:, :, 0]
    d = -np.einsum("ni,ni->n", normal, c)
    dist = np.abs(np.einsum("nkj,nj->nk", nbrs, normal) + d[:, None])
    return normal, d, dist.max(axis=1)


def point_to_plane_jacobian(p: np.ndarray, n: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Rows ``[-n_i^T R [p_i]_x, n_i^T R]`` (N, 6): derivative of ``n_i^T (R p_i + t) + d_i`` under
    ``T <- T Exp([w; v])`` at ``w = v = 0``. With ``a = R^T n``: ``-a^T [p]_x = (p x a)^T``."""
    a = n @ r  # rows a_i^T = n_i^T R
    return np.concatenate([np.cross(p, a), a], axis=1)


@dataclass
class LinearSystem:
    h: np.ndarray
    b: np.ndarray
    n_corr: int
    rmse: float


def point_to_plane_system(
    src: np.ndarray,
    r: np.ndarray,
    t: np.ndarray,
    tree: cKDTree,
    target: np.ndarray,
    params: ICPParams = ICPParams(),
) -> LinearSystem:
    """Correspondences and normal equations ``H = J^T J``, ``b = -J^T e`` at the pose ``(R, t)``.

    Row i: ``e_i = w_i r_i``; ``J_i = (w_i + r_i dw_i/dr_i) [-n_i^T R [p_i]_x, n_i^T R]`` (code:
    ``BuildWeightedLinearSystem`` with ``ComputeSe3PointToPlaneJacobian``)."""
    world = src @ r.T + t
    dist, idx = tree.query(world, k=params.neighbors)
    ok = np.all(np.isfinite(dist), axis=1) & (dist[:, -1] ** 2 < params.search_radius**2)
    idx_ok = np.flatnonzero(ok)
    if idx_ok.size == 0:
        return LinearSystem(np.zeros((6, 6)), np.zeros(6), 0, float("nan"))
    normal, d, thick = fit_planes(target[idx[idx_ok]])
    res = np.einsum("ni,ni->n", normal, world[idx_ok]) + d
    w = np.maximum(0.0, 1.0 - params.weight_slope * np.abs(res))
    keep = (thick < params.max_plane_thickness) & (w > params.min_weight)
    p, n, res, w = src[idx_ok][keep], normal[keep], res[keep], w[keep]
    if p.shape[0] == 0:
        return LinearSystem(np.zeros((6, 6)), np.zeros(6), 0, float("nan"))
    j = point_to_plane_jacobian(p, n, r)
    scale = w.copy()
    if params.use_weight_derivative:
        inner = (w > 0.0) & (w < 1.0)
        scale = scale + np.where(inner, res * (-params.weight_slope * np.sign(res)), 0.0)
    jw = j * scale[:, None]
    e = w * res
    return LinearSystem(jw.T @ jw, -(jw.T @ e), int(p.shape[0]), float(np.sqrt(np.mean(res**2))))


# ----------------------------------------------------------------------------------------------
# The ICP loop
# ----------------------------------------------------------------------------------------------

Solver = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, dict]]


@dataclass
class ICPResult:
    r: np.ndarray
    t: np.ndarray
    iterations: int
    converged: bool
    failure: str
    seconds: float  # wall time of the whole loop (correspondences + solves)
    solve_seconds: float  # wall time inside the solver
    history: list  # per iteration: the solver's info dict + n_corr, rmse, step norms
    systems: list  # per iteration: (H, b) if requested


def icp(
    src: np.ndarray,
    target: np.ndarray,
    tree: cKDTree,
    r0: np.ndarray,
    t0: np.ndarray,
    solver: Solver,
    params: ICPParams = ICPParams(),
    keep_systems: bool = False,
) -> ICPResult:
    """Point-to-plane Gauss-Newton ICP from ``(R0, t0)``; ``solver(H, b) -> (delta, info)`` computes
    the update (plain QR, DCReg, or a baseline). Stops when the rotation and translation steps are
    both below the thresholds, after ``max_iterations``, or with too few correspondences."""
    r, t = np.array(r0, dtype=float), np.array(t0, dtype=float)
    history, systems = [], []
    solve_s = 0.0
    converged, failure, its = False, "", 0
    start = time.perf_counter()
    for it in range(params.max_iterations):
        sys = point_to_plane_system(src, r, t, tree, target, params)
        if sys.n_corr < params.min_correspondences:
            failure = "too few correspondences"
            break
        s0 = time.perf_counter()
        delta, info = solver(sys.h, sys.b)
        solve_s += time.perf_counter() - s0
        if not np.all(np.isfinite(delta)):
            failure = "non-finite update"
            break
        r, t = se3_boxplus(r, t, delta)
        its = it + 1
        rot_step, trans_step = float(np.linalg.norm(delta[:3])), float(np.linalg.norm(delta[3:]))
        history.append(
            {**info, "n_corr": sys.n_corr, "rmse": sys.rmse, "rot_step": rot_step, "trans_step": trans_step}
        )
        if keep_systems:
            systems.append((sys.h, sys.b))
        if rot_step < params.convergence_rot and trans_step < params.convergence_trans:
            converged = True
            break
    if not converged and not failure:
        failure = "max iterations"
    return ICPResult(r, t, its, converged, failure, time.perf_counter() - start, solve_s, history, systems)
