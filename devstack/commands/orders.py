"""``kalshi-insights orders place|list|cancel``: order entry from a terminal.

Two ways to reach an exchange:

- **Through the API** (default): the running local stack's gateway (found through
  ``--state-dir``'s ``gateway.json``, or ``--url`` for any deployment), as a script: with an
  API token (``--token-file``, a file holding a ``ki_...`` token with the ``trade`` scope) or
  by signing in with a key file (``--key-file``, the ``{"key_id", "private_key_pem"}`` JSON
  that ``kalshi-insights demo-account`` prints). Everything the API enforces applies: the
  user's trading switch and limits, the audit.
- **Straight to Kalshi** (``--kalshi demo|production`` or ``--kalshi-url``, with
  ``--key-file``): the same V2 calls the API makes (:mod:`shared.kalshi.orders`), for a
  real key without any of our services. The order is translated the same way
  (:mod:`shared.trading.translate`).

Each command prints the order (and, for ``place``, its fills) in a line a person reads;
``--json`` prints the JSON instead. Secrets never reach the output: a key file's PEM and a
token stay in memory, and error messages quote only the API's own ``error``/``message``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NAME = "orders"
TIME_IN_FORCE = ("good_till_canceled", "immediate_or_cancel", "fill_or_kill")


class CliError(Exception):
    """A failure to report in one line (exit code 1)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="place, list and cancel orders (through the local stack, or straight to Kalshi)",
        description=(
            "Order entry from the terminal: through the API of the running stack (or --url) "
            "with an API token or a key file, or straight to Kalshi with --kalshi."
        ),
    )
    commands = parser.add_subparsers(dest="orders_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--state-dir",
            default=".local",
            help="state directory of 'kalshi-insights up' (default: .local)",
        )
        p.add_argument("--url", default=None, help="API origin (default: the local gateway)")
        p.add_argument(
            "--token-file", default=None, help="file holding an API token with the trade scope"
        )
        p.add_argument(
            "--key-file",
            default=None,
            help='JSON {"key_id", "private_key_pem"} to sign in with (or to sign Kalshi calls)',
        )
        p.add_argument(
            "--kalshi",
            choices=("demo", "production"),
            default=None,
            help="send straight to this Kalshi with --key-file (no local stack)",
        )
        p.add_argument("--kalshi-url", default=None, help="send straight to this Kalshi base URL")
        p.add_argument("--json", action="store_true", help="print JSON")

    place = commands.add_parser("place", help="place a limit order")
    place.add_argument("ticker", help="market ticker")
    place.add_argument("--side", choices=("yes", "no"), required=True)
    place.add_argument("--action", choices=("buy", "sell"), default="buy")
    place.add_argument("--count", required=True, help="contracts, e.g. 10")
    place.add_argument("--price", required=True, help="price of the side in dollars, e.g. 0.45")
    place.add_argument("--tif", choices=TIME_IN_FORCE, default="good_till_canceled")
    place.add_argument("--client-order-id", default=None)
    common(place)
    place.set_defaults(handler=run)

    listing = commands.add_parser("list", help="list orders, newest first")
    listing.add_argument("--status", choices=("resting", "canceled", "executed"), default=None)
    listing.add_argument("--ticker", default=None)
    listing.add_argument("--limit", type=int, default=50)
    common(listing)
    listing.set_defaults(handler=run)

    cancel = commands.add_parser("cancel", help="cancel an order, or every resting one")
    cancel.add_argument("order_id", nargs="?", default=None)
    cancel.add_argument("--all", action="store_true", help="cancel every resting order")
    cancel.add_argument("--ticker", default=None, help="with --all: only this market")
    common(cancel)
    cancel.set_defaults(handler=run)


# ---------------------------------------------------------------- printing


def describe_order(order: Mapping[str, Any]) -> str:
    filled = order.get("filled_count") or "0.00"
    remaining = order.get("remaining_count") or "0.00"
    return (
        f"order {order.get('id')}  {order.get('status')}  {order.get('action')} "
        f"{order.get('count')} {str(order.get('side', '')).upper()} @ {order.get('price')} "
        f"on {order.get('ticker')}  (filled {filled}, remaining {remaining})"
    )


