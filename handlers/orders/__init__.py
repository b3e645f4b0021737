"""Ordering over Telegram: the routers (menu, cart and checkout, the staff's buttons) with their
callback data, keyboards, filters and views. The domain (carts, orders, states) is bot/orders/.
"""
