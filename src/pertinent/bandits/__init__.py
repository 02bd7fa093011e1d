"""Multi-armed and contextual bandit policies plus off-policy evaluation."""
