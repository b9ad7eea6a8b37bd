"""One exception per condition, each with a message that says what to do next."""

from __future__ import annotations

from decimal import Decimal

from huiqi.money import format_yuan


class LedgerError(Exception):
    """Base class: the operation was refused and nothing was written."""


class PoolNotFound(LedgerError):
    def __init__(self, pool_id: str) -> None:
        super().__init__(f"no pool {pool_id!r}; list pools with `huiqi ledger pools`")
        self.pool_id = pool_id


class PoolExists(LedgerError):
    def __init__(self, pool_id: str) -> None:
        super().__init__(f"pool {pool_id!r} already exists; choose another id")
        self.pool_id = pool_id


class InvalidAmount(LedgerError):
    def __init__(self, what: str, amount: object) -> None:
        super().__init__(f"{what} must be a positive amount exact to the fen, got {amount!r}")
        self.what = what
        self.amount = amount


class InsufficientFunds(LedgerError):
    """The pool cannot cover the request; the caller may waitlist the application."""

    def __init__(self, pool_id: str, requested: Decimal, available: Decimal | None) -> None:
        left = "" if available is None else f" (available now: {format_yuan(available)})"
        super().__init__(
            f"pool {pool_id!r} cannot cover {format_yuan(requested)}{left}; waitlist the application or "
            "lower the amount"
        )
        self.pool_id = pool_id
        self.requested = requested
        self.available = available


class FirmCapExceeded(LedgerError):
    def __init__(self, pool_id: str, firm_uscc: str, cap: Decimal, requested: Decimal) -> None:
        super().__init__(
            f"firm {firm_uscc} would exceed its cap of {format_yuan(cap)} from pool {pool_id!r} with "
            f"{format_yuan(requested)} more; lower the amount"
        )
        self.pool_id = pool_id
        self.firm_uscc = firm_uscc
        self.cap = cap
        self.requested = requested


class ContractAlreadyClaimed(LedgerError):
    def __init__(self, firm_uscc: str, contract_id: str) -> None:
        super().__init__(
            f"contract {contract_id!r} of firm {firm_uscc} has already been claimed; one claim per contract"
        )
        self.firm_uscc = firm_uscc
        self.contract_id = contract_id


class IdempotencyConflict(LedgerError):
    def __init__(self, key: str, operation: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for a different {operation} request; use a new key "
            "for a new request, or resend the original request unchanged"
        )
        self.key = key
        self.operation = operation


class ReservationNotFound(LedgerError):
    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"no reservation {reservation_id!r}")
        self.reservation_id = reservation_id


class ReservationNotPending(LedgerError):
    def __init__(self, reservation_id: str, status: str) -> None:
        super().__init__(f"reservation {reservation_id} is {status}, not pending; it cannot change again")
        self.reservation_id = reservation_id
        self.status = status


class AwardNotFound(LedgerError):
    def __init__(self, award_id: str) -> None:
        super().__init__(f"no award {award_id!r}")
        self.award_id = award_id


class AwardNotActive(LedgerError):
    def __init__(self, award_id: str, status: str) -> None:
        super().__init__(f"award {award_id} is {status}; only an active award can be paid or clawed back")
        self.award_id = award_id
        self.status = status


class TranchePlanInvalid(LedgerError):
    def __init__(self, message: str) -> None:
        super().__init__(f"tranche plan: {message}")
        self.message = message


class TrancheNotFound(LedgerError):
    def __init__(self, award_id: str, seq: int) -> None:
        super().__init__(f"award {award_id} has no tranche {seq}")
        self.award_id = award_id
        self.seq = seq


class TrancheAlreadyPaid(LedgerError):
    def __init__(self, award_id: str, seq: int) -> None:
        super().__init__(f"tranche {seq} of award {award_id} has already been paid; a tranche is paid once")
        self.award_id = award_id
        self.seq = seq


class TrancheNotPending(LedgerError):
    def __init__(self, award_id: str, seq: int, status: str) -> None:
        super().__init__(f"tranche {seq} of award {award_id} is {status}, not pending")
        self.award_id = award_id
        self.seq = seq
        self.status = status


class MilestoneNotDue(LedgerError):
    def __init__(self, award_id: str, seq: int, due: object, as_of: object) -> None:
        super().__init__(
            f"tranche {seq} of award {award_id} is due {due}; it cannot be missed as of {as_of}. Use "
            "`huiqi awards clawback` for a commitment broken before its date"
        )
        self.award_id = award_id
        self.seq = seq
        self.due = due
        self.as_of = as_of


class RecoveryTooLarge(LedgerError):
    def __init__(self, award_id: str, owed: Decimal, amount: Decimal) -> None:
        super().__init__(
            f"award {award_id}: {format_yuan(amount)} exceeds the {format_yuan(owed)} still owed"
        )
        self.award_id = award_id
        self.owed = owed
        self.amount = amount


class TransactionNotFound(LedgerError):
    def __init__(self, txn_id: str) -> None:
        super().__init__(f"no ledger transaction {txn_id!r}")
        self.txn_id = txn_id


class NotReversible(LedgerError):
    """``because`` names the reason (``kind``, ``award_state``) and ``figures`` its data, for a page to
    word it; ``why`` is the reason in English."""

    def __init__(self, txn_id: str, why: str, because: str = "", **figures: str) -> None:
        super().__init__(f"transaction {txn_id} cannot be reversed: {why}")
        self.txn_id = txn_id
        self.why = why
        self.because, self.figures = because, figures


class Unbalanced(LedgerError):
    """A bug guard: postings that do not sum to zero are never written."""

    def __init__(self, total: Decimal) -> None:
        super().__init__(f"internal error: postings sum to {total}, not zero; nothing was written")
        self.total = total
