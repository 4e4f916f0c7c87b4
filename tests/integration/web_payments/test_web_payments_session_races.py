"""Sessions cannot overwrite each other (issue 9, item 4): parallel requests of one
session, on the real app and the real Redis, lose nothing and multiply no limit."""
from __future__ import annotations

import re
import threading
import urllib.parse
from typing import Any

from tests.integration.web_payments import pages
from tests.integration.web_payments.db_checks import intents
from tests.support.interleave import held_request

PARALLEL = 16


def _code_from_mail(smtp_sink: dict[str, Any]) -> str:
    from tests.processes import wait_for
    from zona_privada.smtp_sink import read_messages

    mails = wait_for(lambda: read_messages(smtp_sink["folder"]), 5)
    assert mails, "no e-mail with the code"
    match = re.search(r"ingrese este código: (\d{6})", mails[-1]["body"])
    assert match, mails[-1]["body"]
    return match.group(1)


def _cookie(m: Any) -> tuple[str, str]:
    cookie = m.client.get_cookie("zp_sesion")
    assert cookie is not None
    return "zp_sesion", cookie.value


def test_sixteen_parallel_wrong_codes_count_as_at_most_three_tries(member, smtp_sink) -> None:  # noqa: ANN001
    """Each request read "0 wrong" from its copy of the session, so one code allowed about
    48 guesses instead of 3. Now a try is an atomic counter spent before the comparison."""
    from webapp.payments import otp

    m = member(ZONA_PAYMENT_OTP_THRESHOLD_COP="10000")
    page = m.two_next_items()
    assert m.post("/zona/pagos/verificacion/codigo", pages.finish_pairs(page) + [("canal", "email")]).status_code == 303
    page = pages.text(m.get("/zona/pagos/verificacion"))
    code = _code_from_mail(smtp_sink)
    wrong = [f"{(int(code) + 1 + i) % 1_000_000:06d}" for i in range(PARALLEL)]
    app, cookie = m.client.application, _cookie(m)
    barrier = threading.Barrier(PARALLEL)
    answers: list[str] = [""] * PARALLEL

    def guess(i: int) -> None:
        client = app.test_client()
        client.set_cookie(*cookie)
        barrier.wait(30)
        body = urllib.parse.urlencode(pages.finish_pairs(page) + [("codigo", wrong[i])])
        response = client.post("/zona/pagos/finalizar", data=body, content_type="application/x-www-form-urlencoded")
        answers[i] = f"{response.status_code} {pages.text(response)}"

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a.startswith("422 ") for a in answers), [a[:80] for a in answers]
    # A guess that was compared and did not void the code answers MSG_WRONG: at most the
    # first MAX_WRONG - 1 tries; the third try and every later one answer "anulado".
    compared_and_kept = sum(otp.MSG_WRONG in a and otp.MSG_VOIDED not in a for a in answers)
    assert compared_and_kept <= otp.MAX_WRONG - 1, compared_and_kept
    # The others were told the code is void (or, once it was removed, to ask for one).
    assert all(otp.MSG_WRONG in a or otp.MSG_VOIDED in a or otp.MSG_REQUEST_FIRST in a for a in answers)
    assert sum(otp.MSG_VOIDED in a for a in answers) >= 1
    # The right code no longer works: the guesses used up its tries.
    response = m.post("/zona/pagos/finalizar", pages.finish_pairs(page) + [("codigo", code)])
    assert response.status_code == 422 and intents() == []


def test_daily_cap_on_codes_sent(member, smtp_sink) -> None:  # noqa: ANN001
    from webapp.payments import otp

    m = member(ZONA_PAYMENT_OTP_THRESHOLD_COP="10000", ZONA_OTP_DAILY_CAP="2")
    page = m.two_next_items()
    for _ in range(2):
        ok = m.post("/zona/pagos/verificacion/codigo", pages.finish_pairs(page) + [("canal", "email")])
        assert ok.status_code == 303
    refused = m.post("/zona/pagos/verificacion/codigo", pages.finish_pairs(page) + [("canal", "email")])
    assert refused.status_code == 422 and otp.MSG_DAILY_CAP in pages.text(refused)


