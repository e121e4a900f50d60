"""The withdrawal's own words and rules: statuses, money, errors, policies.

Nothing here imports a framework (no SQLAlchemy, httpx, FastAPI or temporalio), so it is safe
inside the Temporal workflow sandbox and trivially testable.
"""
