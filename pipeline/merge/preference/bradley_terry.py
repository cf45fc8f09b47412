r"""Bradley-Terry scores of the responses in pairwise comparisons, with Davidson's ties.

Model (Bradley & Terry 1952; ties: Davidson 1970). Response :math:`i` has a score
:math:`\theta_i`; a comparison of :math:`i` and :math:`j` with :math:`d = \theta_i - \theta_j`
comes out

.. math::

    P(i) = \frac{e^{d/2}}{D},\quad P(j) = \frac{e^{-d/2}}{D},\quad
    P(\text{tie}) = \frac{e^{\delta}}{D},\qquad D = e^{d/2} + e^{-d/2} + e^{\delta},

which is :math:`\pi_i / (\pi_i + \pi_j + \nu\sqrt{\pi_i\pi_j})` with :math:`\pi = e^\theta`,
:math:`\nu = e^\delta`. Without ties (``ties="drop"``) there is no :math:`\delta` and
:math:`P(i) = \sigma(d)`, the plain Bradley-Terry model.

Fit. The penalised maximum likelihood estimate

.. math::

    \hat\theta, \hat\delta = \arg\min\; -\sum_c \log P(\text{outcome}_c) + \alpha \sum_i \theta_i^2

(the objective of ``choix.opt_pairwise``, whose MLE this equals; ``alpha = 0`` gives the MLE, with
each connected set of responses centred on 0). Newton's method with exact derivatives: the score
Hessian is block diagonal over the connected components of the comparison graph (in preference
data, one block per prompt), so every block of a size is solved at once (batched dense solves;
a connected set of more than :data:`MAX_COMPONENT` responses, such as models compared across
prompts, by a sparse LU factorisation of its block) and the tie parameter enters by a Schur complement. The likelihood depends on the comparisons only
through each distinct pair's counts of wins and ties, so those are tallied once and every
iteration costs the distinct pairs; a step that does not lower the objective is halved. Standard errors are the square
roots of the diagonal of the inverse Hessian at the optimum (the pseudo-inverse with
``alpha = 0``), holding :math:`\delta` at its estimate.

References: R. A. Bradley and M. E. Terry (1952), Biometrika 39(3/4); R. R. Davidson (1970),
JASA 65(329); D. R. Hunter (2004), Annals of Statistics 32(1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["CHOICES", "BradleyTerryFit", "Ties", "bradley_terry", "fit_bradley_terry"]

#: Canonical outcomes of a comparison of ``response_a`` and ``response_b``.
CHOICES = ("a", "b", "tie")
Ties = Literal["davidson", "drop"]
#: Connected sets of responses up to this size are solved as batched dense blocks; larger ones sparse.
MAX_COMPONENT = 2048
#: ... and those up to this size by a dense Cholesky factorisation, larger ones by a sparse LU.
DENSE_LARGE = 6000


@dataclass(frozen=True)
class BradleyTerryFit:
    """What :func:`fit_bradley_terry` estimates.

    ``scores``: :math:`\\hat\\theta` per response (a Series indexed by response id, sorted);
    ``se``: its standard errors (same index); ``tie_log_odds``: :math:`\\hat\\delta` (None with
    ``ties="drop"``); ``probabilities``: P(a), P(b), P(tie) of each input comparison under the
    fit (rows in input order); ``iterations`` and ``converged`` of Newton's method.
    """

    scores: pd.Series
    se: pd.Series
    tie_log_odds: float | None
    probabilities: pd.DataFrame
    iterations: int
    converged: bool


def _check(comparisons: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("response_a", "response_b", "choice") if c not in comparisons.columns]
    if missing:
        raise ValueError(f"comparisons need columns response_a, response_b, choice; missing {missing}")
    bad = ~comparisons["choice"].isin(CHOICES)
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())[:5].tolist()
        raise ValueError(f"choice must be one of {list(CHOICES)}; rows {rows} have "
                         f"{comparisons['choice'].iloc[rows].tolist()}")
    same = (comparisons["response_a"] == comparisons["response_b"]).to_numpy()
    nulls = (comparisons["response_a"].isna() | comparisons["response_b"].isna()).to_numpy()
    if same.any() or nulls.any():
        rows = np.flatnonzero(same | nulls)[:5].tolist()
        raise ValueError(f"each comparison needs two different responses; rows {rows} compare a response with "
                         "itself or with nothing")
    return comparisons


def _components(i: np.ndarray, j: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(component of each response, its position in the component, component sizes)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    order = np.argsort(comp, kind="stable")
    sizes = np.bincount(comp)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    local = np.empty(n, dtype=np.int64)
    local[order] = np.arange(n) - np.repeat(starts, sizes)
    return comp, local, sizes


class _Blocks:
    """The score Hessian's diagonal blocks: components up to :data:`MAX_COMPONENT` responses grouped by
    size for batched dense solves; larger ones one by one as sparse matrices (LU factorisation)."""

    def __init__(self, comp: np.ndarray, local: np.ndarray, sizes: np.ndarray) -> None:
        self.local, self.comp = local, comp
        self._lu: tuple[Any, bool, Any] | None = None  # (block, pseudo, factorisation) of the last large solve
        self.size_of = sizes[comp]  # block size of each response
        # position of each response's component among the components of its size
        rank = np.zeros(len(sizes), dtype=np.int64)
        self.groups: list[tuple[int, np.ndarray]] = []  # (size k, responses ordered block by block)
        self.large: list[tuple[int, np.ndarray]] = []  # (component, its responses in local order)
        for k in np.unique(sizes):
            ids = np.flatnonzero(sizes == k)
            rank[ids] = np.arange(len(ids))
            members = np.flatnonzero(self.size_of == k)
            members = members[np.lexsort((local[members], rank[comp[members]]))]
            if k <= MAX_COMPONENT:
                self.groups.append((int(k), members))
            else:
                self.large += [(int(c), members[comp[members] == c]) for c in ids]
        self.block = rank[comp]

    def matrices(self, i: np.ndarray, j: np.ndarray, w: np.ndarray, diag: np.ndarray) -> list[Any]:
        """Per size group, the stacked blocks of ``L + diag(diag)`` with ``L`` the Laplacian of weights
        ``w``; then one sparse (CSC) matrix per large component."""
        from scipy.sparse import coo_matrix

        out: list[Any] = []
        for k, members in self.groups:
            nb = len(members) // k
            in_group = self.size_of[i] == k
            bi, li, lj = self.block[i[in_group]], self.local[i[in_group]], self.local[j[in_group]]
            ww = w[in_group]
            base = bi * k * k
            flat = np.bincount(np.concatenate([base + li * k + li, base + lj * k + lj, base + li * k + lj, base + lj * k + li]),
                               np.concatenate([ww, ww, -ww, -ww]), minlength=nb * k * k)
            mats = flat.reshape(nb, k, k)
            d = diag[members].reshape(nb, k)
            mats[:, np.arange(k), np.arange(k)] += d
            out.append(mats)
        for c, members in self.large:
            k = len(members)
            inside = self.comp[i] == c
            li, lj, ww = self.local[i[inside]], self.local[j[inside]], w[inside]
            rows = np.concatenate([li, lj, li, lj, np.arange(k)])
            cols = np.concatenate([li, lj, lj, li, np.arange(k)])
            out.append(coo_matrix((np.concatenate([ww, ww, -ww, -ww, diag[members]]), (rows, cols)), shape=(k, k)).tocsc())
        return out

    def _factor(self, m: Any, pseudo: bool) -> Any:
        """A factorisation of a large block with ``.solve`` and ``.shape`` (kept for the next solve with
        the same matrix); with ``pseudo`` (a Laplacian, singular along the constant vector) of the
        block grounded at its first response. Up to :data:`DENSE_LARGE` responses a dense Cholesky
        (LAPACK; a well-connected graph fills a sparse factor in anyway), beyond a sparse LU."""
        if self._lu is not None and self._lu[0] is m and self._lu[1] == pseudo:
            return self._lu[2]
        block = m[1:, 1:] if pseudo else m
        factor: Any
        if block.shape[0] <= DENSE_LARGE:
            from scipy.linalg import cho_factor, cho_solve

            c = cho_factor(block.toarray())

            class _Dense:
                shape = block.shape

                @staticmethod
                def solve(b: np.ndarray) -> np.ndarray:
                    return np.asarray(cho_solve(c, b))

            factor = _Dense()
        else:
            from scipy.sparse.linalg import splu

            factor = splu(block, permc_spec="MMD_AT_PLUS_A")
        self._lu = (m, pseudo, factor)
        return factor

    def solve(self, mats: list[Any], rhs: np.ndarray, *, pseudo: bool) -> np.ndarray:
        """``H^{-1} rhs`` block by block (least-norm solution with ``pseudo``: ``rhs`` sums to 0 over
        each component, so the grounded solution centred is the pseudo-inverse's)."""
        x = np.zeros_like(rhs)
        for (k, members), m in zip(self.groups, mats):
            b = rhs[members].reshape(-1, k)
            if pseudo:
                sol = np.einsum("bij,bj->bi", np.linalg.pinv(m, hermitian=True), b)
            else:
                sol = np.linalg.solve(m, b[..., None])[..., 0]
            x[members] = sol.reshape(-1)
        for (_, members), m in zip(self.large, mats[len(self.groups):]):
            lu = self._factor(m, pseudo)
            if pseudo:
                sol = np.concatenate([[0.0], lu.solve(rhs[members][1:])])
                sol -= sol.mean()
            else:
                sol = lu.solve(rhs[members])
            x[members] = sol
        return x

    def inverse_diagonal(self, mats: list[Any], *, pseudo: bool) -> np.ndarray:
        out = np.zeros(len(self.local))
        for (k, members), m in zip(self.groups, mats):
            inv = np.linalg.pinv(m, hermitian=True) if pseudo else np.linalg.inv(m)
            out[members] = np.diagonal(inv, axis1=1, axis2=2).reshape(-1)
        for (_, members), m in zip(self.large, mats[len(self.groups):]):
            lu = self._factor(m, pseudo)
            g = lu.shape[0]
            diag, row_sums = np.zeros(g), np.zeros(g)
            slab = max(1, min(256, 5_000_000 // max(g, 1)))  # at most ~40 MB of the inverse at a time
            for start in range(0, g, slab):  # columns of the inverse, a slab at a time
                stop = min(start + slab, g)
                eye = np.zeros((g, stop - start))
                eye[np.arange(start, stop), np.arange(stop - start)] = 1.0
                cols = lu.solve(eye)
                diag[start:stop] = cols[np.arange(start, stop), np.arange(stop - start)]
                row_sums += cols.sum(axis=1)
            if pseudo:  # pinv(L) = P G P with G the grounded inverse (zero at the ground), P = I - 11'/k
                k = len(members)
                gd, gs = np.concatenate([[0.0], diag]), np.concatenate([[0.0], row_sums])
                out[members] = gd - 2 * gs / k + gs.sum() / k**2
            else:
                out[members] = diag
        return out

    def centre(self, theta: np.ndarray) -> np.ndarray:
        """``theta`` with each component's mean removed (the ``alpha = 0`` normalisation)."""
        out = theta.copy()
        for k, members in self.groups:
            t = theta[members].reshape(-1, k)
            out[members] = (t - t.mean(axis=1, keepdims=True)).reshape(-1)
        for _, members in self.large:
            out[members] = theta[members] - theta[members].mean()
        return out


def _terms(theta: np.ndarray, delta: float | None, i: np.ndarray, j: np.ndarray, w: np.ndarray,
           ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """On distinct pairs ``(i, j)`` with outcome counts ``w`` (wins of i, wins of j, ties; shape (3, p)):
    the negative log-likelihood, dNLL/dd and d2NLL/dd2 per pair (d = theta_i - theta_j) and, with
    ties, dNLL/ddelta, d2NLL/ddelta2 and d2NLL/dd ddelta per pair (else an empty array)."""
    d = theta[i] - theta[j]
    n = w.sum(axis=0)
    if delta is None:
        p = 1.0 / (1.0 + np.exp(-d))
        nll = float(w[0] @ np.logaddexp(0.0, -d) + w[1] @ np.logaddexp(0.0, d))
        return nll, n * p - w[0], n * p * (1.0 - p), np.zeros(0)
    logd = np.logaddexp(np.logaddexp(d / 2, -d / 2), delta)
    pi, pj, pt = np.exp(d / 2 - logd), np.exp(-d / 2 - logd), np.exp(delta - logd)
    nll = float(n @ logd - (w[0] - w[1]) @ (d / 2) - w[2].sum() * delta)
    grad_d = n * (pi - pj) / 2 - (w[0] - w[1]) / 2
    hess_d = n * ((pi + pj) / 4 - (pi - pj) ** 2 / 4)
    return nll, grad_d, hess_d, np.stack([n * pt - w[2], n * pt * (1 - pt), -n * (pi - pj) * pt / 2])


def _probabilities(theta: np.ndarray, delta: float | None, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """P(i), P(j), P(tie) of comparisons of ``i`` with ``j`` (shape (3, m))."""
    d = theta[i] - theta[j]
    if delta is None:
        p = 1.0 / (1.0 + np.exp(-d))
        return np.stack([p, 1.0 - p, np.zeros_like(p)])
    logd = np.logaddexp(np.logaddexp(d / 2, -d / 2), delta)
    return np.stack([np.exp(d / 2 - logd), np.exp(-d / 2 - logd), np.exp(delta - logd)])


def _encode(comparisons: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted response ids, code of response_a, code of response_b): hashed, then ranked by id."""
    values = pd.concat([comparisons["response_a"], comparisons["response_b"]], ignore_index=True).astype(str)
    codes, found = pd.factorize(values, sort=False)
    names = np.asarray(found, dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    ranked = rank[codes]
    m = len(comparisons)
    return names[order], ranked[:m], ranked[m:]


def _pair_index(ia: np.ndarray, ib: np.ndarray, choice: np.ndarray, n: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct unordered pairs ``(lo, hi)`` of the comparisons, each comparison's pair (``inverse``)
    and its outcome as seen from the pair (``col``: 0 lo won, 1 hi won, 2 tie)."""
    lo = np.minimum(ia, ib)
    pairs, inverse = np.unique(lo * n + np.maximum(ia, ib), return_inverse=True)
    code = np.select([choice == "a", choice == "b"], [0, 1], 2)
    col = np.where(code == 2, 2, np.where(ia == lo, code, 1 - code))
    return pairs // n, pairs % n, inverse, col


def _tally(inverse: np.ndarray, col: np.ndarray, pairs: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Outcome counts per pair, shape (3, pairs): wins of lo, wins of hi, ties (each comparison
    counted with its ``weights``, default 1)."""
    return np.bincount(inverse * 3 + col, weights, 3 * pairs).reshape(pairs, 3).T


def _pair_counts(ia: np.ndarray, ib: np.ndarray, choice: np.ndarray, n: int,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct unordered pairs ``(lo, hi)`` and their outcome counts (:func:`_tally`): the
    sufficient statistics of the model, so that each Newton step costs the distinct pairs."""
    i, j, inverse, col = _pair_index(ia, ib, choice, n)
    return i, j, _tally(inverse, col, len(i)).astype(float)


def _newton(i: np.ndarray, j: np.ndarray, w: np.ndarray, n: int, blocks: _Blocks, theta: np.ndarray,
            delta: float | None, *, alpha: float, max_iter: int, tol: float) -> tuple[np.ndarray, float | None, int, bool]:
    """Minimise NLL(counts ``w`` of pairs ``(i, j)``) + alpha |theta|^2 from ``theta``, ``delta``
    (``delta`` None: no tie parameter). Returns (theta, delta, iterations, converged)."""
    use_delta = delta is not None
    pseudo = alpha == 0

    def objective(th: np.ndarray, de: float | None) -> float:
        return _terms(th, de, i, j, w)[0] + alpha * float(th @ th)

    converged, it = False, 0
    for it in range(1, max_iter + 1):
        current, gd, hd, dterms = _terms(theta, delta, i, j, w)
        current += alpha * float(theta @ theta)
        grad = np.bincount(i, gd, n) - np.bincount(j, gd, n) + 2 * alpha * theta
        g_delta = float(dterms[0].sum()) if use_delta else 0.0
        if max(np.abs(grad).max(initial=0.0), abs(g_delta)) < tol:
            converged = True
            break
        mats = blocks.matrices(i, j, hd, np.full(n, 2 * alpha))
        step_t = blocks.solve(mats, grad, pseudo=pseudo)
        step_d = 0.0
        if use_delta:
            c = np.bincount(i, dterms[2], n) - np.bincount(j, dterms[2], n)  # d2NLL / dtheta ddelta
            y = blocks.solve(mats, c, pseudo=pseudo)
            schur = float(dterms[1].sum()) - float(c @ y)
            step_d = (g_delta - float(c @ step_t)) / schur if schur > 0 else 0.0
            step_t = step_t - y * step_d
        t = 1.0
        while True:  # halve a step that does not lower the objective
            cand_t = theta - t * step_t
            cand_d = None if delta is None else delta - t * step_d
            if objective(cand_t, cand_d) <= current + 1e-12 * abs(current):
                break
            t /= 2
            if t < 1e-10:  # no descent left at this precision: as good as it gets
                converged = True
                break
        if converged:
            break
        theta, delta = (blocks.centre(cand_t) if pseudo else cand_t), cand_d
    return theta, delta, it, converged


def _standard_errors(i: np.ndarray, j: np.ndarray, w: np.ndarray, n: int, blocks: _Blocks, theta: np.ndarray,
                     delta: float | None, alpha: float) -> np.ndarray:
    _, _, hd, _ = _terms(theta, delta, i, j, w)
    inv = blocks.inverse_diagonal(blocks.matrices(i, j, hd, np.full(n, 2 * alpha)), pseudo=alpha == 0)
    return np.sqrt(np.maximum(inv, 0))


def _initial_tie_log_odds(w: np.ndarray) -> float:
    """delta with P(tie) = the observed tie share at theta = 0 (clipped to [0.001, 0.999])."""
    n_ties, n_all = float(w[2].sum()), float(w.sum())
    rate = min(max(n_ties / n_all if n_all else 0.0, 1e-3), 0.999)
    return float(np.log(2 * rate / (1 - rate)))


def fit_bradley_terry(comparisons: pd.DataFrame, *, ties: Ties = "davidson", alpha: float = 1e-3,
                      max_iter: int = 100, tol: float = 1e-10) -> BradleyTerryFit:
    """Fit the Bradley-Terry (Davidson) model to ``comparisons``; see the module docstring.

    Parameters
    ----------
    comparisons : DataFrame
        One row per judgement: ``response_a``, ``response_b`` (ids, different), ``choice`` in
        :data:`CHOICES` (which of the two was preferred, or ``"tie"``). Other columns are ignored.
    ties : {"davidson", "drop"}
        Model ties with Davidson's parameter, or drop tied comparisons before fitting (their
        probabilities are still reported, under the plain model).
    alpha : float
        L2 penalty :math:`\\alpha \\sum_i \\theta_i^2` (>= 0; a weak Gaussian prior that keeps a
        response that always wins finite). ``0`` gives the MLE, which exists only if every
        response both wins and loses within its connected set.
    max_iter, tol : Newton's method stops when the largest gradient entry is below ``tol``.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if ties not in ("davidson", "drop"):
        raise ValueError(f"ties must be 'davidson' or 'drop', got {ties!r}")
    comparisons = _check(comparisons)
    ids, ia, ib = _encode(comparisons)
    m, n = len(comparisons), len(ids)
    choice = comparisons["choice"].to_numpy()
    i, j, w = _pair_counts(ia, ib, choice, n)
    if ties == "drop":
        w[2] = 0
        keep = w.sum(axis=0) > 0  # a pair judged only as ties says nothing without the tie model
        i, j, w = i[keep], j[keep], w[:, keep]
    blocks = _Blocks(*_components(i, j, n))
    use_delta = ties == "davidson" and float(w[2].sum()) > 0  # no ties at all: the MLE of delta is -inf
    delta0 = _initial_tie_log_odds(w) if use_delta else None
    theta, delta, it, converged = _newton(i, j, w, n, blocks, np.zeros(n), delta0, alpha=alpha, max_iter=max_iter, tol=tol)
    se = _standard_errors(i, j, w, n, blocks, theta, delta, alpha)
    all_probs = _probabilities(theta, delta, ia, ib)  # every input row, dropped ties included
    index = pd.Index(ids, name="response_id")
    return BradleyTerryFit(
        scores=pd.Series(theta, index=index, name="score"), se=pd.Series(se, index=index, name="se"),
        tie_log_odds=delta if use_delta else (-np.inf if ties == "davidson" else None), iterations=it,
        converged=converged,
        probabilities=pd.DataFrame({"p_a": all_probs[0], "p_b": all_probs[1], "p_tie": all_probs[2]},
                                   index=comparisons.index),
    )


def bradley_terry(comparisons: pd.DataFrame, *, ties: Ties = "davidson", alpha: float = 1e-3) -> pd.Series:
    """Bradley-Terry scores of every response in ``comparisons`` (``response_a``, ``response_b``,
    ``choice`` in ``a`` / ``b`` / ``tie``), indexed by response id: higher is preferred, and
    :math:`\\sigma(\\theta_i - \\theta_j)` is the chance that ``i`` beats ``j`` (without ties).
    See :func:`fit_bradley_terry` for the settings, standard errors and probabilities.

    >>> import pandas as pd
    >>> c = pd.DataFrame({"response_a": ["x", "x", "x", "y"], "response_b": ["y", "y", "y", "x"],
    ...                   "choice": ["a", "a", "b", "b"]})
    >>> s = bradley_terry(c, ties="drop", alpha=0)  # x wins 3 of 4: theta_x - theta_y = log 3
    >>> round(float(s["x"] - s["y"]), 6)
    1.098612
    """
    return fit_bradley_terry(comparisons, ties=ties, alpha=alpha).scores
