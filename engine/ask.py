"""`ask` steps: a question for the student, with choices and the answer, that
`pvframes run` checks against the engine (docs/scenario-extensions.md).

`about: rc` asks what the next hypercall or migrate step returns; its choices are spelled
as `expect` is (`ok`, `-EBUSY`, `failed`). `about: {check: SUBJECT, field: NAME}` asks
what a check would see now; its choices are values of that check field, and exactly the
answer must hold. Either way a wrong answer key fails the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .checks import evaluate
from .constants import errno_name
from .errors import InvalidInput

if TYPE_CHECKING:
    from .scenario import Ask
    from .world import World

OPERATION_STEPS = ("mmu_update", "mmuext", "write", "memory", "migrate")


def rc_text(op: str, rc: int, result: str) -> str:
    """How an rc choice is spelled: `ok`, `-EBUSY`; `ok` / `failed` for a migration."""
    if op == "migrate":
        return "ok" if result == "ok" else "failed"
    return "ok" if rc == 0 else f"-{errno_name(rc)}"


def normal_rc_choice(choice: Any) -> str:
    """`-EBUSY`, `EBUSY`, -16 all read as `-EBUSY`; `ok`, 0 as `ok`."""
    if choice in (0, "0", "ok"):
        return "ok"
    if isinstance(choice, int):
        return f"-{errno_name(-abs(choice))}"
    return "-" + str(choice).lstrip("-")


def check_for(ask: Ask, choice: Any) -> Any:
    from .scenario import Check

    return Check.model_validate({**ask.about.check, ask.about.field: choice})


def validate_ask(ask: Ask, where: str) -> None:
    """The answer is one of the choices, and a check question is a well-formed check."""
    if ask.answer >= len(ask.choices):
        raise InvalidInput(f"{where}.ask.answer", f"{ask.answer} is not the index of one of "
                           f"the {len(ask.choices)} choices (0-based)")
    if ask.about == "rc":
        for n, choice in enumerate(ask.choices):
            text = normal_rc_choice(choice)
            if text not in ("ok", "-failed") and not text[1:].startswith("E"):
                raise InvalidInput(f"{where}.ask.choices[{n}]", f"{choice!r} is not an rc: "
                                   "write ok, failed or -EINVAL (as expect has them)")
        return
    for n, choice in enumerate(ask.choices):
        try:
            check_for(ask, choice)
        except ValidationError as err:
            first = err.errors()[0]
            raise InvalidInput(f"{where}.ask.choices[{n}]", f"as `{ask.about.field}` of the "
                               f"check: {first['msg']}") from None


def answer_check(world: World, ask: Ask) -> list[dict[str, Any]]:
    """A check question, answered now: the key's choice must hold, and no other."""
    out = []
    for n, choice in enumerate(ask.choices):
        results = evaluate(world, check_for(ask, choice))
        holds = all(a["ok"] for a in results)
        if n == ask.answer:
            actual = results[0]["actual"] if results else None
            out.append({"what": f"ask: {results[0]['what'] if results else 'check'}",
                        "expected": choice, "actual": actual, "ok": holds})
        elif holds:
            out.append({"what": "ask: only the answer holds", "expected": ask.choices[ask.answer],
                        "actual": choice, "ok": False})
    return out


def answer_rc(ask: Ask, op: str, rc: int, result: str) -> dict[str, Any]:
    """An rc question, answered by the step that followed it."""
    actual = rc_text(op, rc, result)
    expected = normal_rc_choice(ask.choices[ask.answer])
    if expected == "-failed":
        expected = "failed"
    return {"what": "ask: rc", "expected": expected, "actual": actual, "ok": expected == actual}
