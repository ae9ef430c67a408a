"""A batch of 9-point "weighted mean of the neighbours" systems on one pixel grid, one mask each, solved together by
conjugate gradient preconditioned with a geometric multigrid V-cycle (numpy only).

Why: ROAD solves 8 such systems per map (imputation.py). Jacobi-preconditioned CG needs 100-450 iterations on a
class-activation map's removed blob, and a sparse factorisation 30-50 ms per system at 128² and 100-230 ms at
224²; this takes 9-16 iterations whatever the mask, for all systems of a map at once.

The grids: level 0 is the image, removed pixels active. Each coarser level merges 2×2 cells (an aggregate is
active when any of its cells is) and its stencil is the Galerkin product Pᵀ A P for the piecewise-constant P, so
it stays 9-point, symmetric, and knows the kept pixels' boundary exactly. The V-cycle is one damped-Jacobi sweep
before and after the coarse correction (scaled by OVERCORRECT: piecewise-constant aggregation underestimates
smooth corrections about two-fold), and an exact solve on the coarsest grid (at most COARSEST cells). With the
same sweeps before and after and an SPD coarsest solve, the V-cycle is a symmetric positive definite
preconditioner for any correction scale, so CG stays valid.

Stop: the preconditioned residual z = B r approximates the error (B ≈ A⁻¹); iteration stops when |z| ≤ STOP in
every system, 50 times under the 0.05 grey levels imputation.py promises (measured errors stay 3-50x below that
promise: tests/test_road.py compares with an exact solve). A system not converged in `iterations` is reported
so the caller can solve it exactly.
"""

from __future__ import annotations

import numpy as np

OFFSETS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
CENTRE = (0, 0)
OMEGA = 0.8  # Jacobi damping: ω λmax(D⁻¹A) < 2 on every level keeps the preconditioner positive definite
OVERCORRECT = 1.5  # 9-14 CG iterations measured (1.0: 16-21, 2.0: 12-16) on map, random and edge masks
COARSEST = 64  # cells: solved by a dense inverse per system
STOP = 0.001  # grey levels, on the preconditioned residual
ITERATIONS = 60


