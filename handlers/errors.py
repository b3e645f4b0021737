"""The last line of defence: an unexpected error gets logged and a polite reply.

Registered on the Dispatcher itself (`dp.errors`), because errors propagate up the
router tree, never sideways to a sibling router.
"""

from __future__ import annotations

import logging

from aiogram.types import ErrorEvent

from bot.i18n import N_, _

log = logging.getLogger(__name__)

SORRY = N_("Sorry, something went wrong on my side. Please try again in a moment.")


async def on_error(event: ErrorEvent) -> bool:
    update = event.update
    log.error("handler failed for update %s: %r", update.update_id, event.exception, exc_info=event.exception)
    try:
        if update.message is not None:
            await update.message.answer(_(SORRY))
        elif update.callback_query is not None:
            await update.callback_query.answer(_(SORRY), show_alert=True)
    except Exception:
        log.warning("could not tell the user about the error for update %s", update.update_id)
    return True
