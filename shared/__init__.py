"""Kalshi Insights: the package every deployable imports.

Everything here is testable without a cloud: functions/ and streamer/ are thin adapters
around it.
"""
