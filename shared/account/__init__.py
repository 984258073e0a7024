"""A trader's account: reads of the user's Kalshi portfolio (``reads.py``, cached by
``cache.py``), the day's P&L baselines (``baselines.py``), and the ``account`` HTTP function's
router and sign-in orchestration. The P&L definitions themselves are
``shared/domain/pnl.py``."""
