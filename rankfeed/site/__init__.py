"""The demo hotel-search site: pages in ``site/`` that use the browser tracker (``tracker/``) against the gateway.

``rankfeed site`` serves them; ``rankfeed local up`` starts it beside the gateway, and ``make demo`` prints
its URL. Results are ranked by the re-rank endpoint when it is up, else in catalogue order.
"""
