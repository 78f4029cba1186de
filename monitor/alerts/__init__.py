"""Alerts: the event each match owes, how it is rendered per destination, and how it is delivered."""
