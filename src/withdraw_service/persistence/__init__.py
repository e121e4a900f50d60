"""The application database: withdrawals and their history, behind a repository."""