def shifted(u: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    """out[..., i, j] = u[..., i + dr, j + dc], zero outside the grid."""
    dr, dc = offset
    h, w = u.shape[-2:]
    out = np.zeros_like(u)
    out[..., max(0, -dr):min(h, h - dr), max(0, -dc):min(w, w - dc)] = \
        u[..., max(0, dr):min(h, h + dr), max(0, dc):min(w, w + dc)]
    return out


class Grid:
    """One level: stencil[offset] (B, h, w) = A's entry between a cell and its neighbour at offset.

    Given `weights` ({offset: w}, the fine grid's), A u = active · (centre · u - Σ w u[neighbour]) for vectors that
    are zero on inactive cells (every vector CG and the V-cycle make): one 3×3 filter per system instead of nine
    products, most of the solve's time otherwise."""

    def __init__(self, stencil: dict[tuple[int, int], np.ndarray], active: np.ndarray,
                 weights: dict[tuple[int, int], float] | None = None):
        self.stencil = stencil
        self.active = active
        self.zero_inactive = active.astype(np.float64)  # multiplies as the bool array, unconverted each time
        self.diagonal = np.where(active, stencil[CENTRE], 1.0)  # an inactive cell is an identity row
        self.offsets = [d for d in OFFSETS if d != CENTRE and stencil[d].any()]
        self.kernel = None
        if weights is not None:
            self.kernel = np.zeros((3, 3))
            for (dr, dc), weight in weights.items():
                self.kernel[1 + dr, 1 + dc] = weight

    @property
    def shape(self) -> tuple[int, ...]:
        return self.active.shape

    def apply(self, u: np.ndarray) -> np.ndarray:
        if self.kernel is not None:
            import cv2

            u = np.ascontiguousarray(u)
            around = np.empty_like(u)
            for plane, into in zip(u, around, strict=True):  # filtered in place: no stacked copy
                cv2.filter2D(plane, -1, self.kernel, dst=into, borderType=cv2.BORDER_CONSTANT)
            out = self.stencil[CENTRE] * u
            out -= around
            out *= self.zero_inactive
            return out
        b, h, w = u.shape
        padded = np.zeros((b, h + 2, w + 2))
        padded[:, 1:-1, 1:-1] = u
        out = self.stencil[CENTRE] * u
        term = np.empty_like(out)
        for dr, dc in self.offsets:
            out += np.multiply(self.stencil[dr, dc], padded[:, 1 + dr:1 + dr + h, 1 + dc:1 + dc + w], out=term)
        return out

    def coarser(self) -> Grid:
        b, h, w = self.shape
        even = (b, h + h % 2, w + w % 2)
        stencil = {d: np.zeros((b, even[1] // 2, even[2] // 2)) for d in OFFSETS}
        for dr, dc in [CENTRE, *self.offsets]:
            fine = np.zeros(even)
            fine[:, :h, :w] = self.stencil[dr, dc]
            for a in (0, 1):  # a cell's place in its 2×2 aggregate decides which aggregate its neighbour is in
                for c in (0, 1):
                    stencil[(a + dr) // 2, (c + dc) // 2] += fine[:, a::2, c::2]
        return Grid(stencil, restrict(self.active, even).astype(bool))


def restrict(r: np.ndarray, even: tuple[int, ...]) -> np.ndarray:
    """Sum over each 2×2 aggregate (Pᵀ), the grid padded to even sides."""
    padded = np.zeros(even, r.dtype if r.dtype != bool else np.int8)
    padded[:, :r.shape[1], :r.shape[2]] = r
    return padded[:, 0::2, 0::2] + padded[:, 1::2, 0::2] + padded[:, 0::2, 1::2] + padded[:, 1::2, 1::2]


def dense_inverse(grid: Grid) -> np.ndarray:
    """(B, n, n) inverses of the coarsest grid's matrices, inactive cells as identity rows."""
    b, h, w = grid.shape
    n = h * w
    matrix = np.zeros((b, n, n))
    cell = np.arange(n).reshape(h, w)
    for dr, dc in [CENTRE, *grid.offsets]:
        for i in range(max(0, -dr), min(h, h - dr)):
            for j in range(max(0, -dc), min(w, w - dc)):
                matrix[:, cell[i, j], cell[i + dr, j + dc]] = grid.stencil[dr, dc][:, i, j]
    inactive = ~grid.active.reshape(b, n)
    matrix[inactive[:, :, None] | inactive[:, None, :]] = 0.0
    matrix[:, np.arange(n), np.arange(n)] += inactive
    return np.linalg.inv(matrix)


class Multigrid:
    def __init__(self, fine: Grid):
        self.grids = [fine]
        while self.grids[-1].shape[1] * self.grids[-1].shape[2] > COARSEST:
            self.grids.append(self.grids[-1].coarser())
        self.inverse = dense_inverse(self.grids[-1])

    def cycle(self, r: np.ndarray, level: int = 0) -> np.ndarray:
        """B r: one V-cycle from zero."""
        grid = self.grids[level]
        if level == len(self.grids) - 1:
            b, h, w = r.shape
            return (self.inverse @ r.reshape(b, h * w, 1)).reshape(b, h, w) * grid.active
        e = OMEGA * r / grid.diagonal
        coarse = self.grids[level + 1].shape
        correction = self.cycle(restrict(r - grid.apply(e), (r.shape[0], 2 * coarse[1], 2 * coarse[2])), level + 1)
        e += OVERCORRECT * np.repeat(np.repeat(correction, 2, axis=1), 2, axis=2)[:, :r.shape[1], :r.shape[2]] \
            * grid.zero_inactive
        return e + OMEGA * (r - grid.apply(e)) / grid.diagonal


def solve(stencil: dict[tuple[int, int], np.ndarray], active: np.ndarray, rhs: np.ndarray,
          weights: dict[tuple[int, int], float] | None = None,
          iterations: int = ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """(x, converged): x (B, h, w) with A x = rhs on the active cells of each system, and which systems met STOP.
    `stencil` as Grid's (zero at inactive cells), `rhs` zero at inactive cells; `weights` as Grid's."""
    grid = Grid(stencil, active, weights)
    multigrid = Multigrid(grid)
    x = np.where(active, rhs / grid.diagonal, 0.0)  # the kept neighbours' share: exact for an isolated pixel
    r = rhs - grid.apply(x)
    z = multigrid.cycle(r)
    p = z.copy()
    rz = (r * z).sum(axis=(1, 2))
    for _ in range(iterations):
        if np.abs(z).max() <= STOP:
            break
        q = grid.apply(p)
        curvature = (p * q).sum(axis=(1, 2))
        alpha = np.divide(rz, curvature, out=np.zeros_like(rz), where=curvature > 0)  # a converged system stops
        x += alpha[:, None, None] * p
        r -= alpha[:, None, None] * q
        z = multigrid.cycle(r)
        rz, previous = (r * z).sum(axis=(1, 2)), rz
        p = z + np.divide(rz, previous, out=np.zeros_like(rz), where=previous > 0)[:, None, None] * p
    return x, np.abs(z).max(axis=(1, 2)) <= STOP
