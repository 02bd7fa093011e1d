"""Destinations: forward events, traits and segment entries/exits to other tools (webhooks), durably."""
