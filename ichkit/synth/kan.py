"""A Kolmogorov-Arnold network (KAN) layer: every input-output edge carries a learnable 1D function.

Each edge function is phi(x) = w_base * silu(x) + sum_i c_i B_i(x), a fixed smooth "base" plus a
cubic B-spline on a uniform grid (Liu et al. 2024, "KAN: Kolmogorov-Arnold Networks"). Evaluating
all basis functions once per input and contracting them with one weight matrix keeps the layer a
single matrix product, as fast as a linear layer of width in * (grid + order) (the "efficient
KAN" formulation that U-KAN builds on). Inputs outside the grid fall back to the base term.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

KAN_GRID = 5  # intervals of the uniform spline grid
KAN_ORDER = 3  # cubic B-splines
KAN_RANGE = (-2.0, 2.0)  # covers a LayerNorm'd input (about 95 % of a unit normal)
KAN_SPLINE_INIT_STD = 0.1  # spline coefficients start small: the layer starts near its base term


def bspline_bases(x: torch.Tensor, knots: torch.Tensor, order: int) -> torch.Tensor:
    """B-spline basis values of every element of `x` on `knots` (Cox-de Boor recursion).

    x (..., n) -> (..., n, len(knots) - order - 1).
    """
    x = x.unsqueeze(-1)
    b = ((x >= knots[:-1]) & (x < knots[1:])).to(x.dtype)
    for p in range(1, order + 1):
        left = (x - knots[: -(p + 1)]) / (knots[p:-1] - knots[: -(p + 1)])
        right = (knots[p + 1 :] - x) / (knots[p + 1 :] - knots[1:-p])
        b = left * b[..., :-1] + right * b[..., 1:]
    return b


class KANLinear(nn.Module):
    """KAN replacement of `nn.Linear(in_features, out_features)` acting on the last dimension."""

    def __init__(self, in_features: int, out_features: int, *, grid: int = KAN_GRID, order: int = KAN_ORDER,
                 grid_range: tuple[float, float] = KAN_RANGE, spline_init_std: float = KAN_SPLINE_INIT_STD):
        super().__init__()
        self.in_features, self.out_features, self.order = in_features, out_features, order
        lo, hi = grid_range
        h = (hi - lo) / grid
        # `order` extra knots on each side make the bases a partition of unity on [lo, hi]
        self.register_buffer("knots", lo + h * torch.arange(-order, grid + order + 1, dtype=torch.float32))
        self.n_bases = grid + order
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(torch.empty(out_features, in_features * self.n_bases))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
        nn.init.normal_(self.spline_weight, std=spline_init_std / math.sqrt(in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bases = bspline_bases(x, self.knots.to(x.dtype), self.order).flatten(-2)
        return F.linear(F.silu(x), self.base_weight, self.bias) + F.linear(bases, self.spline_weight)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bases={self.n_bases}"
