"""The re-rank endpoint: orders a search's hotels by the given order blended with live, debiased engagement.

``features`` follows the compacted hotel-features topic into memory, ``scoring`` is the documented
score, ``request`` validates what callers send, ``app`` is the ASGI application and ``server`` runs
it under uvicorn (``rankfeed rerank``). See README.md in this folder.
"""
