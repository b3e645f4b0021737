"""The link to the Telegram Bot API: the bot's session, its supervisor and health, the dispatcher's
middlewares and shared filters, and the gateway through which the domain's outbox and staff directory
make their calls.

This package, the handlers and the composition root (bot/app.py, bot/services.py) are the only code
that imports aiogram (tests/test_layering.py checks it); the domain packages talk to Telegram only
through the small protocols they declare (bot.outbox.Sender, bot.orders.Membership).
"""
