"""Writing one image to several cards at once: the image is read once and fanned out.

Why this shape:
- Each card keeps the single-card writer (wizard.card.writer.write_image): its own thread, its own descriptor
  opened and checked exactly as one card is (classification, identity, O_EXCL), its own erase, skipped zero
  ranges, O_DIRECT, verify and result. Only where the image's bytes come from changes: `SharedImage` overrides
  `ImageInfo.read_into`, so the first card to need a 4 MiB unit reads it and the others copy it from memory.
- A unit is dropped as soon as every card still writing has gone past it, and at most `window` units are
  kept: a card that gets `window` units ahead of the slowest waits for it, so each unit is read exactly once
  and the session takes as long as the slowest card. But a card that stops moving for `stall` seconds (pulled,
  hanging on I/O errors) is let go: the others stop waiting for it, and if it comes back it reads what it
  needs again by itself. A stalled card never holds a desk of good ones back.
- The verify cannot re-read the image without reading it N more times; instead each unit's digest is taken as it
  is read, and each card's read-back is compared with the digests. Where the card's skipped ranges are not known
  to read as zeros (--sparse on a card that cannot erase), the byte compare of the writer is used.
- One card failing (pulled, I/O error, read-only, too slow) ends that card's thread only; it stops holding the
  others back at once.
- Cards opened through the elevated helper cannot share this process's reads: all of them go to ONE helper
  process (`write-many`), which runs this same fan-out on its side, so the image is still read once for them.
- Each card's own changes (host name, key) are worked out before it is written, on the image, in this process
  (wizard.card.customise.ImagePlanner), and written after its verify as a few blocks through the card's own
  descriptor (wizard.card.cardpatch), on every route: the same code for root, udisks2 and the helper.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from wizard.card import writer
from wizard.card.sparse import CHUNK, AlignedBuffer
from wizard.core.progress import Progress, ProgressFn

UNIT = CHUNK            # the fan-out's unit of reading, digesting and dropping
WINDOW = 32             # units kept in memory (32 x 4 MiB = 128 MiB): how far ahead of the slowest a card may be
STALL = 10.0            # seconds without progress after which the others stop waiting for a card
_INF = float("inf")


def _digest(data) -> bytes:
    # blake2b releases the GIL for large buffers, so digesting overlaps the other cards' I/O.
    return hashlib.blake2b(data, digest_size=16).digest()


class SharedImage(writer.ImageInfo):
    """An ImageInfo whose reads are shared by `consumers` writer threads (see the module's docstring)."""

    def __init__(self, info: writer.ImageInfo, consumers: int, window: int = WINDOW, stall: float = STALL):
        super().__init__(path=info.path, size=info.size, extents=info.extents, fd=info.fd)
        self.window, self.stall = max(2, window), stall
        # A card's read reaching the end of the image's data is its last: it then holds nobody back while it
        # verifies (else a card writing every byte would wait at the trailing empty range for a card verifying).
        last = max((e for _, e in info.extents), default=0)
        self._data_end = min(info.size, -(-last // 4096) * 4096)
        self._moved = {i: time.monotonic() for i in range(consumers)}   # when each last asked for more
        self.let_go: set = set()                          # consumers nobody waits for any more (stalled)
        self._own: dict = {}                              # let-go consumer -> (unit, bytes) it re-read last
        self._cond = threading.Condition()
        self._pos = {i: 0 for i in range(consumers)}     # consumer -> offset below which it needs nothing
        self._who: dict = {}                              # thread ident -> consumer
        self._units: dict = {}                            # unit index -> bytes
        self._loading: set = set()
        self.digests: dict = {}                           # unit index -> digest of the image's bytes there
        self.reads: dict = {}                             # unit index -> times read from the image
        self.bytes_read = 0
        self.helper_bytes_read: Optional[int] = None       # what the elevated helper read for its cards

    # -- consumers ----------------------------------------------------------------------------------

    def bind(self, consumer: int) -> None:
        """Called first thing in consumer's thread: its reads are then counted as that consumer's."""
        with self._cond:
            self._who[threading.get_ident()] = consumer

    def leave(self, consumer: int) -> None:
        """The consumer is done (written, failed or cancelled): it holds nobody back any more."""
        with self._cond:
            self._pos[consumer] = _INF
            self._own.pop(consumer, None)
            self._evict()
            self._cond.notify_all()

    def _low(self) -> tuple:
        """(the slowest card still waited for, its position), or (None, inf)."""
        live = [(p, c) for c, p in self._pos.items() if c not in self.let_go and p != _INF]
        if not live:
            return None, _INF
        p, c = min(live)
        return c, p

    def _evict(self) -> None:
        _, low = self._low()
        for k in [k for k in self._units if (k + 1) * UNIT <= low]:
            del self._units[k]

    # -- the writer's read ------------------------------------------------------------------------------

    def read_into(self, fd: int, view: memoryview, offset: int) -> int:
        me = self._who.get(threading.get_ident())
        if me is None:                    # not a fan-out thread (e.g. a plain write): read directly
            return super().read_into(fd, view, offset)
        with self._cond:
            self._pos[me] = offset        # a writer reads forward: nothing before this is needed again
            self._moved[me] = time.monotonic()
            self._evict()
            self._cond.notify_all()
        end = min(offset + len(view), self.size)
        pos = offset
        while pos < end:
            k = pos // UNIT
            data = self._unit(k, fd, me)
            s = pos - k * UNIT
            take = min(len(data) - s, end - pos)
            if take <= 0:
                break
            view[pos - offset:pos - offset + take] = data[s:s + take]
            pos += take
        if offset + len(view) >= self._data_end:
            self.leave(me)
        return pos - offset

    def _unit(self, k: int, fd: int, me: int) -> bytes:
        with self._cond:
            while True:
                if k in self._units:
                    return self._units[k]
                own = self._own.get(me)
                if own is not None and own[0] == k:     # a let-go card's requests straddle units too
                    return own[1]
                if k in self._loading:
                    self._cond.wait(0.1)    # another card is reading it right now: one read serves both
                    continue
                slowest, low = self._low()
                if slowest is not None and k - int(low) // UNIT >= self.window:
                    if time.monotonic() - self._moved[slowest] > self.stall:
                        self.let_go.add(slowest)    # stalled: stop waiting; it re-reads alone if it comes back
                        self._evict()
                    else:
                        self._cond.wait(0.1)        # far ahead of the slowest: wait for it (bounded memory)
                    continue
                self._loading.add(k)
                break
        data = b""
        try:
            start, n = k * UNIT, min(UNIT, self.size - k * UNIT)
            parts, got = [], 0
            while got < n:
                chunk = os.pread(fd, n - got, start + got)
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
            data = b"".join(parts)
            digest = _digest(data) if len(data) == n else None
        finally:
            with self._cond:
                self._loading.discard(k)
                if data:
                    if k not in self.reads:
                        self._units[k] = data
                    else:                           # a let-go card's re-read: kept for it alone
                        self._own[me] = (k, data)
                    self.bytes_read += len(data)
                    self.reads[k] = self.reads.get(k, 0) + 1
                    if digest is not None:
                        if self.digests.setdefault(k, digest) != digest:
                            raise OSError(5, f"the image {self.path} changed while being written")
                self._cond.notify_all()
        return data

    # -- the verify -------------------------------------------------------------------------------

    def verify(self, info, tgt, written: list, check_gaps: bool, full: bool, tick, cancel, state, result) -> None:
        """writer._verify's contract, comparing the card with the digests taken during the one read."""
        units = sorted({k for s, e in written for k in range(s // UNIT, (e - 1) // UNIT + 1)})
        if not check_gaps or any(k not in self.digests for k in units):
            # Skipped ranges may hold old data here, so whole units cannot be compared: compare bytes.
            return writer._verify(info, tgt, written, check_gaps, full, tick, cancel, state, result)
        gaps = writer._gaps(info.size, written) if full else []
        sizes = {k: min(UNIT, info.size - k * UNIT) for k in units}
        prog = Progress(0, sum(sizes.values()) + sum(e - s for s, e in gaps), label="Verifying")
        try:
            dev_fd, direct = writer._open_verify(tgt)
        except OSError as e:
            raise writer._io_error(e, tgt, state, "opening it to verify") from None
        try:
            with AlignedBuffer() as buf:
                for k in units:
                    if cancel():
                        raise writer.WriteCancelled("verify stopped at your request", state.text())
                    start, n = k * UNIT, sizes[k]
                    try:
                        got = writer._pread_any(dev_fd, buf.view[:n], start, direct)
                    except OSError as e:
                        raise writer._io_error(e, tgt, state, "reading back to verify") from None
                    if got < n or _digest(buf.view[:n]) != self.digests[k]:
                        raise writer.WriteError(
                            f"verify failed: {tgt.name} reads back differently from the image in the "
                            f"{UNIT >> 20} MiB from byte {start}",
                            f"{tgt.noun().capitalize()} was written but does not hold the image: it may be failing "
                            "or fake. Try another card.")
                    result.verified += n
                    prog.done += n
                    tick(prog)
                if gaps:
                    result.zeros_checked = writer._read_all_zero(dev_fd, direct, gaps, buf, tgt, state, cancel,
                                                                 prog, tick)
                tick(prog, final=True)
                if not gaps:
                    result.spot_checked = writer._spot_check_skipped(dev_fd, direct, info.size, written, buf, tgt,
                                                                     state)
        finally:
            os.close(dev_fd)


# -- a session ------------------------------------------------------------------------------------------

@dataclass
class CardJob:
    """One card of the session, already checked and confirmed by the caller."""
    target: str
    name: str
    identity: Optional[dict]            # None for a regular file
    route: str                          # "in-process", "udisks2" or "helper" (wizard.card.elevate.route)
    options: writer.WriteOptions
    card_options: object = None         # wizard.card.customise.CardOptions, or None
    model: str = ""
    serial: str = ""
    size_bytes: int = 0
    opener: object = None               # a writer.Opener to use instead of the route's (the helper's own)
    patch: Optional[list] = None        # wizard.card.cardpatch records already worked out (inside the helper)


@dataclass
class CardOutcome:
    job: CardJob
    result: Optional[writer.WriteResult] = None
    customised: object = None           # wizard.card.customise.CustomiseResult
    error: Optional[str] = None
    seconds: float = 0.0
    finished_at: float = 0.0
    events: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        if self.error is not None or self.result is None:
            return False
        verified = bool(self.result.verified) or not self.job.options.verify    # --no-verify: written is done
        return verified and (self.customised is None or self.customised.verified)


def write_cards(image: writer.ImageInfo, jobs: list, *, progress_for: Callable[[int], Optional[ProgressFn]],
                cancel: Optional[Callable[[], bool]] = None, partition_name: str = "APP",
                on_done: Optional[Callable[[int, CardOutcome], None]] = None,
                window: int = WINDOW, stall: float = STALL, planner=None) -> tuple:
    """Write `image` to every job's card at once. Returns (outcomes in job order, the SharedImage, whose
    `bytes_read` and `reads` say how much of the image was read). Never raises for one card's failure.
    Cards with `card_options` get their changes planned from the image (wizard.card.customise.ImagePlanner;
    `planner`: one the caller already made and checked, else one is made here for the session) before they are
    written, and written through the card's own descriptor after the verify, whichever way it was opened."""
    cancel = cancel or (lambda: False)
    shared = SharedImage(image, len(jobs), window=window, stall=stall)
    outcomes = [CardOutcome(job) for job in jobs]
    session_planner = _Planner(image, partition_name, planner) if any(
        j.card_options is not None and not j.card_options.empty for j in jobs) else None

    def one(i: int) -> None:
        job, out = jobs[i], outcomes[i]
        shared.bind(i)
        t0 = time.monotonic()
        try:
            out.result = _write_one(shared, job, progress_for(i), cancel, partition_name, out, session_planner)
        except writer.WriteError as e:
            out.error = str(e)
        except Exception as e:  # noqa: BLE001 - one card's surprise must not take the others down
            out.error = f"{job.name}: {e}"
        finally:
            shared.leave(i)
            out.seconds = time.monotonic() - t0
            out.finished_at = time.monotonic()
            if on_done is not None:
                on_done(i, out)

    helper = [i for i, job in enumerate(jobs) if job.route == "helper"]
    threads = [threading.Thread(target=one, args=(i,), name=f"wrnv-card-{i}", daemon=True)
               for i in range(len(jobs)) if i not in helper]
    if helper:
        # One helper process writes all of them, from its own one read of the image (it cannot share ours).
        threads.append(threading.Thread(target=_through_helper, name="wrnv-cards-helper", daemon=True,
                                        args=(shared, jobs, outcomes, helper, progress_for, cancel, partition_name,
                                              session_planner, on_done)))
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)             # short joins: the main thread keeps receiving Ctrl-C
    finally:
        if session_planner is not None:
            session_planner.close()
    return outcomes, shared


class _Planner:
    """The session's ImagePlanner, made on first use by the first card that needs it (its checks then fail
    every card alike, each before it is written)."""

    def __init__(self, image: writer.ImageInfo, partition_name: str, given=None):
        self.image, self.partition_name = image, partition_name
        self._planner, self._own = given, given is None
        self._error: Optional[str] = None
        self._lock = threading.Lock()

    def get(self):
        from wizard.card.customise import CustomiseError, ImagePlanner

        with self._lock:
            if self._planner is None and self._error is None:
                try:
                    self._planner = ImagePlanner(self.image.path, self.partition_name)
                except CustomiseError as e:
                    self._error = str(e)
            if self._error is not None:
                raise CustomiseError(self._error)
            return self._planner

    def close(self) -> None:
        with self._lock:
            if self._own and self._planner is not None:
                self._planner.close()


def _bare(e) -> str:
    """A customise message without its own "nothing was changed" (the card's state is said after it)."""
    text = str(e)
    for tail in ("; nothing was changed", ". Nothing was changed"):
        if text.endswith(tail):
            return text[:-len(tail)]
    return text


def _plan(job: CardJob, planner: Optional[_Planner]):
    """The card's changes, worked out before it is written; a card that cannot get them is not written."""
    opts = job.card_options
    if opts is None or opts.empty or planner is None:
        return None
    from wizard.card.customise import CustomiseError

    try:
        plan = planner.get().plan(opts)
    except CustomiseError as e:
        raise writer.WriteError(f"{job.name}: its host name and key cannot be prepared: {_bare(e)}",
                                "Nothing was written.") from None
    bad = [f"{f.path}: {f.problem}" for f in plan.files if not f.ok]
    if bad:
        raise writer.WriteError(f"{job.name}: its host name and key did not read back as planned ({'; '.join(bad)})",
                                "Nothing was written.")
    return plan


def _through_helper(shared: SharedImage, jobs: list, outcomes: list, which: list, progress_for, cancel,
                    partition_name: str, planner: Optional[_Planner], on_done) -> None:
    """The cards opened through the elevated helper: each one's changes planned here first (a card whose
    changes cannot be planned is not written), then all written by one helper process (elevate.write_cards),
    each with its own progress, result or error."""
    from wizard.card import elevate

    t0 = time.monotonic()
    plans: dict = {}
    go: list = []
    for i in which:
        shared.leave(i)             # the helper reads the image itself
        try:
            plans[i] = _plan(jobs[i], planner)
            go.append(i)
        except writer.WriteError as e:
            _finish(outcomes[i], t0, on_done, i, error=str(e))
    if not go:
        return

    def card_done(k: int, result: Optional[writer.WriteResult], error: Optional[str]) -> None:
        i = go[k]
        out, plan = outcomes[i], plans[i]
        if result is not None and plan is not None:
            out.customised = plan.result(jobs[i].target, result.patch_sha256)
            if not out.customised.verified:
                error = (f"{jobs[i].name} was written and verified, but its host name and key did not read back "
                         f"as written ({out.customised.how}). Write it again.")
        out.result = result
        _finish(out, t0, on_done, i, error=error)

    try:
        data = elevate.write_cards(str(shared.path), [jobs[i] for i in go], progress_for=lambda k: progress_for(go[k]),
                            cancel=cancel, on_card=card_done, partition_name=partition_name,
                            patches=[list(plans[i].records) if plans[i] is not None else None for i in go])
        if isinstance(data.get("bytes_read"), int):
            shared.helper_bytes_read = data["bytes_read"]
    except Exception as e:  # noqa: BLE001 - the helper as a whole failed: every card not finished fails with it
        text = str(e) if isinstance(e, writer.WizardError) else f"the helper failed: {e}"
        for i in go:
            if not outcomes[i].finished_at:
                _finish(outcomes[i], t0, on_done, i, error=text)
    for i in go:                        # a card the helper never answered for
        if not outcomes[i].finished_at:
            _finish(outcomes[i], t0, on_done, i, error=f"{jobs[i].name}: the helper stopped without its result")


def _finish(out: CardOutcome, t0: float, on_done, i: int, error: Optional[str] = None) -> None:
    out.error = error if error is not None else out.error
    out.seconds = time.monotonic() - t0
    out.finished_at = time.monotonic()
    if on_done is not None:
        on_done(i, out)


def _write_one(shared: SharedImage, job: CardJob, progress: Optional[ProgressFn], cancel, partition_name: str,
               out: CardOutcome, planner: Optional[_Planner] = None) -> writer.WriteResult:
    # Inside the helper the blocks come ready-made from the wizard (job.patch); here they are planned now.
    plan = _plan(job, planner) if job.patch is None else None
    records = job.patch if job.patch is not None else (list(plan.records) if plan is not None else None)
    opener = job.opener
    if opener is None and job.route == "udisks2":
        from wizard.card.elevate import UDisksOpener

        opener = UDisksOpener()
    applied: dict = {}
    result = writer.write_image(shared, job.target, identity=job.identity, options=job.options,
                                progress=progress, cancel=cancel, opener=opener, verifier=shared.verify,
                                after_verify=patcher(records, partition_name, applied) if records is not None
                                else None)
    result.patch_sha256 = applied.get("sha")
    if plan is not None:
        out.customised = plan.result(job.target, result.patch_sha256)
        if not out.customised.verified:
            raise writer.WriteError(f"{job.name} was written and verified, but its host name and key did not read "
                                    f"back as written ({out.customised.how})", "Write it again.")
    return result


def patcher(records: list, partition_name: str, applied: dict):
    """The writer's after_verify: the card's own blocks through the card's own descriptor (exclusive where it
    can be), not its path: the card changed is the card just verified, and udisks2's or the helper's descriptor
    works where the user may not open the device. Checked against the card's GPT first."""
    def after(tgt: writer.Target) -> None:
        from wizard.card import cardpatch
        from wizard.card.gpt import GptError

        try:
            applied["sha"] = cardpatch.apply(tgt.fd, tgt.direct, records, partition_name, tgt.name)
        except (cardpatch.PatchError, GptError) as e:
            raise writer.WriteError(str(e), f"{tgt.noun().capitalize()} holds the image (written and verified) but "
                                    "not its host name and key: write it again") from None
        except OSError as e:
            raise writer.WriteError(f"{tgt.name} stopped answering while writing its host name and key "
                                    f"({e.strerror})", f"{tgt.noun().capitalize()} holds the image but maybe not "
                                    "its host name and key: write it again") from None
    return after


def write_cards_for(session, image: writer.ImageInfo, jobs: list, **kwargs) -> tuple:
    """The Write the card step for several cards: write them (write_cards) and record the step with every
    card, whoever asked (the Write the card screen or `flash --target A --target B`)."""
    cancel = kwargs.get("cancel") or (lambda: False)
    with session.step_run("flash", f"writing {len(jobs)} cards") as step:
        outcomes, shared = write_cards(image, jobs, **kwargs)
        record_step(step, image, outcomes, cancel())
    return outcomes, shared


class InsertSession:
    """"Write every card I insert": each card is written when it comes (one at a time or overlapping), and the
    Write the card step keeps every card of the session, not only the last one, so the Summary, the report and
    Boot & check (which looks each card's board up by its host name) see them all. One ImagePlanner serves the
    whole session, so the image's metadata is copied once however many cards come."""

    def __init__(self, session, image: writer.ImageInfo, partition_name: str = "APP"):
        self.session, self.image, self.partition_name = session, image, partition_name
        self.outcomes: list = []
        self._lock = threading.Lock()
        self._planner = None

    def write(self, job: CardJob, **kwargs) -> CardOutcome:
        """Write one inserted card (kwargs as for write_cards) and record the step with every card so far."""
        cancel = kwargs.get("cancel") or (lambda: False)
        if job.card_options is not None and not job.card_options.empty:
            from wizard.card.customise import CustomiseError, ImagePlanner

            with self._lock:
                if self._planner is None:
                    try:
                        self._planner = ImagePlanner(self.image.path, self.partition_name)
                    except CustomiseError:
                        pass        # write_cards says it for this card, before writing it
            if self._planner is not None:
                kwargs["planner"] = self._planner
        with self.session.step_run("flash", f"writing {job.name} (card {len(self.outcomes) + 1} of this "
                                   "session)") as step:
            outcomes, _ = write_cards(self.image, [job], partition_name=self.partition_name, **kwargs)
            with self._lock:
                self.outcomes.extend(outcomes)
                record_step(step, self.image, list(self.outcomes), cancel())
        return outcomes[0]

    def close(self) -> None:
        """The session ended: the planner's copy of the image's metadata is removed."""
        with self._lock:
            if self._planner is not None:
                self._planner.close()
                self._planner = None


def record_step(step, info, outcomes: list, cancelled: bool) -> None:
    """What the Write the card step keeps: the image and, for each card, its device, host name, bytes written,
    whether it was read back and its error; done only when every card was written and verified."""
    from dataclasses import asdict

    cards = []
    for out in outcomes:
        card = asdict(record(out))
        card["name"] = out.job.name
        card["verified_bytes"] = out.result.verified if out.result is not None else 0
        cards.append(card)
    ok = [c for c, out in zip(cards, outcomes) if out.ok]     # written, verified unless --no-verify, customised
    # Boards written earlier in the project stay (a desk session in batches: Boot & check and the Summary
    # must see every board, and the next batch's numbers go on after theirs); the same host name written
    # again is the new card. A card that failed, or has no name of its own, was no board: it is not kept.
    names = {c["hostname"] for c in cards if c.get("hostname")}
    kept = step.session.step_state(step.step_id).data.get("cards") or []
    earlier = [c for c in kept if isinstance(c, dict) and c.get("hostname")
               and not c.get("error") and c["hostname"] not in names]
    data = {"image": str(info.path), "image_size": info.size, "target": ", ".join(c["device"] for c in cards),
            "written": sum(c["bytes_written"] for c in cards), "cards": earlier + cards}
    if len(outcomes) == 1 and outcomes[0].result is not None:     # one card (with --hostname): as `flash` keeps it
        data = {**outcomes[0].result.to_json(), **data}
    step.data.update(data)
    failed = [c["name"] for c, out in zip(cards, outcomes) if not out.ok]
    also = f" ({len(earlier)} more written earlier: {_names(earlier)})" if earlier else ""
    if cancelled:
        step.reopen(f"stopped at your request: {len(ok)} of {len(cards)} cards finished")
    elif failed:
        step.fail(f"{len(ok)} of {len(cards)} cards written and verified; failed: {', '.join(failed)}{also}")
    else:
        step.done((f"{len(cards)} cards written and verified" if len(cards) > 1 else
                   f"written to {cards[0]['device']} and verified") + also)


def _names(cards: list, shown: int = 4) -> str:
    names = [c["hostname"] for c in cards]
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def record(out: CardOutcome):
    """The report's line for this card (wizard.card.report.CardRecord)."""
    from wizard.card.report import CardRecord

    r, job = out.result, out.job
    how = ""
    if r is not None and not r.verified and not job.options.verify and out.error is None:
        how = "not verified (--no-verify)"
    if r is not None and r.verified:
        how = f"read back {r.verified:,} bytes and compared"
        if r.zeros_checked:
            how += f"; all {r.zeros_checked:,} skipped bytes read as zeros"
        elif r.spot_checked:
            how += f"; {r.spot_checked} skipped blocks read as zeros"
    if out.customised is not None:
        how += ("; " if how else "") + out.customised.how
    return CardRecord(device=job.target, model=job.model, serial=job.serial, size_bytes=job.size_bytes,
                      hostname=getattr(job.card_options, "hostname", None),
                      bytes_written=r.written if r is not None else 0, verified=out.ok and bool(r.verified),
                      verified_how=how, seconds=round(out.seconds, 3), error=out.error)
