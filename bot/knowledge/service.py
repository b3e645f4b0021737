"""The knowledge base: the current menu and cafe facts, reloadable without a restart.

On start and on reload the YAML files are validated; a good file replaces the
current data and is snapshotted in the database, a bad one is reported (file, line,
field) and the last good data stays in force — from memory, or from the database
snapshot after a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.config import ConfigError, Settings
from bot.knowledge.loader import DataFileError, load_cafe, load_menu
from bot.knowledge.models import CafeInfo, Menu, MenuItem, answers_version
from storage.knowledge import KnowledgeRepository
from storage.runtime_settings import RuntimeSettingsRepository

log = logging.getLogger(__name__)

Listener = Callable[["KnowledgeBase"], Awaitable[None]]
Announcer = Callable[[], Awaitable[None]]  # tells the other processes that this one changed the knowledge


@dataclass
class ReloadResult:
    menu_version: str
    cafe_version: str
    changed: bool
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


AVAILABILITY_KEY = "menu.availability"  # runtime_settings: {item id: available}, the staff's /soldout and /back


class KnowledgeBase:
    def __init__(self, settings: Settings, repo: KnowledgeRepository,
                 runtime_settings: RuntimeSettingsRepository | None = None) -> None:
        self._settings = settings
        self._repo = repo
        self._runtime = runtime_settings  # where the availability overrides outlive the process (None: memory)
        self._availability: dict[str, bool] = {}
        self._file_menu: Menu | None = None  # as menu.yaml says; `_menu` is it with the overrides applied
        self._menu: Menu | None = None
        self._cafe: CafeInfo | None = None
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._announcers: list[Announcer] = []

    @property
    def menu(self) -> Menu:
        if self._menu is None:
            raise RuntimeError("knowledge base not loaded")
        return self._menu

    @property
    def cafe(self) -> CafeInfo:
        if self._cafe is None:
            raise RuntimeError("knowledge base not loaded")
        return self._cafe

    @property
    def menu_version(self) -> str:
        return self.menu.version

    @property
    def answers_version(self) -> str:
        """The menu's and the cafe facts' versions: what cached answers are tied to."""
        return answers_version(self.menu, self.cafe)

    def on_change(self, listener: Listener) -> None:
        """Call `listener` after a reload changed the menu or cafe facts (caches drop stale entries)."""
        self._listeners.append(listener)

    def on_own_change(self, announcer: Announcer) -> None:
        """Call `announcer` after this process reloaded the files or changed an override, so the other
        replicas take the same snapshot (`refresh`); bot/replicas/knowledge.py tells them."""
        self._announcers.append(announcer)

    async def _announce(self) -> None:
        for announcer in self._announcers:
            try:
                await announcer()
            except Exception:  # the change holds here; the others catch up at their periodic check
                log.exception("could not tell the other processes about the knowledge change")

    @property
    def availability(self) -> dict[str, bool]:
        """The staff's overrides of menu.yaml's `available`, by item id."""
        return dict(self._availability)

    async def set_available(self, item_id: str, available: bool, by: int | None = None) -> MenuItem:
        """Mark an item sold out (False) or back (True) over the menu file, at once and across restarts.

        An override equal to what the file says is dropped, so the file decides again.
        """
        async with self._lock:
            base = self._file_menu.item(item_id) if self._file_menu is not None else None
            if base is None:
                raise KeyError(item_id)
            overrides = dict(self._availability)
            if base.available == available:
                overrides.pop(item_id, None)
            else:
                overrides[item_id] = available
            if self._runtime is not None:
                if overrides:
                    await self._runtime.set(AVAILABILITY_KEY, json.dumps(overrides, sort_keys=True), by)
                else:
                    await self._runtime.delete(AVAILABILITY_KEY)
            self._availability = overrides
            self._apply()
        log.info("menu item %s marked %s by %s", item_id, "available" if available else "sold out", by)
        await self._announce()
        item = self.menu.item(item_id)
        assert item is not None
        return item

    async def _load_availability(self) -> None:
        if self._runtime is None:
            return
        raw = await self._runtime.get(AVAILABILITY_KEY)
        try:
            data = json.loads(raw) if raw else {}
            self._availability = {str(k): bool(v) for k, v in data.items()}
        except (ValueError, AttributeError):
            log.warning("unreadable availability overrides %r: ignored", raw)
            self._availability = {}

    def _apply(self) -> None:
        if self._file_menu is not None:
            self._menu = self._file_menu.with_availability(self._availability)

    async def start(self) -> None:
        result = await self.reload()
        if self._menu is None or self._cafe is None:
            raise ConfigError(f"MENU_PATH/CAFE_PATH: no usable data ({'; '.join(result.errors)})")

    async def stop(self) -> None:
        return None

    async def reload(self) -> ReloadResult:
        async with self._lock:
            errors: list[str] = []
            before = (self._menu.version if self._menu else "", self._cafe.version if self._cafe else "")
            await self._load_availability()  # a /soldout in another process is seen from here on, too
            try:
                menu, raw_menu = await asyncio.to_thread(load_menu, self._settings.menu_path)
                if menu.version != before[0]:
                    await self._repo.save_menu(menu, raw_menu)
                self._file_menu = menu
            except DataFileError as exc:
                errors.append(str(exc))
                log.error("menu not loaded, keeping the last good one: %s", exc)
                if self._file_menu is None:
                    self._file_menu = await self._repo.last_menu()
            self._apply()
            try:
                cafe, raw_cafe = await asyncio.to_thread(load_cafe, self._settings.cafe_path)
                if cafe.version != before[1]:
                    await self._repo.save_cafe(cafe, raw_cafe)
                self._cafe = cafe
            except DataFileError as exc:
                errors.append(str(exc))
                log.error("cafe facts not loaded, keeping the last good ones: %s", exc)
                if self._cafe is None:
                    self._cafe = await self._repo.last_cafe()
            after = (self._menu.version if self._menu else "", self._cafe.version if self._cafe else "")
            changed = after != before and all(before)
            if after != before:
                log.info("knowledge loaded: menu %s, cafe %s", after[0], after[1])
        if changed:
            for listener in self._listeners:
                await listener(self)
        await self._announce()
        return ReloadResult(menu_version=after[0], cafe_version=after[1], changed=changed, errors=errors)

    async def refresh(self) -> bool:
        """Adopt what another process loaded: the database's snapshot of the menu and cafe facts and the
        staff's overrides. True if anything in force here changed.

        Behind a load balancer `/reload_menu` and `/soldout` reach one replica; that one saves the snapshot
        (and the overrides) and announces it, the others call this, so every replica answers from the same
        menu without reading its own copy of the files.
        """
        async with self._lock:
            before = (self._menu.version if self._menu else "", self._cafe.version if self._cafe else "")
            overrides = dict(self._availability)
            await self._load_availability()
            menu = await self._repo.last_menu()
            if menu is not None and (self._file_menu is None or menu.version != self._file_menu.version):
                self._file_menu = menu
            cafe = await self._repo.last_cafe()
            if cafe is not None and (self._cafe is None or cafe.version != self._cafe.version):
                self._cafe = cafe
            self._apply()
            after = (self._menu.version if self._menu else "", self._cafe.version if self._cafe else "")
            changed = after != before and all(before)
            moved = after != before or overrides != self._availability
        if after != before:
            log.info("knowledge taken from another process: menu %s, cafe %s", after[0], after[1])
        if changed:
            for listener in self._listeners:
                await listener(self)
        return moved
