"""The appointment backend: appointments, business rules and reports, and the handlers
of their four event types. It uses the engine (``scheduling``) only through its public
API, as any other project would.
"""
