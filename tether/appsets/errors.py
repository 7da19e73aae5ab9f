"""What makes an ApplicationSet's generation fail: told on its status, never half applied."""

from __future__ import annotations

from tether.errors import TetherError


class AppSetError(TetherError):
    """A generator or template that cannot produce Applications as written."""


#: parameter sets one ApplicationSet may produce at most (a generator over a huge directory or
#: a matrix of two large ones would otherwise make thousands of Applications by mistake)
MAX_PARAMS = 5_000
