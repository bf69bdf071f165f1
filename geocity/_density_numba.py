"""numba kernel of :func:`geocity._density_kernel._exact_at`: the direct sum
of kernels at query points, one query per iteration on all of numba's
threads (each query's sum runs over the points in their order, so the result
does not depend on the thread count).

The pair terms are those of the NumPy path (chord of the unit vectors, then
the great-circle distance ``2 R asin(chord / 2)``, then the kernel); a pair
is skipped only where its term is exactly zero: beyond the support of the
compact kernels, and where ``exp(-u²/2)`` of the Gaussian underflows to 0.0
in double precision (``u > 38.6`` bandwidths) — or beyond ``d_max_km``,
where the caller's kernel is truncated (the binned method's reach). Module level, cached on disk,
imported only when numba is installed.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

#: 0.5·u² above which exp(-0.5·u²) is 0.0 in double precision (exp(-745.2) is the last subnormal).
GAUSSIAN_UNDERFLOW = 746.0


@nb.njit(cache=True, parallel=True, fastmath=False, nogil=True)
def exact_sums(q, p, w, kind, h, chord2_max, radius_km, d_max_km):  # pragma: no cover - compiled
    """Sums ``sum_j K(d(q_i, p_j)) w_j`` for unit vectors ``q`` (m×3) and ``p`` (n×3).

    ``kind``: 0 Gaussian, 1 Epanechnikov, 2 quartic; ``chord2_max``: squared
    chord beyond which every term is zero; ``d_max_km``: terms beyond this
    great-circle distance are left out (``inf``: none).
    """
    m = q.shape[0]
    n = p.shape[0]
    out = np.zeros(m)
    inv_h2 = 1.0 / (h * h)
    for i in nb.prange(m):
        qx, qy, qz = q[i, 0], q[i, 1], q[i, 2]
        s = 0.0
        for j in range(n):
            dot = qx * p[j, 0] + qy * p[j, 1] + qz * p[j, 2]
            c2 = 2.0 - 2.0 * dot
            if c2 > chord2_max:
                continue
            if c2 < 0.0:
                c2 = 0.0
            half = math.sqrt(c2) / 2.0
            if half > 1.0:
                half = 1.0
            d = 2.0 * radius_km * math.asin(half)
            if d > d_max_km:
                continue
            u2 = d * d * inv_h2
            if kind == 0:
                if 0.5 * u2 > GAUSSIAN_UNDERFLOW:
                    continue
                k = math.exp(-0.5 * u2)
            elif u2 < 1.0:
                k = 1.0 - u2 if kind == 1 else (1.0 - u2) * (1.0 - u2)
            else:
                continue
            s += k * w[j]
        out[i] = s
    return out