def describe_fill(fill: Mapping[str, Any]) -> str:
    role = "taker" if fill.get("is_taker") else "maker"
    return (
        f"  fill {fill.get('fill_id')}  {fill.get('action')} {fill.get('count')} "
        f"{str(fill.get('side', '')).upper()} @ {fill.get('price')}  {role}, fee {fill.get('fee')}"
    )


def _print(data: Any, args: Any, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for line in lines:
            print(line)


# ---------------------------------------------------------------- through the API


def _key_file(path: str | None) -> dict[str, str]:
    if path is None:
        raise CliError("give --key-file (or --token-file)")
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read the key file {path}: {type(error).__name__}") from None
    if not isinstance(data, dict) or not {"key_id", "private_key_pem"} <= set(data):
        raise CliError(f'{path} must be JSON with "key_id" and "private_key_pem"')
    return {"key_id": str(data["key_id"]), "private_key_pem": str(data["private_key_pem"])}


def gateway_origin(state_dir: Path) -> str | None:
    """``http://127.0.0.1:PORT`` of the gateway the stack in ``state_dir`` runs."""
    try:
        config = json.loads((state_dir / "gateway.json").read_text())
    except (OSError, ValueError):
        return None
    port = config.get("port") if isinstance(config, dict) else None
    return f"http://127.0.0.1:{port}" if isinstance(port, int) else None


class ApiSession:
    """An HTTP client on the API as a script: a Bearer token, or a signed-in session."""

    def __init__(self, args: Any) -> None:
        import httpx

        origin = args.url or gateway_origin(Path(args.state_dir))
        if origin is None:
            raise CliError(
                f"no gateway recorded in {args.state_dir}/gateway.json; start the stack "
                "(kalshi-insights up), or pass --url"
            )
        self.http = httpx.Client(base_url=origin.rstrip("/"), timeout=30.0)
        self.headers: dict[str, str] = {}
        if args.token_file:
            try:
                token = Path(args.token_file).read_text().strip()
            except OSError as error:
                raise CliError(f"cannot read {args.token_file}: {type(error).__name__}") from None
            self.headers["Authorization"] = f"Bearer {token}"
        else:
            answer = self.http.post("/api/v1/account/authenticate", json=_key_file(args.key_file))
            body = self._body(answer)
            # A session changes state like a browser on the API's own origin: Origin plus
            # the double-submitted CSRF token (the cookie rides in the client's jar).
            self.headers["X-CSRF-Token"] = str(body.get("csrf_token", ""))
            self.headers["Origin"] = origin.rstrip("/")

    @staticmethod
    def _body(answer: Any) -> dict[str, Any]:
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code >= 400:
            if isinstance(body, dict) and "error" in body:
                raise CliError(f"{answer.status_code} {body['error']}: {body.get('message', '')}")
            raise CliError(f"HTTP {answer.status_code} from the API")
        return body if isinstance(body, dict) else {}

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.http.request(method, path, headers=self.headers, **kwargs)
        return self._body(answer)

    def close(self) -> None:
        self.http.close()


def _via_api(args: Any) -> int:
    api = ApiSession(args)
    try:
        if args.orders_command == "place":
            ticket = {
                "ticker": args.ticker,
                "side": args.side,
                "action": args.action,
                "count": args.count,
                "price": args.price,
                "time_in_force": args.tif,
            }
            if args.client_order_id:
                ticket["client_order_id"] = args.client_order_id
            placed = api.call("POST", "/api/v1/account/orders", json=ticket)
            order = api.call("GET", f"/api/v1/account/orders/{placed['id']}")
            lines = [describe_order(order), *(describe_fill(f) for f in order.get("fills", []))]
            _print(order, args, lines)
        elif args.orders_command == "list":
            params = {"limit": str(args.limit)}
            if args.status:
                params["status"] = args.status
            if args.ticker:
                params["ticker"] = args.ticker
            page = api.call("GET", "/api/v1/account/orders", params=params)
            orders = page.get("orders", [])
            _print(page, args, [describe_order(o) for o in orders] or ["no orders"])
        else:
            if args.all:
                params = {"ticker": args.ticker} if args.ticker else {}
                done = api.call("DELETE", "/api/v1/account/orders", params=params)
                lines = [f"canceled {c['id']}" for c in done.get("canceled", [])]
                lines += [f"failed {f['id']}: {f['error']}" for f in done.get("failed", [])]
                _print(done, args, lines or ["no resting orders"])
            else:
                if not args.order_id:
                    raise CliError("give an order id, or --all")
                order = api.call("DELETE", f"/api/v1/account/orders/{args.order_id}")
                _print(order, args, [describe_order(order)])
    finally:
        api.close()
    return 0


# ---------------------------------------------------------------- straight to Kalshi


def _via_kalshi(args: Any) -> int:
    from shared.kalshi.client import KalshiClient
    from shared.kalshi.errors import KalshiError
    from shared.kalshi.orders import CreateOrder, KalshiOrders
    from shared.kalshi.signing import KalshiSigner
    from shared.trading.service import fill_view, order_view
    from shared.trading.translate import TicketError, parse_ticket

    key = _key_file(args.key_file)
    signer = KalshiSigner.from_pem(key["key_id"], key["private_key_pem"])
    if args.kalshi_url:
        client = KalshiClient(base_url=args.kalshi_url, signer=signer)
    else:
        client = KalshiClient(args.kalshi, signer=signer)
    orders = KalshiOrders(client)
    try:
        if args.orders_command == "place":
            try:
                ticket = parse_ticket(
                    {
                        "ticker": args.ticker,
                        "side": args.side,
                        "action": args.action,
                        "count": args.count,
                        "price": args.price,
                        "time_in_force": args.tif,
                        **(
                            {"client_order_id": args.client_order_id}
                            if args.client_order_id
                            else {}
                        ),
                    }
                )
            except TicketError as bad:
                raise CliError(bad.message) from None
            book_side, yes_price = ticket.book
            create = CreateOrder(
                ticker=ticket.ticker,
                side=book_side,
                count=ticket.count,
                price=yes_price,
                time_in_force=ticket.time_in_force,
                **({"client_order_id": ticket.client_order_id} if ticket.client_order_id else {}),
            )
            answer = orders.create(create)
            view = order_view(orders.get(answer.order_id), ticket.side)
            fills = client.get_fills(order_id=answer.order_id, limit=200).fills
            view["fills"] = [fill_view(f, ticket.side) for f in fills]
            lines = [describe_order(view), *(describe_fill(f) for f in view["fills"])]
            _print(view, args, lines)
        elif args.orders_command == "list":
            filters: dict[str, str] = {}
            if args.status:
                filters["status"] = args.status
            if args.ticker:
                filters["ticker"] = args.ticker
            page = client.get_orders(limit=args.limit, **filters)
            views = [order_view(o, None) for o in page.orders]
            _print({"orders": views}, args, [describe_order(v) for v in views] or ["no orders"])
        else:
            if args.all:
                resting = orders.list_orders(ticker=args.ticker, status="resting")
                ids = [o.order_id for o in resting]
                lines = []
                for start in range(0, len(ids), 10):
                    for item in orders.batch_cancel(ids[start : start + 10]).orders:
                        lines.append(
                            f"failed {item.order_id}: {item.error.code}"
                            if item.error
                            else f"canceled {item.order_id}"
                        )
                _print({"order_ids": ids}, args, lines or ["no resting orders"])
            else:
                if not args.order_id:
                    raise CliError("give an order id, or --all")
                orders.cancel(args.order_id)
                view = order_view(orders.get(args.order_id), None)
                _print(view, args, [describe_order(view)])
    except KalshiError as error:
        raise CliError(str(error)) from None
    finally:
        client.close()
    return 0


def run(args: Any) -> int:
    import httpx

    if args.orders_command == "list" and not 1 <= args.limit <= 200:
        print("kalshi-insights orders: --limit must be 1 to 200", file=sys.stderr)
        return 2
    try:
        if args.kalshi or args.kalshi_url:
            return _via_kalshi(args)
        return _via_api(args)
    except CliError as error:
        print(f"kalshi-insights orders: {error}", file=sys.stderr)
        return 1
    except httpx.HTTPError as error:
        print(
            f"kalshi-insights orders: the API did not answer ({type(error).__name__}); "
            "is 'kalshi-insights up' running?",
            file=sys.stderr,
        )
        return 1


__all__ = ["ApiSession", "describe_fill", "describe_order", "gateway_origin", "register", "run"]
