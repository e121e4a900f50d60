"""Investment Withdraw Service."""
