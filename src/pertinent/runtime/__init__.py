"""Process-level machinery every area shares: the background-job runner and the refreshing cache.

Nothing here knows about events, profiles or models; services build on it.
"""
