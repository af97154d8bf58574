"""micrograd: a scalar autodiff engine and a tiny neural-network library."""

from micrograd.engine import Value

__all__ = ["Value"]