def test_a_status_poll_during_a_wizard_step_loses_nothing(member) -> None:  # noqa: ANN001
    """The poll reads the session, the member chooses "Tipo de Pago" in the other tab, then
    the poll writes: before, it wrote its whole (older) copy back and undid the step."""
    m = member()
    token = m.csrf()
    with held_request(m.client.application, "/sesion/estado", _cookie(m)) as poll:
        step = m.post("/zona/pagos/", [("csrf_token", token), ("tipo", "individual")])
        assert step.status_code == 303
    assert poll["response"].status_code == 200 and poll["response"].get_json()["activa"] is True
    page = m.get("/zona/pagos/obligaciones")
    assert page.status_code == 200, page.headers.get("Location")


def test_a_touching_request_during_finalizar_keeps_the_key_and_intent(member) -> None:  # noqa: ANN001
    """A page load (which touches the session) held across "Finalizar": "Finalizar" ended
    the wizard and the held write does not bring it back (before, it restored the whole
    older copy: the finished payment's wizard reappeared); a replay of the form still
    goes to the same status page."""
    m = member()
    page = m.two_next_items()
    with held_request(m.client.application, "/zona/", _cookie(m)):
        first = m.post("/zona/pagos/finalizar", pages.finish_pairs(page))
        assert first.status_code == 303
    assert m.get("/zona/pagos/obligaciones").status_code == 302  # the wizard stays ended
    again = m.post("/zona/pagos/finalizar", pages.finish_pairs(page))
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert len(intents()) == 1


def test_no_one_time_code_in_redis(member, smtp_sink, monkeypatch) -> None:  # noqa: ANN001
    """The web queues a reference to the code's record; the worker (run here from what the
    broker holds) draws the code and stores only its hash. The code is in the e-mail and
    in no key or value of the broker, sessions or throttle databases."""
    import workers.notification_tasks as tasks
    from tests.support import redis_scan
    from zona_privada.settings import get_settings

    real_enqueue = tasks.enqueue_send
    m = member(ZONA_PAYMENT_OTP_THRESHOLD_COP="10000")
    monkeypatch.setattr(tasks, "enqueue_send", real_enqueue)
    page = m.two_next_items()
    assert m.post("/zona/pagos/verificacion/codigo", pages.finish_pairs(page) + [("canal", "email")]).status_code == 303
    s = get_settings()
    sends = [msg for msg in redis_scan.celery_messages(s.broker_redis_url) if msg[0].endswith(".send_outbox_message")]
    assert len(sends) == 1
    _name, args, kwargs = sends[0]
    assert set(kwargs) == {"code_ref", "audit_member_id"} and kwargs["code_ref"].startswith("zp:otp:")
    assert tasks.send_outbox_message.apply(args=args, kwargs=kwargs).get() == "sent"
    # A redelivered copy of the task draws no new code (that would void the one sent).
    assert tasks.send_outbox_message.apply(args=args, kwargs=kwargs).get() == "skipped"
    code = _code_from_mail(smtp_sink)
    everything = [t for url in (s.broker_redis_url, s.sessions_redis_url, s.throttle_redis_url)
                  for t in redis_scan.everything(url)]
    # As a number of its own: inside a longer run of digits (a timestamp) it is not the code.
    standalone = re.compile(rf"(?<!\d){code}(?!\d)")
    assert everything and not [t for t in everything if standalone.search(t)]
    # And the code works: the hash the worker stored is the one the web checks.
    page = pages.text(m.get("/zona/pagos/verificacion"))
    assert m.post("/zona/pagos/finalizar", pages.finish_pairs(page) + [("codigo", code)]).status_code == 303
