"""`chatwootai demo`: chat with the bot in the terminal, as a customer, against the simulator.

One loop, in turns: read a line, deliver it as Chatwoot would, then show what the appliance
does — typing, the reply, a handoff's private note (dimmed), labels, the status — until the
turn is finished (followed in the store by `TurnTracker`, as `simulate` does), then prompt again.
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import queue
import signal
import sys
import time
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from app.demo.appliance import ACCOUNT_ID, DemoAppliance, operator_choices
from app.demo.chatwoot_sim import SimEvent
from app.ops.payloads import message_created
from app.ops.simulate import TurnTracker, crew_for

SUGGESTIONS = ("quanto custa o protetor solar?", "vocês entregam em todo o Brasil?",
               "quero agendar uma limpeza de pele", "quero falar com um atendente")
HELP = ("[bold]/new[/] new conversation · [bold]/agent TEXT[/] answer as a human agent · "
        "[bold]/help[/] · [bold]/quit[/]")


class Demo:
    def __init__(self, appliance: DemoAppliance, console: Console):
        self.app = appliance
        self.console = console
        self.conversations = itertools.count(1)
        self.conversation = next(self.conversations)
        self.message_ids = itertools.count(1)
        self.bot = "bot"

    # -- what the operator types -------------------------------------------------------------
    def handle(self, line: str) -> bool:
        """False when the operator wants to leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit", "/q"):
            return False
        if line == "/help":
            self.console.print(HELP)
        elif line == "/new":
            self.conversation = next(self.conversations)
            self.console.print(f"[dim]── conversation {self.conversation} ──[/]")
        elif line.startswith("/agent"):
            text = line.removeprefix("/agent").strip()
            if not text:
                self.console.print("[yellow]usage: /agent TEXT[/]")
            else:
                self.agent_says(text)
        elif line.startswith("/"):
            self.console.print(f"[yellow]unknown command {escape(line.split()[0])}[/] — {HELP}")
        else:
            self.customer_says(line)
        return True

    def customer_says(self, text: str) -> None:
        conv = self.app.sim.conversation(self.conversation)
        message_id = next(self.message_ids)
        payload = message_created(account_id=ACCOUNT_ID, conversation_id=conv.id, message_id=message_id,
                                  content=text, sender_name="Você", status=conv.status, labels=conv.labels)
        try:
            answer = self.app.post(payload)
        except httpx.HTTPError as exc:
            self.console.print(f"  [red]not delivered to the web program: {type(exc).__name__}[/]")
            return
        status = answer.get("status")
        if status != "queued":
            reason = answer.get("reason") or status
            note = " — a human has it; /new starts a new conversation" if conv.status != "pending" else ""
            self.console.print(f"  [dim](not for the bot: {escape(str(reason))}{note})[/]")
            return
        self.follow(TurnTracker(self.app.settings, ACCOUNT_ID, message_id, conv.id))

    def agent_says(self, text: str) -> None:
        """An agent's public reply, as Chatwoot delivers it to the bot: outgoing, sender user."""
        conv = self.app.sim.conversation(self.conversation)
        payload = message_created(account_id=ACCOUNT_ID, conversation_id=conv.id, message_id=next(self.message_ids),
                                  content=text, sender_type="user", sender_name="Ana (agent)", sender_id=7,
                                  status=conv.status, labels=conv.labels)
        try:
            self.app.post(payload)
        except httpx.HTTPError as exc:
            self.console.print(f"  [red]not delivered to the web program: {type(exc).__name__}[/]")
            return
        self.console.print(f"  [bold magenta]agent Ana ›[/] {escape(text)}")
        self.console.print("  [dim](a human answered: the bot stays quiet in this conversation)[/]")

    # -- what the appliance does --------------------------------------------------------------
    def follow(self, tracker: TurnTracker) -> None:
        timeout = 30.0 + (self.app.settings.llm_timeout_s * 2 if self.app.settings.llm_model else 0)
        deadline = time.monotonic() + timeout
        typing = False
        try:
            while time.monotonic() < deadline:
                typing = self._drain(typing)
                for step in tracker.poll():
                    if step.name == "decided":
                        self.console.print(f"  [dim]{escape(step.detail)}[/]")
                    elif step.name == "routed":
                        self.console.print(f"  [dim]routed: {escape(step.detail)}[/]")
                    elif step.name == "quiet":
                        self.console.print("  [dim](the bot stays quiet: a human agent handles this conversation)[/]")
                    elif step.name == "failed":
                        self.console.print(f"  [red]{escape(step.detail)}[/]")
                if tracker.done:
                    break
                time.sleep(0.02)
            else:
                self.console.print(f"  [red]no answer within {timeout:.0f} s[/] (see {self.app.tmp}/worker.out)")
            # typing off comes right after the last post: wait for it so it does not land on the prompt
            end = time.monotonic() + 1.0
            while typing and time.monotonic() < end:
                typing = self._drain(typing)
                time.sleep(0.02)
        finally:
            tracker.close()

    def _drain(self, typing: bool) -> bool:
        while True:
            try:
                event = self.app.sim.events.get_nowait()
            except queue.Empty:
                return typing
            typing = self.show(event, typing)

    def show(self, e: SimEvent, typing: bool) -> bool:
        if e.conversation_id != self.conversation:
            return typing
        if e.kind == "typing":
            if e.value and not typing:
                self.console.print(f"  [dim italic]{self.bot} is typing…[/]")
            return bool(e.value)
        if e.kind == "message":
            lines = escape(str(e.value)).splitlines() or [""]
            self.console.print(f"  [bold green]{self.bot} ›[/] {lines[0]}")
            for rest in lines[1:]:
                self.console.print(f"  {' ' * (len(self.bot) + 2)}{rest}")
        elif e.kind == "note":
            self.console.print("  [dim]🔒 private note for the agents:[/]")
            for line in str(e.value).splitlines():
                self.console.print(f"  [dim]│ {escape(line)}[/]")
        elif e.kind == "labels":
            self.console.print(f"  [cyan]🏷  labels: {escape(', '.join(e.value))}[/]")
        elif e.kind == "status":
            extra = " — handed to a human agent" if e.value == "open" else ""
            self.console.print(f"  [yellow]⇄  conversation {e.value}{extra}[/]")
        elif e.kind == "assign":
            self.console.print(f"  [cyan]⇄  assigned: {escape(str(e.value))}[/]")
        return typing


