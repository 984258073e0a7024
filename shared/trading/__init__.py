"""Order entry for signed-in users: ``/api/v1/account/orders`` and position closing.

The account function serves it (:mod:`shared.trading.routes` registers the routes in the
account router); orders go to Kalshi's Orders V2 through :mod:`shared.kalshi.orders`,
signed with the user's own key; every request and Kalshi's answer is kept in
``order_audit`` (:mod:`shared.trading.audit`).
"""
