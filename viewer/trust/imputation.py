"""Noisy linear imputation (Rong et al., ICML 2022, "A Consistent and Efficient Evaluation Strategy for Attribution
Methods"): removed pixels are filled from the kept ones so that the fill carries no trace of the mask's shape.

Each removed pixel equals the weighted mean of its 8 neighbours inside the image (1/6 for the 4 direct, 1/12 for
the 4 diagonal ones; kept neighbours are constants). All removed pixels are solved jointly: one sparse linear
system per channel, symmetric positive definite (a weighted graph Laplacian with the kept pixels as its Dirichlet
boundary). Then Gaussian noise is added to the removed pixels.

All systems of one map (its 8 masks) are solved together by conjugate gradient with a multigrid preconditioner
(multigrid.py), to within TOLERANCE grey levels of the exact solution: 9-16 iterations whatever the mask, 2-3x
faster than factorising each system (SuperLU, minimum degree on A + Aᵀ without pivoting: a Cholesky in effect),
which stays as the fallback for a system CG does not settle. Measured and rejected: plain CG, warm-started from a
blurred, a push-pull pyramid or a coarse exact fill (100-450 Jacobi-preconditioned iterations on a map's removed
blob at 224², no faster than the factorisation); a nested-dissection ordering or single precision in SuperLU
(under 25 % faster; single precision missed 0.05 grey levels at 224²).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from . import multigrid

NOISE = 0.01 * 255.0  # the paper's 0.01 of the value range, on the [0, 255] model-input grid
TOLERANCE = 0.05  # grey levels: the fill's largest difference from the exact solution, 2 % of the noise
# (row offset, column offset) -> weight; the paper's (and pytorch-grad-cam's) neighbour weights
NEIGHBOURS = {(-1, 0): 1 / 6, (1, 0): 1 / 6, (0, -1): 1 / 6, (0, 1): 1 / 6,
              (-1, -1): 1 / 12, (-1, 1): 1 / 12, (1, -1): 1 / 12, (1, 1): 1 / 12}


def linear_fill(values: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """`values` (h, w, k) with the `removed` (h, w bool) pixels replaced by the joint weighted-neighbour solution
    (within TOLERANCE), float64, no noise. ValueError when nothing is kept (no boundary: no solution)."""
    return fill_all(values, [removed])[0]


def fill_all(values: np.ndarray, removals: Sequence[np.ndarray], iterations: int = multigrid.ITERATIONS) \
        -> list[np.ndarray]:
    """linear_fill() of `values` (h, w, k) for each mask of `removals`, all systems (masks × channels) solved
    together by multigrid-preconditioned CG (multigrid.py); a system it does not settle in `iterations` is
    factorised (exact_fill)."""
    values = np.asarray(values, np.float64)
    masks = np.asarray(removals, bool).reshape(len(removals), *values.shape[:2])
    if masks.reshape(len(masks), -1).all(axis=1).any():
        raise ValueError("linear imputation needs at least one kept pixel")
    k = values.shape[2]
    active = np.repeat(masks, k, axis=0)  # system i: mask i // k, channel i % k
    known = np.tile(values.transpose(2, 0, 1), (len(masks), 1, 1))
    removed = active.astype(np.float64)
    exists = np.ones(values.shape[:2])
    stencil, rhs = {}, np.zeros(active.shape)
    diagonal = np.zeros(values.shape[:2])
    for offset, weight in NEIGHBOURS.items():
        stencil[offset] = -weight * removed * multigrid.shifted(removed, offset)
        diagonal += weight * multigrid.shifted(exists, offset)  # the weights of the neighbours that exist
        rhs += weight * multigrid.shifted(known * (1.0 - removed), offset)
    stencil[multigrid.CENTRE] = diagonal * removed
    solution, converged = multigrid.solve(stencil, active, rhs * removed, NEIGHBOURS, iterations)
    out = np.where(active, solution, known)
    for i in np.flatnonzero(~converged):
        out[i] = exact_fill(known[i][..., None], active[i])[..., 0]
    return [out[i * k:(i + 1) * k].transpose(1, 2, 0) for i in range(len(masks))]


def exact_fill(values: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """linear_fill() by a sparse factorisation: exact, and 2-3x slower."""
    import scipy.sparse as sparse
    from scipy.sparse.linalg import splu

    values = np.asarray(values, np.float64)
    removed = np.asarray(removed, bool)
    h, w = removed.shape
    unknown = np.flatnonzero(removed.ravel())
    out = values.reshape(h * w, -1).copy()
    if unknown.size == 0:
        return out.reshape(values.shape)
    if unknown.size == h * w:
        raise ValueError("linear imputation needs at least one kept pixel")
    variable = np.full(h * w, -1, np.int64)
    variable[unknown] = np.arange(unknown.size)
    row, col = np.divmod(unknown, w)
    diagonal = np.zeros(unknown.size)
    rhs = np.zeros((unknown.size, out.shape[1]))
    rows, cols, weights = [], [], []
    for (dr, dc), weight in NEIGHBOURS.items():
        r, c = row + dr, col + dc
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        me = np.flatnonzero(inside)
        other = r[inside] * w + c[inside]
        diagonal[me] += weight  # the weights of the neighbours that exist: a mean over them
        free = variable[other] >= 0
        rows.append(me[free])
        cols.append(variable[other[free]])
        weights.append(np.full(int(free.sum()), -weight))
        rhs[me[~free]] += weight * out[other[~free]]  # each pixel has each offset once: no repeated index
    index = np.arange(unknown.size)
    matrix = sparse.csr_matrix((np.concatenate([*weights, diagonal]),
                                (np.concatenate([*rows, index]), np.concatenate([*cols, index]))),
                               shape=(unknown.size, unknown.size))
    factor = splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    out[unknown] = factor.solve(rhs).reshape(unknown.size, -1)
    return out.reshape(values.shape)


def impute(raw: np.ndarray, removed: np.ndarray, rng: np.random.Generator, noise: float = NOISE) -> np.ndarray:
    """One image `raw` (h, w, c) on the [0, 255] grid with its `removed` pixels imputed, float32.

    A grey image copied to c channels (every channel equal) is solved once and gets one noise field for all its
    channels: it stays grey, as the model has always seen it (independent noise per channel would add colour
    speckle, a signature of the removal). The noise is drawn as rng.normal(0, noise, (h, w, k)), k = 1 for a grey
    image else c, and added at the removed pixels only; not clipped (the paper does not clip either).
    """
    return next(impute_each(raw, [removed], rng, noise))


def impute_each(raw: np.ndarray, removals: Sequence[np.ndarray], rng: np.random.Generator,
                noise: float = NOISE) -> Iterator[np.ndarray]:
    """impute() of `raw` for each mask of `removals`, in order, the noise drawn in that order; the systems are
    solved together (fill_all)."""
    raw = np.asarray(raw, np.float32)
    grey = all(np.array_equal(raw[..., 0], raw[..., i]) for i in range(1, raw.shape[-1]))
    values = raw[..., :1] if grey else raw
    for removed, filled in zip(removals, fill_all(values, removals), strict=True):
        if noise > 0:
            filled[removed] += rng.normal(0.0, noise, values.shape)[removed]
        yield np.broadcast_to(filled, raw.shape).astype(np.float32)
