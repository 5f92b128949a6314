"""The head's numerics, in numpy: class-weighted softmax regression, temperature scaling,
calibration error and a reliability table, and the PCA projection for the embedding.

All deterministic: full-batch optimisation from zeros, no random state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cat_follow.perception.classifier import softmax


@dataclass(frozen=True)
class Linear:
    """logits = (x - mean) @ weights + bias (the standardisation folded into ``weights``)."""

    weights: np.ndarray
    bias: np.ndarray

    def logits(self, x: np.ndarray, mean: np.ndarray) -> np.ndarray:
        return (x - mean) @ self.weights + self.bias


def fit_softmax(x: np.ndarray, y: np.ndarray, mean: np.ndarray, n_classes: int, *, l2: float = 1e-3,
                steps: int = 400, lr: float = 0.05) -> Linear:
    """Class-weighted (each class weighs the same in total) L2-regularised softmax regression on
    standardised ``x - mean``, by full-batch Adam from zeros."""
    std = (x - mean).std(axis=0) + 1e-6
    z = ((x - mean) / std).astype(np.float64)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    sw = (len(y) / (n_classes * np.maximum(counts, 1)))[y]
    sw /= sw.sum()
    onehot = np.eye(n_classes)[y]
    w, b = np.zeros((z.shape[1], n_classes)), np.zeros(n_classes)
    mw, vw, mb, vb = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    for t in range(1, steps + 1):
        g = (softmax(z @ w + b) - onehot) * sw[:, None]
        gw, gb = z.T @ g + l2 * w, g.sum(axis=0)
        mw, vw = 0.9 * mw + 0.1 * gw, 0.999 * vw + 0.001 * gw * gw
        mb, vb = 0.9 * mb + 0.1 * gb, 0.999 * vb + 0.001 * gb * gb
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        w -= lr * (mw / c1) / (np.sqrt(vw / c2) + 1e-8)
        b -= lr * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)
    return Linear((w / std[:, None]).astype(np.float32), b.astype(np.float32))


def nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    p = softmax(logits / temperature)
    return float(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)).mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood (a grid in log T, then a finer one)."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = min(grid, key=lambda t: nll(logits, y, float(t)))
    fine = best * np.exp(np.linspace(-0.06, 0.06, 61))
    return float(min(fine, key=lambda t: nll(logits, y, float(t))))


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[float, list[dict[str, float]]]:
    """(expected calibration error, table): top-label confidence in ``bins`` equal bins over
    [0, 1]; each row: lo, hi, n, confidence (mean), accuracy. ECE = sum n/N * |acc - conf|."""
    conf = probs.max(axis=1)
    right = (probs.argmax(axis=1) == y).astype(np.float64)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    ece, rows = 0.0, []
    for i in range(bins):
        sel = idx == i
        n = int(sel.sum())
        if n == 0:
            continue
        c, a = float(conf[sel].mean()), float(right[sel].mean())
        ece += n / len(y) * abs(a - c)
        rows.append({"lo": i / bins, "hi": (i + 1) / bins, "n": n, "confidence": round(c, 4), "accuracy": round(a, 4)})
    return ece, rows


def pca(x: np.ndarray, mean: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """(F x k projection onto the top-k principal components, share of variance kept); each
    component's sign fixed so its largest entry is positive (deterministic)."""
    c = x - mean
    cov = (c.T @ c) / max(1, len(x) - 1)
    vals, vecs = np.linalg.eigh(cov.astype(np.float64))
    order = np.argsort(vals)[::-1][:k]
    comps = vecs[:, order]
    signs = np.sign(comps[np.abs(comps).argmax(axis=0), np.arange(k)])
    return (comps * signs).astype(np.float32), float(vals[order].sum() / vals.sum())