def _reader(console: Console):
    """prompt_toolkit's line editor (history, arrows) on a terminal; plain input() otherwise."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        from prompt_toolkit import PromptSession
        from prompt_toolkit.formatted_text import HTML

        session: Any = PromptSession()
        return lambda: session.prompt(HTML("<b><ansiblue>you ›</ansiblue></b> "))
    def read_piped() -> str:
        line = input("you › ")
        console.print(line)  # a pipe does not echo: keep the transcript readable
        return line

    return read_piped


def demo_command(args: argparse.Namespace) -> int:
    console = Console(highlight=False, soft_wrap=True)  # long replies wrap at the terminal's edge
    choices = operator_choices()
    appliance = DemoAppliance(choices)
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            appliance.stop()

    atexit.register(stop)
    # `kill` of the demo, or its terminal closing, still stops the programs it started.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(0))
    llm = choices.get("LLM_MODEL")
    try:
        with console.status("starting the web and worker programs…"):
            appliance.start()
        settings = appliance.settings
        assert settings is not None
        business = _business_name(settings)
        demo = Demo(appliance, console)
        demo.bot = business or "bot"
        console.print(f"[bold]ChatwootAI demo[/] — {escape(business or 'your business')}, answered by "
                      f"{'the LLM ' + escape(llm) if llm else 'the offline responder (no LLM configured)'}")
        pids = appliance.pids
        console.print(f"[dim]web :{appliance.port} (pid {pids.get('web')}) · worker (pid {pids.get('worker')}) · "
                      f"Chatwoot simulator {appliance.sim.url} · data {appliance.tmp}[/]")
        console.print(f"[dim]routing: {crew_for('sales', settings)} · you type as the customer. Try: "
                      + " · ".join(f"“{s}”" for s in SUGGESTIONS) + "[/]")
        console.print(HELP)
        console.print(f"[dim]── conversation {demo.conversation} ──[/]")
        read = _reader(console)
        while True:
            try:
                line = read()
            except (EOFError, KeyboardInterrupt):
                break
            if not demo.handle(line):
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C while the bot works (or while starting): stop like /quit
    except RuntimeError as exc:
        console.print(f"[red]demo could not start:[/] {escape(str(exc))}")
        return 1
    finally:
        with console.status("stopping…"):
            stop()
        console.print("[dim]demo stopped: web and worker ended, temporary data removed[/]")
    return 0


def _business_name(settings: Any) -> str | None:
    try:
        from app.store.knowledge_files import parse_business

        return parse_business(settings.knowledge_dir / "business.yaml").name
    except Exception:  # noqa: BLE001 - only a title
        return None
