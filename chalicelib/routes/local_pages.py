"""HTML pages: the local payment page, and the success/cancel pages of both modes."""
from __future__ import annotations

import html
import logging
from typing import Callable

from chalice import Blueprint, Response

from chalicelib import errors
from chalicelib.config import get_settings
from chalicelib.routes._http import Call

bp = Blueprint(__name__)
log = logging.getLogger("coinhall.http")
_FORM = ["application/x-www-form-urlencoded", "application/json", "multipart/form-data"]


def _error_page(status: int, message: str) -> Response:
    return Response(body=f"<h1>{status}</h1><p>{html.escape(message)}</p>", status_code=status,
                    headers={"Content-Type": "text/html; charset=utf-8"})


def _guarded(make: Callable[[], Response]) -> Response:
    """These pages are not ``endpoint()`` routes: their own last resort, an HTML error page."""
    try:
        return make()
    except errors.CoinhallError as exc:
        return _error_page(exc.status, exc.message)
    except Exception:
        log.exception("unhandled error on %s", bp.current_request.path if bp.current_request else "a page")
        return _error_page(500, "An internal error occurred; it has been logged.")


def _html(render: Callable[[], str]) -> Response:
    return _guarded(lambda: Response(body=render(), status_code=200,
                                     headers={"Content-Type": "text/html; charset=utf-8"}))


def _redirect(target: Callable[[], str]) -> Response:
    return _guarded(lambda: Response(body="", status_code=303, headers={"Location": target()}))


def _local_only() -> None:
    if not get_settings().local_payments:
        raise errors.NotFoundError("The local payment page exists only in the local stage without Stripe.")


def _base() -> str:
    request = bp.current_request
    return Call(None, None, {}, request.headers, b"", dict(request.context or {})).base_url


@bp.route("/local/checkout/{purchase_id}", methods=["GET"])
def checkout_page(purchase_id: str) -> Response:
    from chalicelib import local_checkout

    return _html(lambda: _local_only() or local_checkout.checkout_page(purchase_id))


@bp.route("/local/checkout/{purchase_id}/pay", methods=["POST"], content_types=_FORM)
def pay(purchase_id: str) -> Response:
    from chalicelib import local_checkout

    return _redirect(lambda: _local_only() or local_checkout.pay(purchase_id, _base()))


@bp.route("/local/checkout/{purchase_id}/refund", methods=["POST"], content_types=_FORM)
def refund(purchase_id: str) -> Response:
    from chalicelib import local_checkout

    return _redirect(lambda: _local_only() or local_checkout.refund(purchase_id, _base()))


@bp.route("/local/checkout/{purchase_id}/cancel", methods=["POST"], content_types=_FORM)
def cancel(purchase_id: str) -> Response:
    from chalicelib import local_checkout

    return _redirect(lambda: _local_only() or local_checkout.cancel(purchase_id))


@bp.route("/checkout/success", methods=["GET"])
def success() -> Response:
    from chalicelib import local_checkout

    query = bp.current_request.query_params or {}
    return _html(lambda: local_checkout.result_page(query.get("purchase_id", ""), cancelled=False))


@bp.route("/checkout/cancel", methods=["GET"])
def cancelled() -> Response:
    from chalicelib import local_checkout

    query = bp.current_request.query_params or {}
    return _html(lambda: local_checkout.result_page(query.get("purchase_id", ""), cancelled=True))
