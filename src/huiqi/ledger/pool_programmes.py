"""Which programme a pool funds, when the programme's file declares no pool of its own (a district-paid rent
subsidy): a call of another programme may not draw on the pool (``huiqi.app.calls.open_call``)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from huiqi.audit import chain as audit
from huiqi.db.base import Base


class PoolProgramme(Base):
    """A pool created for one programme."""

    __tablename__ = "pool_programmes"

    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    programme_id: Mapped[str] = mapped_column(String(200), index=True)


def link(*, session: Session, pool_id: str, programme_id: str, actor: str) -> None:
    """Record that the pool funds the programme (once; linking it again to the same programme is a no-op)."""
    if session.get(PoolProgramme, pool_id) is not None:
        return
    session.add(PoolProgramme(pool_id=pool_id, programme_id=programme_id))
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        entity=f"pool:{pool_id}",
        action="linked_to_programme",
        payload={"programme_id": programme_id},
    )


def programme_of(*, session: Session, pool_id: str) -> str | None:
    """The programme the pool was created for, if any."""
    row = session.get(PoolProgramme, pool_id)
    return None if row is None else row.programme_id
