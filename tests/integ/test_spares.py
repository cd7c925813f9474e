"""Spare spool files: while several sessions are connected, the smtp role
keeps data files the queue created ahead of time, so that DATA does not wait
for a queue busy with a commit; the next DATA takes one, and they all go
back to the queue (and out of data/) once DATA stops coming."""

import raven as rv


def uncommitted(raven):
    """Data files without an envelope: spares (or a DATA in progress)."""
    env = set(raven.queue_files("env"))
    return set(raven.queue_files("data")) - env


def transaction(s, token, to="alice@example.org"):
    assert s.cmd("MAIL FROM:<sender@remote.test>").code == 250
    assert s.cmd("RCPT TO:<%s>" % to).code == 250
    assert s.cmd("DATA").code == 354
    s.send(rv.dot_stuff_crlf(rv.make_message(token, to=to)))
    r = s.cmd(".")
    assert r.code == 250, r
    return rv.queue_id(r.text)


def test_spares_serve_data_then_go_back(factory):
    raven = factory(per_ip=10)
    sessions = [rv.session(raven.port) for _ in range(4)]
    tokens = [rv.unique("spare-a"), rv.unique("spare-b")]
    try:
        # four sessions justify two spares; the first DATA asks for them
        first = transaction(sessions[0], tokens[0])
        rv.wait_until(lambda: len(uncommitted(raven) - {first}) == 2, 5,
                      what="two spare data files (have %s)" % uncommitted(raven))
        spares = uncommitted(raven) - {first}
        # the next DATA is served from a spare: its queue id is a spare's
        second = transaction(sessions[1], tokens[1])
        assert second in spares, (second, spares)
        # and the pool is topped up again
        rv.wait_until(lambda: len(uncommitted(raven) - {first, second}) == 2, 5,
                      what="the spares topped up (have %s)" % uncommitted(raven))
    finally:
        for s in sessions:
            s.close()
    # no DATA for a while: every spare goes back, none is ever delivered
    raven.wait_queue_empty(timeout=10)
    left = uncommitted(raven)
    assert not left, left
    discarded = rv.log_events(raven, "discarded")
    assert len(discarded) >= 2, discarded
    assert all(d["reason"] == "not committed" for d in discarded), discarded
    assert {first, second}.isdisjoint(d["id"] for d in discarded)
    # the two messages arrive once each, and nothing else does
    for t in tokens:
        assert rv.count_message_id(raven, t) == 1, t
    assert len(rv.delivered_files(raven)) == 2, sorted(rv.delivered_files(raven))


def test_one_session_keeps_no_spares(raven):
    token = rv.unique("nospare")
    with rv.session(raven.port) as s:
        transaction(s, token)
        raven.wait_for("alice", token)
        raven.wait_queue_empty()
        # a lone session asks for its file at DATA: nothing is made ahead
        assert uncommitted(raven) == set(), uncommitted(raven)
        assert not rv.log_events(raven, "discarded")
