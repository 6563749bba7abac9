"""The demo site's tests use a real re-rank endpoint on the shared broker (its fixtures live with its tests)."""

from tests.rerank.conftest import publisher, start_reranker

__all__ = ["publisher", "start_reranker"]
