"""HTML pages: the local payment page, and the success/cancel pages of both modes.

The ``/local/checkout`` routes are unauthenticated and post signed events to
the webhook, so each asserts at the route that it runs where it may: the local
stage without a Stripe key (``Settings.local_payments``). Anywhere else they
answer 404 in the API's error shape before reading anything.
"""
from __future__ import annotations

import functools
import html
import logging
from typing import Any, Callable

from chalice import Blueprint, Response

from chalicelib.core import errors
from chalicelib.core.config import get_settings
from chalicelib.routes._http import error_response

bp = Blueprint(__name__)
log = logging.getLogger("coinhall.local_pages")
_FORM = ["application/x-www-form-urlencoded", "application/json", "multipart/form-data"]
_HTML = {"Content-Type": "text/html; charset=utf-8"}


def _error_page(exc: errors.CoinhallError) -> Response:
    from chalicelib.purchases.local_checkout import page

    try:
        body = page(f"{exc.status}", f"<h1>{exc.status}</h1><p id='detail'>{html.escape(exc.message)}</p>")
    except Exception:  # the settings themselves may be what broke: the bare page, never a traceback
        body = f"<h1>{exc.status}</h1><p>{html.escape(exc.message)}</p>"
    return Response(body=body, status_code=exc.status, headers=_HTML)


def _answer(render: Callable[[], Response]) -> Response:
    """The page, or a page saying what went wrong: never a traceback."""
    try:
        return render()
    except errors.CoinhallError as exc:
        return _error_page(exc)
    except Exception:
        log.exception("unhandled error on %s", bp.current_request.path if bp.current_request else "a page")
        err = errors.CoinhallError("An internal error occurred; it has been logged.")
        err.status = 500
        return _error_page(err)


def _html(render: Callable[[], str]) -> Response:
    return _answer(lambda: Response(body=render(), status_code=200, headers=_HTML))


def _redirect(target: Callable[[], str]) -> Response:
    return _answer(lambda: Response(body="", status_code=303, headers={"Location": target()}))


def local_stage_only(view: Callable[..., Response]) -> Callable[..., Response]:
    """404 (our JSON error shape) unless this is the local stage with the local payment page."""

    @functools.wraps(view)
    def guarded(**params: Any) -> Response:
        if not get_settings().local_payments:
            request = bp.current_request
            request_id = (request.context or {}).get("requestId") if request else None
            return error_response(errors.NotFoundError(
                "The local payment page exists only in the local stage without Stripe."), request_id)
        return view(**params)

    return guarded


@bp.route("/local/checkout/{purchase_id}", methods=["GET"])
@local_stage_only
def checkout_page(purchase_id: str) -> Response:
    from chalicelib.purchases import local_checkout

    return _html(lambda: local_checkout.checkout_page(purchase_id))


@bp.route("/local/checkout/{purchase_id}/pay", methods=["POST"], content_types=_FORM)
@local_stage_only
def pay(purchase_id: str) -> Response:
    from chalicelib.purchases import local_checkout

    return _redirect(lambda: local_checkout.pay(purchase_id))


@bp.route("/local/checkout/{purchase_id}/refund", methods=["POST"], content_types=_FORM)
@local_stage_only
def refund(purchase_id: str) -> Response:
    from chalicelib.purchases import local_checkout

    return _redirect(lambda: local_checkout.refund(purchase_id))


@bp.route("/local/checkout/{purchase_id}/cancel", methods=["POST"], content_types=_FORM)
@local_stage_only
def cancel(purchase_id: str) -> Response:
    from chalicelib.purchases import local_checkout

    return _redirect(lambda: local_checkout.cancel(purchase_id))


def _result_page(cancelled: bool) -> Response:
    from chalicelib.purchases import local_checkout

    query = bp.current_request.query_params or {}
    poll = query.get("poll", "")  # how often the page refreshed itself; anything else counts as a first visit
    return _html(lambda: local_checkout.result_page(query.get("purchase_id", ""), cancelled=cancelled,
                                                    poll=int(poll) if poll.isdigit() and len(poll) < 4 else 0))


@bp.route("/checkout/success", methods=["GET"])
def success() -> Response:
    return _result_page(cancelled=False)


@bp.route("/checkout/cancel", methods=["GET"])
def cancelled() -> Response:
    return _result_page(cancelled=True)
