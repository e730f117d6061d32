"""Sends planned WhatsApp messages from a small thread pool.

Plain Python with no database access: the caller plans the messages (dicts
from ``dunning.communication._whatsapp_plan``), hands them over with the
channel's client and rate limiter, and records the answers itself.
"""

import logging
import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from .whatsapp_client import WhatsAppError
from .whatsapp_payloads import template_components

_logger = logging.getLogger(__name__)


class WhatsAppPool:
    """The threads that put planned messages on the wire, started at the
    first ``submit``. ``close`` waits for them and gives the interpreter its
    thread switch interval back."""

    # While messages are on the wire the interpreter switches threads more
    # often than its default, so that a sender thread whose rate-limiter slot
    # came writes on the socket at once rather than after the database
    # thread's next time slice, which bunched arrivals at the provider.
    SWITCH_INTERVAL = 0.0005

    def __init__(self, workers):
        self.workers = workers
        self._executor = None
        self._switch_interval = None

    def submit(self, client, limiter, plans):
        """Start sending ``plans`` through ``client`` at ``limiter``'s pace;
        answers the futures of their ``(plan, wamid, error)``."""
        if self._executor is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, self.SWITCH_INTERVAL))
            self._executor = ThreadPoolExecutor(
                self.workers, thread_name_prefix="dunning_whatsapp"
            )
        return [self._executor.submit(deliver, client, limiter, plan) for plan in plans]

    @staticmethod
    def wait_any(futures):
        """Wait until at least one of ``futures`` is done; answers those done
        (their results are ``(plan, wamid, error)``)."""
        done, _not_done = wait(futures, return_when=FIRST_COMPLETED)
        return done

    def close(self):
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None


def deliver(client, limiter, plan):
    """One message on the wire (runs in a pool thread: no database access).
    Answers ``(plan, wamid, error)``."""
    try:
        if "interactive" in plan:
            wamid = client.send_interactive(
                plan["to"],
                plan["interactive"],
                callback_data=plan["callback"],
                gate=limiter.acquire,
            )
            return plan, wamid, None
        if "text" in plan and plan.get("document"):
            media_id = client.upload_media(*plan["document"])
            wamid = client.send_document(
                plan["to"],
                media_id,
                plan["document"][0],
                caption=plan["text"],
                callback_data=plan["callback"],
                gate=limiter.acquire,
            )
            return plan, wamid, None
        if "text" in plan:
            wamid = client.send_text(
                plan["to"], plan["text"], plan["callback"], gate=limiter.acquire
            )
            return plan, wamid, None
        media_id = None
        if plan.get("document"):
            media_id = client.upload_media(*plan["document"])
        url_index, url_suffix = plan.get("url_button") or (0, None)
        components = template_components(
            body_params=plan.get("body_params"),
            url_button_suffix=url_suffix,
            url_button_index=url_index,
            document_media_id=media_id,
            document_filename=plan["document"][0] if media_id else None,
            quick_reply_payloads=plan.get("quick_replies"),
        )
        wamid = client.send_template(
            plan["to"],
            plan["template"],
            plan["language"],
            components,
            plan["callback"],
            gate=limiter.acquire,
        )
        return plan, wamid, None
    except WhatsAppError as error:
        return plan, None, error
    except Exception as error:
        _logger.exception("WhatsApp message %s could not be sent", plan["id"])
        return plan, None, WhatsAppError(None, "invalid_request", str(error))
